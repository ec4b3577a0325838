import CLibBPF
import Foundation
import NetnsAgent
import NetnsClient
import NetnsCore
import NetnsExposition
import NetnsKernel
import Testing

/// The agent's behaviour at its edges: shutdown, bad input and the `list` command.
extension RealKernel {
@Suite("Agent start, stop and bad input")
struct CommandLineTests {
    /// The hooks of each set (the kernel keeps the first 15 characters of a name).
    static let hooks: [ProbeSetKind: Set<String>] = [
        .fentry: ["copy_net_ns_exi", "setup_net_exit", "setup_net_exit_", "put_net_entry"],
        .kprobe: ["copy_net_ns_ent", "copy_net_ns_ret", "setup_net_entry", "setup_net_retu", "put_net_kprobe"],
        .tracepoint: ["fork_created", "exec_seen", "exit_seen", "unshare_exit", "clone_exit", "clone3_exit",
                      "unshare_enter_n", "unshare_exit_no", "clone_enter_not", "clone_exit_note",
                      "clone3_enter_no", "clone3_exit_not"],
    ]

    @Test("one object, one set in the kernel: its hooks and the shared programs load, no other set's programs or maps",
          arguments: ProbeConfiguration.eachSet + [ProbeConfiguration(kind: .tracepoint, syscallHooks: false)])
    func oneSetLoads(probes: ProbeConfiguration) throws {
        try requireRoot()
        let before = loadedProgramNames(ownedBy: getpid())
        let set = try ProbeSet(kind: probes.kind, limits: {
            var limits = ProbeLimits(ringBufferBytes: 1 << 16, trackedNamespaces: 64)
            limits.syscallHooks = probes.syscallHooks
            return limits
        }())
        defer { set.detach() }
        let programs = loadedProgramNames(ownedBy: getpid()).subtracting(before)
        #expect(programs.contains(agentProgram), "the shared programs load: \(programs.sorted())")
        let own = Self.hooks[probes.kind, default: []]
        #expect(!programs.isDisjoint(with: own), "\(probes.kind)'s hooks load: \(programs.sorted())")
        for (other, hooks) in Self.hooks where other != probes.kind {
            #expect(programs.isDisjoint(with: hooks), "no \(other) hook loads with \(probes): \(programs.sorted())")
        }
        if !probes.syscallHooks {
            #expect(programs.isDisjoint(with: Self.hooks[.tracepoint, default: []].filter { $0.contains("unshare") || $0.contains("clone") }),
                    "no syscall hook without --syscall-hooks: \(programs.sorted())")
        }
        let maps = loadedMapNames(ownedBy: getpid())
        #expect(maps.contains("tracked"), "\(maps.sorted())")
        #expect(maps.contains("pending") == (probes.kind == .kprobe), "kprobe's map only with kprobe: \(maps.sorted())")
        let notesCalls = probes.kind == .tracepoint && probes.syscallHooks && !set.variants.skippedMaps.contains("newnet_calls")
        #expect(maps.contains("newnet_calls") == notesCalls, "newnet_calls only for the noted syscall hooks: \(maps.sorted())")
    }

    @Test("SIGTERM and SIGINT detach every program and exit 0", arguments: ProbeConfiguration.eachSet)
    func cleanDetach(probes: ProbeConfiguration) async throws {
        for signal in [SIGTERM, SIGINT] {
            let agent = try await RunningAgent(probes: probes)
            let pid = agent.process.processIdentifier
            let attached = loadedProgramNames(ownedBy: pid)
            #expect(attached.contains(agentProgram), "the agent's programs are loaded: \(attached)")
            let output = await agent.stop(signal: signal)
            #expect(agent.process.terminationStatus == 0, "exit status after signal \(signal): \(output)")
            #expect(output.contains("probes detached"))
            #expect(loadedProgramNames(ownedBy: pid).isEmpty)
            #expect(!allLoadedProgramNames().contains(agentProgram), "no program of the agent remains in the kernel")
        }
    }

    @Test("`list` prints the namespaces of a running agent, as a table or as JSON")
    func listCommand() async throws {
        let agent = try await RunningAgent()
        let hostInum = try #require(Host.ownNetnsInode)
        let table = try runTracer(["list", "--agent", "http://127.0.0.1:\(agent.port)"])
        #expect(table.status == 0)
        #expect(table.output.hasPrefix("INUM"))
        #expect(table.output.contains(String(hostInum)))
        let json = try runTracer(["list", "--agent", "http://127.0.0.1:\(agent.port)", "--json"])
        #expect(try NamespaceSummary.decodeList(json.output).contains { $0.inum == hostInum })
        await agent.stop()
        let unreachable = try runTracer(["list", "--agent", "http://127.0.0.1:\(agent.port)"])
        #expect(unreachable.status != 0)
        #expect(unreachable.output.contains("cannot connect"))
    }

    @Test("--probes auto uses the first set that attaches and says why it skipped each one before it")
    func autoSaysWhy() async throws {
        let agent = try await RunningAgent()
        let metrics = try agent.metrics()
        let output = await agent.stop()
        let order = ["fentry", "kprobe", "tracepoint"]
        let used = try #require(order.firstIndex { metrics["netns_tracer_probe_info{mode=\"\($0)\"}"] == 1 }, "a mode is exported")
        #expect(order[used] == ProbeConfiguration.attachable.first?.rawValue, "auto picks the best set this kernel attaches")
        let skipped = output.split(separator: "\n").filter { $0.contains("skipping probe set") }
        print("probe sets this kernel attaches: \(order[used]) first; skipped \(order[..<used].joined(separator: ", "))")
        for set in order[..<used] {
            #expect(skipped.contains { $0.contains("\(set) probe set:") }, "no reason given for skipping \(set): \(output)")
        }
        #expect(skipped.count == used, "only the sets before the one in use are skipped: \(skipped)")
    }

    @Test("--version names the version and the git revision that /metrics reports")
    func version() async throws {
        let printed = try runTracer(["--version"])
        #expect(printed.status == 0)
        let line = printed.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(line.hasPrefix("netns-tracer \(BuildInfo.version) (revision "), "\(line)")
        let agent = try await RunningAgent()
        let metrics = try agent.client.get("/metrics")
        let info = try #require(metrics.split(separator: "\n").first { $0.hasPrefix("netns_tracer_build_info{") })
        let revision = try #require(info.split(separator: "\"").dropFirst(3).first, "\(info)")
        #expect(line.contains("(revision \(revision.prefix(12)))"), "\(line) vs \(info)")
        await agent.stop()
    }

    @Test("a busy port: one clear sentence and a non-zero exit")
    func busyPort() async throws {
        let agent = try await RunningAgent()
        let second = try runTracer(["run", "--listen", "127.0.0.1:\(agent.port)"])
        #expect(second.status == 1)
        #expect(second.output.contains("already in use"))
        await agent.stop()
    }

    @Test("a probe set this kernel refuses: a clear reason and a non-zero exit",
          .enabled(if: ProbeConfiguration.attachable.count < ProbeSetKind.allCases.count,
                   "this kernel attaches every probe set: none to be refused"))
    func refusedProbeSet() throws {
        try requireRoot()
        let refused = try #require(ProbeSetKind.allCases.first { !ProbeConfiguration.attachable.contains($0) })
        let result = try runTracer(["run", "--listen", "127.0.0.1:\(try freeLoopbackPort())", "--probes", refused.rawValue])
        #expect(result.status != 0)
        #expect(result.output.contains("no probe set could be attached"))
        #expect(result.output.contains("\(refused) probe set"))
    }

    @Test("without root privileges: one clear sentence and a non-zero exit")
    func notRoot() throws {
        try requireRoot()
        let result = try Host.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                                   RunningAgent.executable.path, "run", "--listen", "127.0.0.1:0"])
        #expect(result.status == 1)
        #expect(result.output.contains("needs root"))
        #expect(result.output.split(separator: "\n").count == 1, "one sentence: \(result.output)")
    }

    @Test("a kernel without BTF is named as the reason")
    func noBTF() throws {
        try requireRoot()
        #expect(throws: PreflightError.self) { try Preflight.check(btfPath: "/nonexistent/vmlinux") }
        do {
            try Preflight.check(btfPath: "/nonexistent/vmlinux")
        } catch {
            #expect(error.description.contains("CONFIG_DEBUG_INFO_BTF"))
        }
    }

    @Test("bad arguments are refused before anything is loaded, each with its own reason", arguments: [
        (["run", "--listen", "nowhere:99999"], "--listen"),
        (["run", "--probes", "magic"], "magic"),
        (["run", "--ring-buffer-kib", "3"], "--ring-buffer-kib must be a power of two"),
        (["run", "--max-namespaces", "1"], "--max-namespaces must be"),
        (["run", "--refresh-interval", "5", "--idle-refresh-interval", "2"], "--idle-refresh-interval must be between --refresh-interval (5.0) and 3600"),
        (["run", "--idle-refresh-interval", "7200"], "--idle-refresh-interval must be between"),
        (["run", "--http-request-timeout", "0"], "--http-request-timeout must be"),
        (["run", "--no-http"], "--no-http leaves nothing to export"),
        (["run", "--no-http", "--textfile", "/tmp/x.prom", "--web.config.file", "/tmp/web.yml"],
         "--web.config.file configures the HTTP endpoint"),
        (["run", "--listen", "127.0.0.1:0", "--web.config.file", "/nonexistent/web.yml"],
         "--web.config.file /nonexistent/web.yml: No such file or directory"),
        (["run", "--cgroup-root", "/nonexistent"], "--cgroup-root /nonexistent is not a directory"),
        (["run", "--listen", "127.0.0.1:0", "--events-file", "/nonexistent/events.jsonl"],
         "--events-file /nonexistent/events.jsonl: cannot open it for appending"),
        (["run", "--events-file", "/tmp/events.jsonl", "--events-file-max-bytes", "100"], "--events-file-max-bytes must be between"),
        (["list", "--agent", "ftp://x"], "ftp://x"),
    ])
    func badArguments(arguments: [String], reason: String) throws {
        let result = try runTracer(arguments)
        #expect(result.status != 0)
        #expect(result.output.contains(reason), "\(result.output)")
        #expect(!result.output.contains("Unknown option"), "every documented option exists: \(result.output)")
    }
}
}

private func runTracer(_ arguments: [String]) throws -> (status: Int32, output: String) {
    try Host.run([RunningAgent.executable.path] + arguments)
}

/// A program every probe set loads on every kernel, in every variant (the kernel keeps the
/// first 15 characters of a name).
let agentProgram = "discover_tasks"

/// Names of the BPF programs whose file descriptors process `pid` holds.
func loadedProgramNames(ownedBy pid: Int32) -> Set<String> {
    guard let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fdinfo") else { return [] }
    var ids: Set<UInt32> = []
    for fd in fds {
        guard let info = try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(fd)", encoding: .utf8) else { continue }
        for line in info.split(separator: "\n") where line.hasPrefix("prog_id:") {
            if let id = UInt32(line.dropFirst("prog_id:".count).trimmingCharacters(in: .whitespaces)) { ids.insert(id) }
        }
    }
    return Set(ids.compactMap(programName(id:)))
}

/// Names of every BPF program loaded in the kernel.
func allLoadedProgramNames() -> Set<String> {
    var names: Set<String> = []
    var id: UInt32 = 0
    while bpf_prog_get_next_id(id, &id) == 0 {
        if let name = programName(id: id) { names.insert(name) }
    }
    return names
}

private func programName(id: UInt32) -> String? {
    let fd = bpf_prog_get_fd_by_id(id)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var info = bpf_prog_info()
    var length = UInt32(MemoryLayout<bpf_prog_info>.size)
    guard bpf_obj_get_info_by_fd(fd, &info, &length) == 0 else { return nil }
    return withUnsafeBytes(of: info.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
}

/// Names of the BPF maps whose file descriptors process `pid` holds (this process's own: the
/// descriptors are opened by path).
func loadedMapNames(ownedBy pid: Int32) -> Set<String> {
    guard let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { return [] }
    var names: Set<String> = []
    for entry in fds {
        guard let fd = Int32(entry),
              (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(entry)")) == "anon_inode:bpf-map"
        else { continue }
        var info = bpf_map_info()
        var length = UInt32(MemoryLayout<bpf_map_info>.size)
        guard bpf_obj_get_info_by_fd(fd, &info, &length) == 0 else { continue }
        names.insert(withUnsafeBytes(of: info.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
    }
    return names
}
