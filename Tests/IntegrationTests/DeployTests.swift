import Foundation
import Testing

extension RealKernel {
/// The systemd unit and the Kubernetes manifest grant what the agent needs and no more: the
/// agent is run here under exactly the unit's capabilities and system call filter.
@Suite("systemd unit and DaemonSet")
struct DeployTests {
    static let unitPath = repositoryRoot.appending(path: "deploy/systemd/netns-tracer.service")
    static let manifestPath = repositoryRoot.appending(path: "deploy/kubernetes/netns-tracer.yaml")

    /// The values of `key=` lines of the unit, space-separated words.
    static func unitValues(_ key: String) throws -> [String] {
        try String(contentsOf: unitPath, encoding: .utf8).split(separator: "\n")
            .filter { $0.hasPrefix("\(key)=") }
            .flatMap { $0.dropFirst(key.count + 1).split(separator: " ").map(String.init) }
    }

    /// The documents of the Kubernetes manifest, as JSON objects.
    static func manifest() throws -> [[String: Any]] {
        let json = try Host.run(["/usr/bin/python3", "-c",
            "import sys, json, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))", manifestPath.path])
        try #require(json.status == 0, "cannot read the manifest (scripts/setup installs python3-yaml): \(json.output)")
        return try #require(JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [[String: Any]])
    }

    /// Every system call a filter allows, with systemd's groups (`@system-service`) expanded.
    static func allowedSystemCalls(_ filter: [String]) throws -> Set<String> {
        let listing = try Host.run(["systemd-analyze", "syscall-filter", "--no-pager"])
        try #require(listing.status == 0, "systemd-analyze syscall-filter: \(listing.output)")
        var groups: [String: [String]] = [:]
        var current: String?
        for line in listing.output.split(separator: "\n") {
            if line.hasPrefix("@") {
                current = String(line)
            } else if let current, case let word = line.trimmingPrefix(while: \.isWhitespace), !word.isEmpty, !word.hasPrefix("#") {
                groups[current, default: []].append(String(word))
            }
        }
        var allowed: Set<String> = []
        var pending = filter
        var expanded: Set<String> = []
        while let name = pending.popLast() {
            if name.hasPrefix("@") {
                if expanded.insert(name).inserted { pending += groups[name] ?? [] }
            } else {
                allowed.insert(name)
            }
        }
        return allowed
    }

    @Test("the unit passes systemd-analyze verify and scores OK in systemd-analyze security")
    func unitIsValidAndHardened() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "netns-unit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // verify checks that ExecStart exists: point it at the binary under test.
        let unit = try String(contentsOf: Self.unitPath, encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/netns-tracer", with: RunningAgent.executable.path)
        let copy = directory.appending(path: "netns-tracer.service")
        try unit.write(to: copy, atomically: true, encoding: .utf8)

        let verify = try Host.run(["systemd-analyze", "verify", copy.path])
        #expect(verify.status == 0 && verify.output.isEmpty, "systemd-analyze verify: \(verify.output)")
        let security = try Host.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", copy.path])
        let score = security.output.firstMatch(of: /Overall exposure level for [^:]+: ([0-9.]+)/).flatMap { Double($0.output.1) }
        let exposure = try #require(score, "no exposure level in: \(security.output.suffix(400))")
        #expect(exposure <= 4.0, "systemd rates the unit's exposure \(exposure) (above 4 is no longer 'OK')")
    }

    @Test("the DaemonSet grants the unit's capabilities and the host views the agent reads")
    func daemonSetMatchesUnit() throws {
        let unitCapabilities = try Self.unitValues("CapabilityBoundingSet").map { String($0.dropFirst("CAP_".count)) }
        let documents = try Self.manifest()
        #expect(Set(documents.compactMap { $0["kind"] as? String }) == ["Namespace", "DaemonSet", "Service", "ServiceMonitor"])
        let daemonSet = try #require(documents.first { $0["kind"] as? String == "DaemonSet" })
        let pod = try #require(((daemonSet["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
        #expect(pod["hostPID"] as? Bool == true)
        #expect(pod["hostNetwork"] as? Bool == true)
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)
        let security = try #require(container["securityContext"] as? [String: Any])
        #expect(security["privileged"] as? Bool == false)
        #expect(security["allowPrivilegeEscalation"] as? Bool == false)
        #expect(security["readOnlyRootFilesystem"] as? Bool == true)
        let capabilities = try #require(security["capabilities"] as? [String: [String]])
        #expect(capabilities["drop"] == ["ALL"])
        // All but CAP_SYSLOG, which opens /dev/kmsg: the pod has none to open (README, "Privileges").
        #expect(Set(capabilities["add"] ?? []) == Set(unitCapabilities).subtracting(["SYSLOG"]))
        let ports = container["ports"] as? [[String: Any]] ?? []
        #expect(ports.first?["name"] as? String == "metrics")
        #expect(ports.first?["containerPort"] as? Int == 9756)
        let resources = container["resources"] as? [String: [String: String]]
        #expect(resources?["requests"]?["cpu"] != nil && resources?["requests"]?["memory"] != nil)
        #expect(resources?["limits"]?["memory"] != nil)
        let mounts = (container["volumeMounts"] as? [[String: Any]] ?? []).compactMap { $0["mountPath"] as? String }
        #expect(mounts.contains("/sys/kernel/tracing"))
        let service = try #require(documents.first { $0["kind"] as? String == "Service" })
        let servicePorts = (service["spec"] as? [String: Any])?["ports"] as? [[String: Any]]
        #expect(servicePorts?.first?["name"] as? String == "metrics")
    }

    @Test("under exactly the unit's capabilities and system call filter, the agent traces, scans mounts and serves")
    func leastPrivilege() async throws {
        try requireRoot()
        // The unit leaves tracefs to the host (systemd mounts it at boot); do the same here.
        if access("/sys/kernel/tracing/events", F_OK) != 0 {
            try Host.must(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"])
        }
        let capabilities = try Self.unitValues("CapabilityBoundingSet")
        #expect(capabilities.sorted() == ["CAP_BPF", "CAP_PERFMON", "CAP_SYSLOG", "CAP_SYS_PTRACE"])
        let bounding = "-all," + capabilities.map { "+" + $0.dropFirst("CAP_".count).lowercased() }.joined(separator: ",")
        let trace = FileManager.default.temporaryDirectory.appending(path: "netns-strace-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: trace) }
        let agent = try await RunningAgent(arguments: ["--holder-scan-interval", "0.5"], wrapper: [
            "setpriv", "--no-new-privs", "--inh-caps=-all", "--bounding-set=\(bounding)",
            "strace", "-f", "-qq", "-o", trace.path,
        ])
        let agentPID = try #require(Self.agentProcess(port: agent.port))
        // Started with BPF, PERFMON, SYS_PTRACE and SYSLOG, it keeps BPF and SYS_PTRACE once attached.
        #expect(Self.threadCapabilities(pid: agentPID) == [(1 << 39) | (1 << 19)])
        // The kernel log, opened with CAP_SYSLOG before it was given up, is read.
        #expect(try agent.metrics()["netns_tracer_kernel_log_read"] == 1)
        // Without CAP_SYS_ADMIN, listns(2) would list only the agent's own namespace: not asked.
        #expect(try agent.metrics()["netns_tracer_listns_used"] == 0)

        // A namespace pinned by a bind mount in a private mount namespace whose only task
        // lives in the host's network namespace: seeing the pin takes CAP_SYS_PTRACE.
        let pin = "/run/\(Host.uniqueName("nt-cap"))"
        _ = FileManager.default.createFile(atPath: pin, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: pin) }
        let keeper = try Host.start(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                     "unshare --net mount --bind /proc/self/ns/net \(pin) && exec sleep 120"])
        defer { Host.stop(keeper) }
        try await eventually("the agent sees the namespace pinned in the private mount namespace", timeout: .seconds(15)) {
            try agent.namespaces().contains { entry in
                entry.state == "alive" && entry.holders?.contains { $0.kind == "mount" && $0.path == pin } == true
            }
        }
        try Host.must(["unshare", "--net", "true"])
        try await eventually("the agent counts a creation and its free") {
            let metrics = try agent.metrics()
            return metrics["netns_created_total"] == 2 && metrics["netns_freed_total"] == 1
        }
        _ = try agent.client.get("/namespaces")
        Host.stop(keeper)
        // SIGTERM to the agent itself: strace would detach from it on a signal of its own.
        kill(agentPID, SIGTERM)
        try await eventually("the agent exits on SIGTERM", timeout: .seconds(20)) { !agent.process.isRunning }
        let output = await agent.stop()
        #expect(agent.process.terminationStatus == 0, "the agent under the unit's limits exits cleanly: \(output)")

        let used = Set(try String(contentsOf: trace, encoding: .utf8).split(separator: "\n").compactMap { line in
            line.firstMatch(of: /^[0-9]+ +([a-z0-9_]+)\(/).map { String($0.output.1) }
        })
        #expect(used.contains("bpf") && used.contains("accept4"), "strace saw the agent's system calls")
        let allowed = try Self.allowedSystemCalls(try Self.unitValues("SystemCallFilter"))
        let refused = used.subtracting(allowed).subtracting(["execve"])  // strace's own exec of the agent
        #expect(refused.isEmpty, "system calls the unit's SystemCallFilter would refuse: \(refused.sorted())")
    }

    /// The distinct effective capability sets of a process's threads.
    static func threadCapabilities(pid: Int32) -> Set<UInt64> {
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return Set(threads.compactMap { thread in
            (try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/status", encoding: .utf8))?
                .firstMatch(of: /CapEff:\s*([0-9a-f]+)/).flatMap { UInt64($0.output.1, radix: 16) }
        })
    }

    @Test("run as root, the agent gives up every capability but CAP_BPF and CAP_SYS_PTRACE once attached, in every thread")
    func capabilitiesDropped() async throws {
        let agent = try await RunningAgent(arguments: ["--holder-scan-interval", "0.5"])
        let pid = agent.process.processIdentifier
        #expect(Self.threadCapabilities(pid: pid) == [(1 << 39) | (1 << 19)])
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        #expect(status.contains("NoNewPrivs:\t1"))
        #expect(status.firstMatch(of: /CapBnd:\s*([0-9a-f]+)/).flatMap { UInt64($0.output.1, radix: 16) } == (1 << 39) | (1 << 19))
        #expect(try agent.metrics()["netns_tracer_capabilities_dropped"] == 1)
        // Everything after start-up still works without them: refreshes, scans, new namespaces.
        let before = try agent.metrics()
        let holder = try Host.start(["unshare", "--net", "sleep", "120"])
        defer { Host.stop(holder) }
        try await eventually("the new namespace is counted, its holder scanned and its refcounts read") {
            guard let inum = Host.netnsInode(pid: holder.processIdentifier), inum != Host.ownNetnsInode else { return false }
            let entry = try agent.namespaces().first { $0.inum == inum }
            return entry?.holders?.contains { $0.kind == "task" && $0.comm == "sleep" } == true && entry?.refs != nil
        }
        #expect(try agent.metrics()["netns_created_total"] == before["netns_created_total"]! + 1)
        Host.stop(holder)
        try await eventually("its end is seen") {
            try agent.metrics()["netns_freed_total"] == before["netns_freed_total"]! + 1
        }
        let log = await agent.stop()
        #expect(agent.process.terminationStatus == 0)
        #expect(log.contains("capabilities dropped"), "\(log)")
    }

    /// The pid of the agent serving on `port` (not the wrappers in front of it).
    static func agentProcess(port: Int) -> Int32? {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap { Int32($0) }) ?? []
        return pids.first { pid in
            guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe"),
                  executable.hasSuffix("/netns-tracer"),
                  let commandLine = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: commandLine, as: UTF8.self).contains("127.0.0.1:\(port)")
        }
    }
}
}
