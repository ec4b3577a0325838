import Foundation
import NetnsAgent
import NetnsClient
import NetnsCore
import NetnsExposition
import NetnsKernel
import Testing

/// Podman (Debian's `podman`), on containers storage of the tests' own, with the cgroupfs
/// manager (no systemd is needed) and events in a file. Podman, not dockerd, runs the image:
/// Debian 12's docker 20.10 refuses `--cap-add BPF` ("unknown capability").
enum Podman {
    static let storage = "/var/lib/netns-tracer-test-containers"
    static let image = "localhost/netns-tracer:test"
    static let busybox = "localhost/netns-tracer-test/busybox:latest"
    static var options: [String] {
        ["podman", "--root", "\(storage)/root", "--runroot", "\(storage)/run", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
    }

    @discardableResult
    static func run(_ arguments: [String], timeout: Duration = .seconds(120),
                    sourceLocation: SourceLocation = #_sourceLocation) throws -> (status: Int32, output: String) {
        try Host.run(options + arguments, timeout: timeout, sourceLocation: sourceLocation)
    }

    /// Runs podman; a failure fails the test with its output. Returns the output, trimmed.
    @discardableResult
    static func must(_ arguments: [String], timeout: Duration = .seconds(120),
                     sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let (status, output) = try run(arguments, timeout: timeout, sourceLocation: sourceLocation)
        try #require(status == 0, "podman \(arguments.joined(separator: " ")) failed (\(status)): \(output)", sourceLocation: sourceLocation)
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The agent's image, built once per test run by `scripts/build-image` (which builds the
    /// static agent first: incremental when scripts/test or the matrix has built it).
    static let built: Result<String, any Error> = Result {
        let (status, output) = try Host.run([repositoryRoot.appending(path: "scripts/build-image").path,
                                             "--tag", image, "--storage", storage], timeout: .seconds(45 * 60))
        guard status == 0 else { throw PrometheusError(message: "scripts/build-image failed (\(status)): \(output.suffix(2000))") }
        print(output.split(separator: "\n").last.map(String.init) ?? "")
        // A root filesystem of one static busybox, for containers that sleep.
        let root = FileManager.default.temporaryDirectory.appending(path: Host.uniqueName("netns-rootfs")).path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: "\(root)/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: "\(root)/bin/busybox")
        try FileManager.default.createSymbolicLink(atPath: "\(root)/bin/sleep", withDestinationPath: "busybox")
        let imported = try Host.run(["sh", "-c", "tar -C \"$0\" -c . | \"$@\" import - \(busybox) >/dev/null", root] + options)
        guard imported.status == 0 else { throw PrometheusError(message: "podman import: \(imported.output)") }
        return image
    }

    /// Removes the container, whatever state it is in.
    static func remove(_ name: String) {
        _ = try? run(["rm", "-f", "-t", "5", name], timeout: .seconds(60))
    }
}

/// The DaemonSet's pod, run by podman field by field: a field this does not map fails the
/// test, so that no change to the manifest goes untried.
struct DaemonSetPod {
    var options: [String] = []
    var arguments: [String] = []
    var capabilities: [String] = []
    var readinessPath: String?
    var seccompProfile: String?

    /// Fields with no meaning to a single container runtime: scheduling, the API server, DNS.
    static let clusterOnly: Set<String> = ["dnsPolicy", "automountServiceAccountToken", "enableServiceLinks",
                                           "priorityClassName", "tolerations", "terminationGracePeriodSeconds"]

    init(listen: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let daemonSet = try #require(try RealKernel.DeployTests.manifest().first { $0["kind"] as? String == "DaemonSet" },
                                     sourceLocation: sourceLocation)
        let pod = try #require(((daemonSet["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any],
                               sourceLocation: sourceLocation)
        let containers = try #require(pod["containers"] as? [[String: Any]], sourceLocation: sourceLocation)
        try #require(containers.count == 1, "one container in the pod", sourceLocation: sourceLocation)
        let container = containers[0]
        var hostPaths: [String: String] = [:]
        for volume in pod["volumes"] as? [[String: Any]] ?? [] {
            let path = try #require((volume["hostPath"] as? [String: Any])?["path"] as? String,
                                    "volume \(volume["name"] ?? "?") is a hostPath", sourceLocation: sourceLocation)
            hostPaths[volume["name"] as? String ?? ""] = path
        }
        for (field, value) in pod {
            switch (field, value) {
            case ("hostPID", let on as Bool): if on { options += ["--pid", "host"] }
            case ("hostNetwork", let on as Bool): if on { options += ["--network", "host"] }
            case ("containers", _), ("volumes", _): break
            case (let field, _) where Self.clusterOnly.contains(field): break
            default: Issue.record("the pod's \(field) is not run by this test", sourceLocation: sourceLocation)
            }
        }
        for (field, value) in container {
            switch (field, value) {
            case ("name", _), ("image", _), ("ports", _): break    // host network: the port is the agent's own
            case ("args", let list as [String]):
                // The manifest listens on every address at 9756; here, on loopback at a free port.
                arguments = list.map { $0.hasSuffix(":9756") ? listen : $0 }
                try #require(arguments.contains(listen), "the DaemonSet passes --listen ADDRESS:9756", sourceLocation: sourceLocation)
            case ("securityContext", let context as [String: Any]):
                try apply(securityContext: context, sourceLocation: sourceLocation)
            case ("readinessProbe", let probe as [String: Any]):
                readinessPath = (probe["httpGet"] as? [String: Any])?["path"] as? String
            case ("livenessProbe", _): break    // the same path; checked through readinessPath
            case ("resources", let resources as [String: Any]):
                if let memory = (resources["limits"] as? [String: Any])?["memory"] as? String {
                    options += ["--memory", memory.replacingOccurrences(of: "Mi", with: "m").replacingOccurrences(of: "Gi", with: "g")]
                }
            case ("volumeMounts", let mounts as [[String: Any]]):
                for mount in mounts {
                    let name = mount["name"] as? String ?? ""
                    let source = try #require(hostPaths[name], "volume \(name) is declared", sourceLocation: sourceLocation)
                    let target = try #require(mount["mountPath"] as? String, sourceLocation: sourceLocation)
                    options += ["--volume", "\(source):\(target)\(mount["readOnly"] as? Bool == true ? ":ro" : "")"]
                }
            default: Issue.record("the container's \(field) is not run by this test", sourceLocation: sourceLocation)
            }
        }
        // podman 4.3 asks runc for resource limits above what a process without
        // CAP_SYS_RESOURCE may set, and the container fails to start; Kubernetes sets none, so
        // limits within reach stand in for them.
        options += ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]
    }

    private mutating func apply(securityContext context: [String: Any], sourceLocation: SourceLocation) throws {
        for (field, value) in context {
            switch (field, value) {
            case ("privileged", let on as Bool): if on { options.append("--privileged") }
            case ("runAsUser", let user as Int): options += ["--user", String(user)]
            case ("allowPrivilegeEscalation", let allowed as Bool): if !allowed { options += ["--security-opt", "no-new-privileges"] }
            case ("readOnlyRootFilesystem", let on as Bool): if on { options.append("--read-only") }
            case ("capabilities", let capabilities as [String: [String]]):
                options += (capabilities["drop"] ?? []).flatMap { ["--cap-drop", $0] }
                self.capabilities = capabilities["add"] ?? []
            case ("seccompProfile", let profile as [String: String]):
                // RuntimeDefault: podman's own profile, unless a test names another.
                try #require(profile["type"] == "RuntimeDefault", "seccompProfile \(profile)", sourceLocation: sourceLocation)
            default: Issue.record("the securityContext's \(field) is not run by this test", sourceLocation: sourceLocation)
            }
        }
    }

    /// The `podman run` arguments, with the capabilities the manifest adds but `without`.
    func runArguments(name: String, detached: Bool, without: String? = nil) -> [String] {
        ["run", "--name", name] + (detached ? ["-d"] : [])
            + options
            + capabilities.filter { $0 != without }.flatMap { ["--cap-add", $0] }
            + (seccompProfile.map { ["--security-opt", "seccomp=\($0)"] } ?? [])
            + [Podman.image] + arguments
    }
}

/// Seccomp profiles derived from podman's default (containers-common's `seccomp.json`).
enum SeccompProfiles {
    static let runtimeDefault = "/usr/share/containers/seccomp.json"

    static func load() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: runtimeDefault))) as? [String: Any],
                     "\(runtimeDefault) (podman's default seccomp profile)")
    }

    /// Whether a profile lets a CAP_BPF holder without CAP_SYS_ADMIN call bpf().
    static func allowsBPFToCapBPF(_ profile: [String: Any]) -> Bool {
        (profile["syscalls"] as? [[String: Any]] ?? []).contains { rule in
            (rule["names"] as? [String])?.contains("bpf") == true && rule["action"] as? String == "SCMP_ACT_ALLOW"
                && ((rule["includes"] as? [String: Any])?["caps"] as? [String])?.contains("CAP_BPF") == true
        }
    }

    /// The default profile, with bpf() allowed to CAP_BPF holders and perf_event_open() to
    /// CAP_PERFMON holders, as containerd 1.7 and cri-o 1.26 ship theirs. Written to a file.
    static func allowingBPF(in directory: URL) throws -> String {
        var profile = try load()
        let granted = ["bpf": "CAP_BPF", "perf_event_open": "CAP_PERFMON"]
        var rules = profile["syscalls"] as? [[String: Any]] ?? []
        for index in rules.indices where rules[index]["action"] as? String == "SCMP_ACT_ERRNO" {
            // A refusal that CAP_SYS_ADMIN lifts is lifted by the narrower capability too.
            guard let names = rules[index]["names"] as? [String], !Set(names).isDisjoint(with: granted.keys) else { continue }
            rules[index]["names"] = names.filter { granted[$0] == nil }
            for (call, capability) in granted where names.contains(call) {
                var refusal = rules[index]
                refusal["names"] = [call]
                var excludes = refusal["excludes"] as? [String: Any] ?? [:]
                excludes["caps"] = (excludes["caps"] as? [String] ?? []) + [capability]
                refusal["excludes"] = excludes
                rules.append(refusal)
            }
        }
        for (call, capability) in granted {
            rules.append(["names": [call], "action": "SCMP_ACT_ALLOW", "args": [] as [Any], "includes": ["caps": [capability]], "excludes": [:] as [String: Any]])
        }
        profile["syscalls"] = rules.filter { ($0["names"] as? [String])?.isEmpty == false }
        let path = directory.appending(path: "seccomp-bpf.json")
        try JSONSerialization.data(withJSONObject: profile, options: [.sortedKeys, .withoutEscapingSlashes]).write(to: path)
        return path.path
    }
}

extension RealKernel {
/// The image users deploy, built by `scripts/build-image` and run the way the DaemonSet runs it.
@Suite("The image, built and run like the DaemonSet")
struct ImageTests {
    /// The profile `SeccompProfiles.allowingBPF` writes, once per test run.
    static let allowingBPFProfile: Result<String, any Error> = Result {
        let directory = FileManager.default.temporaryDirectory.appending(path: Host.uniqueName("netns-image"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try SeccompProfiles.allowingBPF(in: directory)
    }

    /// The DaemonSet's pod, listening on a free loopback port, once the image is built: under
    /// the seccomp profile that allows bpf() to CAP_BPF, or the runtime's default.
    static func daemonSetPod(runtimeDefaultSeccomp: Bool = false,
                             sourceLocation: SourceLocation = #_sourceLocation) throws -> (pod: DaemonSetPod, port: Int) {
        try requireRoot(sourceLocation: sourceLocation)
        _ = try Podman.built.get()
        let port = try freeLoopbackPort()
        var pod = try DaemonSetPod(listen: "127.0.0.1:\(port)", sourceLocation: sourceLocation)
        if !runtimeDefaultSeccomp { pod.seccompProfile = try allowingBPFProfile.get() }
        return (pod, port)
    }

    /// Waits until the agent in `container` answers `path` on `port` with 200, or fails with
    /// the container's log.
    static func waitUntilServing(_ container: String, port: Int, path: String) async throws {
        try await eventually("the containerized agent answers \(path) with 200", timeout: .seconds(60)) {
            let running = try Podman.run(["inspect", "-f", "{{.State.Running}}", container]).output.contains("true")
            guard running else { return true }
            return try Host.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)\(path)"]).output == "200"
        }
        let logs = try Podman.run(["logs", container]).output
        try #require(try Podman.run(["inspect", "-f", "{{.State.Running}}", container]).output.contains("true"),
                     "the containerized agent exited: \(logs)")
    }

    @Test("the image runs with the DaemonSet's capabilities, read-only root, host PID and network and mounts, and sees a container made on the host")
    func runsLikeTheDaemonSet() async throws {
        let (pod, port) = try Self.daemonSetPod()
        let agent = Host.uniqueName("nt-agent"), sleeper = Host.uniqueName("nt-sleeper")
        defer { Podman.remove(sleeper); Podman.remove(agent) }
        try Podman.must(pod.runArguments(name: agent, detached: true))
        try await Self.waitUntilServing(agent, port: port, path: pod.readinessPath ?? "/metrics")

        let client = try AgentClient(url: "http://127.0.0.1:\(port)")
        let metrics = try client.get("/metrics")
        #expect(metrics.contains("netns_tracer_capabilities_dropped 1"), "the agent dropped what it does not need")
        #expect(metrics.contains("netns_tracer_probe_info{mode="))
        let logs = try Podman.must(["logs", agent])
        #expect(!logs.contains("no CAP_SYS_PTRACE"), "the DaemonSet's capabilities are enough: \(logs)")
        // The pod has no /dev/kmsg: the agent runs on without it, and says so (README, Privileges).
        #expect(metrics.contains("netns_tracer_kernel_log_read 0"))
        #expect(logs.contains("stuck teardowns will not name the device they wait for"), "\(logs)")

        // A container made on the host: its namespace is found through the host's /proc and
        // attributed through the host's cgroup hierarchy, both as the DaemonSet mounts them.
        let id = try Podman.must(["run", "-d", "--name", sleeper, "--network", "none",
                                  "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096", Podman.busybox, "/bin/sleep", "300"])
        let pid = try #require(Int32(try Podman.must(["inspect", "-f", "{{.State.Pid}}", sleeper])))
        let inum = try #require(Host.netnsInode(pid: pid))
        try await eventually("the sleeper's namespace \(inum) is listed alive, held by its task", timeout: .seconds(30)) {
            try NamespaceSummary.decodeList(client.get("/namespaces")).contains { entry in
                entry.inum == inum && entry.state == "alive" && entry.holders?.contains { $0.kind == "task" && $0.comm == "sleep" } == true
            }
        }
        let listed = try #require(try NamespaceSummary.decodeList(client.get("/namespaces")).first { $0.inum == inum && $0.state == "alive" })
        #expect(listed.holders?.contains { $0.kind == "task" && $0.pid == UInt32(pid) } == true, "the sleeper, through the host's /proc")
        if metrics.contains("netns_tracer_probe_info{mode=\"tracepoint\"}") {
            // The DaemonSet passes no --syscall-hooks: where only tracepoints load, a namespace
            // made by unshare (as the runtime makes it) is found, and no creator is guessed.
            #expect(listed.creator == nil, "no creator guessed: \(listed.creator.map { "\($0)" } ?? "")")
        } else {
            #expect(listed.creator?.container?.runtime == "podman", "cgroup path: \(listed.creator?.cgroupPath ?? "none")")
            #expect(listed.creator?.container?.id == id)
        }

        // SIGTERM, as the kubelet stops a pod: a clean exit.
        try Podman.must(["stop", "-t", "20", agent], timeout: .seconds(60))
        let exitLogs = try Podman.must(["logs", agent])
        #expect(try Podman.must(["inspect", "-f", "{{.State.ExitCode}}", agent]) == "0", "\(exitLogs)")
    }

    @Test("without one of the DaemonSet's capabilities, the agent says what it lacks", arguments: ["BPF", "PERFMON", "SYS_PTRACE"])
    func missingCapability(_ capability: String) async throws {
        let (pod, port) = try Self.daemonSetPod()
        try #require(pod.capabilities.contains(capability), "the DaemonSet adds CAP_\(capability)")
        let agent = Host.uniqueName("nt-agent")
        defer { Podman.remove(agent) }
        switch capability {
        case "SYS_PTRACE":
            // Optional: the agent runs, and says at start what it will not see.
            try Podman.must(pod.runArguments(name: agent, detached: true, without: capability))
            try await Self.waitUntilServing(agent, port: port, path: "/metrics")
            let logs = try Podman.must(["logs", agent])
            #expect(logs.contains("no CAP_SYS_PTRACE: bind mounts in other mount namespaces are not seen"), "\(logs)")
        default:
            let (status, output) = try Podman.run(pod.runArguments(name: agent, detached: false, without: capability), timeout: .seconds(60))
            #expect(status != 0)
            #expect(output.contains("netns-tracer needs root (or CAP_BPF and CAP_PERFMON"), "\(output)")
        }
    }

    @Test("under the runtime's own default seccomp profile, the agent runs, or says that seccomp refuses bpf()")
    func runtimeDefaultSeccomp() async throws {
        let (pod, port) = try Self.daemonSetPod(runtimeDefaultSeccomp: true)
        let agent = Host.uniqueName("nt-agent")
        defer { Podman.remove(agent) }
        if SeccompProfiles.allowsBPFToCapBPF(try SeccompProfiles.load()) {
            try Podman.must(pod.runArguments(name: agent, detached: true))
            try await Self.waitUntilServing(agent, port: port, path: "/metrics")
        } else {
            // containers-common before bpf() was granted to CAP_BPF holders (Debian 12's).
            let (status, output) = try Podman.run(pod.runArguments(name: agent, detached: false), timeout: .seconds(60))
            #expect(status != 0)
            #expect(output.contains("the bpf() system call is refused although netns-tracer holds the capabilities for it: a seccomp filter is in force"),
                    "\(output)")
        }
    }
}
}
