import Foundation
import NetnsAgent
import NetnsClient
import NetnsCore
import NetnsExposition
import NetnsKernel
import Testing

extension RealKernel {
    /// Real leaks built on the real kernel: each is reported with its kind and holder, and
    /// leaves the leak list when its holder lets go.
    @Suite("Leaks")
    struct LeakTests {
        /// An agent that calls a namespace orphaned after one second without a task.
        func leakAgent(_ probes: ProbeConfiguration) async throws -> RunningAgent {
            try await RunningAgent(probes: probes, arguments: ["--orphaned-after", "1", "--holder-scan-interval", "0.3"])
        }

        func namespace(of agent: RunningAgent, createdBy pid: Int32) throws -> NamespaceSummary? {
            try agent.namespaces().first { $0.creator?.pid == UInt32(pid) }
        }

        @Test("held only by a socket passed to another process before its creator exited", arguments: ProbeConfiguration.eachSet)
        func heldBySocket(probes: ProbeConfiguration) async throws {
            let agent = try await leakAgent(probes)
            let directory = FileManager.default.temporaryDirectory.appending(path: "netns-leak-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let socketPath = "\(directory)/pass.sock"

            let receiver = try Host.start(["python3", "-c", Self.receiver, socketPath])
            defer { Host.stop(receiver) }
            try await eventually("the receiver listens") { FileManager.default.fileExists(atPath: socketPath) }
            let sender = try Host.start(["unshare", "--net", "python3", "-c", Self.sender, socketPath])
            try Host.wait(for: sender)
            #expect(sender.terminationStatus == 0)
            try await eventually("the receiver holds the passed socket") {
                FileManager.default.fileExists(atPath: socketPath + ".got")
            }

            try await eventually("the namespace is reported orphaned, held by the receiver's socket") {
                guard let entry = try namespace(of: agent, createdBy: sender.processIdentifier) else { return false }
                return entry.leak?.kind == "orphaned"
                    && entry.holders?.contains { $0.kind == "socket" && $0.pid == UInt32(receiver.processIdentifier) } == true
            }
            let metrics = try agent.metrics()
            #expect(metrics["netns_leaked{kind=\"orphaned\"}"] == 1)

            Host.stop(receiver)
            try await eventually("the namespace leaves the leak list once the socket is closed") {
                try namespace(of: agent, createdBy: sender.processIdentifier)?.state == "freed"
                    && agent.metrics()["netns_leaked{kind=\"orphaned\"}"] == 0
            }
            await agent.stop()
        }

        @Test("held only by a bind mount whose creator is gone", arguments: ProbeConfiguration.eachSet)
        func heldByMount(probes: ProbeConfiguration) async throws {
            let agent = try await leakAgent(probes)
            let name = Host.uniqueName("nt-leak")
            try Host.must(["ip", "netns", "add", name])
            var deleted = false
            defer { if !deleted { _ = try? Host.run(["ip", "netns", "del", name]) } }
            let inum = try #require(Host.inode("/run/netns/\(name)"))

            try await eventually("the pinned namespace is reported orphaned, held by its mount") {
                guard let entry = try agent.namespaces().first(where: { $0.inum == inum && $0.state == "alive" }) else { return false }
                return entry.leak?.kind == "orphaned"
                    && entry.holders?.contains { $0.kind == "mount" && $0.path == "/run/netns/\(name)" } == true
            }
            let leaked = try RunningAgentCLI.list(agent, ["--leaked"])
            #expect(leaked.contains(String(inum)))
            #expect(leaked.contains("orphaned"))

            try Host.must(["ip", "netns", "del", name])
            deleted = true
            try await eventually("the namespace leaves the leak list once unmounted") {
                try agent.metrics()["netns_leaked{kind=\"orphaned\"}"] == 0
            }
            #expect(!(try RunningAgentCLI.list(agent, ["--leaked"]).contains(String(inum))))
            await agent.stop()
        }

        @Test("held only by an open nsfs file descriptor", arguments: ProbeConfiguration.eachSet)
        func heldByDescriptor(probes: ProbeConfiguration) async throws {
            let agent = try await leakAgent(probes)
            let (creator, fdHolder, inum) = try await Host.namespaceHeldByDescriptor()
            defer { Host.stop(creator); Host.stop(fdHolder) }
            // While the creator lives, a task is inside: no leak.
            try await Task.sleep(for: .seconds(2))
            #expect(try agent.namespaces().first { $0.inum == inum }?.leak == nil)

            Host.stop(creator)
            try await eventually("the namespace is reported orphaned, held by the descriptor") {
                guard let entry = try agent.namespaces().first(where: { $0.inum == inum && $0.state == "alive" }) else { return false }
                return entry.leak?.kind == "orphaned"
                    && entry.holders?.contains { $0.kind == "fd" && $0.pid == UInt32(fdHolder.processIdentifier) && $0.fd == 3 } == true
            }
            Host.stop(fdHolder)
            try await eventually("the namespace leaves the leak list once the descriptor is closed") {
                try agent.metrics()["netns_leaked{kind=\"orphaned\"}"] == 0
            }
            await agent.stop()
        }

        /// Whether the agent, started by this process, may ask listns(2) for every namespace: the
        /// kernel has it (6.19 and later, as a program of its own finds out), and this process
        /// runs with CAP_SYS_ADMIN in the initial user and PID namespaces.
        static func agentMayAskListns() throws -> Bool {
            try #require(FileManager.default.isExecutableFile(atPath: ExactnessTests.patterns), "\(ExactnessTests.patterns)")
            let (status, output) = try Host.run([ExactnessTests.patterns, "listns", "net"], timeout: .seconds(30))
            try #require(status == 0, "netns-patterns listns net: \(output)")
            let capabilities = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8))?
                .split(separator: "\n").first { $0.hasPrefix("CapEff:") }
                .flatMap { UInt64($0.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16) } ?? 0
            let link = { (name: String) in try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/\(name)") }
            return !output.contains("listns unsupported") && capabilities & (1 << 21) != 0  // CAP_SYS_ADMIN
                && link("user") == "user:[4026531837]" && link("pid") == "pid:[4026531836]"
        }

        @Test("pinned before the agent started by a mount no process sees: found by listns(2) where the agent may ask it, else on the kernel's list",
              arguments: ProbeConfiguration.eachSet)
        func heldOutOfSight(probes: ProbeConfiguration) async throws {
            // Holds the mount namespace (by a descriptor) that holds the network namespace (by a
            // bind mount no process can see); its exit frees both.
            let (pinner, fields) = try await Host.startHolding(["hidden-pin", "300"], fields: 2)  // held INUM
            defer { Host.stop(pinner) }
            let inum = try #require(UInt32(fields[1]))

            let agent = try await leakAgent(probes)
            let listns = try Self.agentMayAskListns()
            #expect(try agent.metrics()["netns_tracer_listns_used"] == (listns ? 1 : 0))
            // No task, descriptor or reachable mount holds it: what found it tells "held in user
            // space" (listns lists only active namespaces) from "held by the kernel alone".
            try await eventually("the hidden namespace is reported orphaned, with no holder the agent can name") {
                guard let entry = try agent.namespaces().first(where: { $0.inum == inum && $0.state == "alive" }) else { return false }
                return entry.leak?.kind == "orphaned" && (entry.holders ?? []).isEmpty
            }
            let entry = try #require(try agent.namespaces().first { $0.inum == inum && $0.state == "alive" })
            #expect(entry.discoveredBy == (listns ? "listns" : "kernel-list"))
            #expect(entry.creator == nil)
            let table = try RunningAgentCLI.list(agent, ["--leaked"])
            #expect(table.contains(listns ? "(before agent; held out of sight)" : "(before agent; kernel only)"), "\(table)")

            Host.stop(pinner)
            try await eventually("the namespace is freed once its mount namespace is let go") {
                try agent.namespaces().contains { $0.inum == inum && $0.state == "freed" }
                    && agent.metrics()["netns_leaked{kind=\"orphaned\"}"] == 0
            }
            await agent.stop()
        }

        /// Receives one descriptor over a Unix socket and holds it.
        static let receiver = """
            import array, socket, sys, time
            path = sys.argv[1]
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.bind(path)
            server.listen(1)
            connection, _ = server.accept()
            _, ancillary, _, _ = connection.recvmsg(1, socket.CMSG_LEN(4))
            held = array.array("i")
            held.frombytes(ancillary[0][2][:4])
            open(path + ".got", "w").close()
            time.sleep(600)
            """

        /// Runs in a new namespace: sends a socket of that namespace, then exits.
        static let sender = """
            import array, socket, sys
            inside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            channel = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            channel.connect(sys.argv[1])
            channel.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [inside.fileno()]))])
            """
    }
}

/// The `list` command against a running agent.
enum RunningAgentCLI {
    static func list(_ agent: RunningAgent, _ arguments: [String]) throws -> String {
        try Host.run([RunningAgent.executable.path, "list", "--agent", "http://127.0.0.1:\(agent.port)"] + arguments).output
    }
}

extension RealKernel {
    @Suite("The agent never gets in the host's way")
    struct NonInterference {
        /// A bind-mounted namespace at a fresh path, unmounted (lazily) at the end.
        static func pinned() throws -> String {
            let pin = "/run/\(Host.uniqueName("nt-umount"))"
            _ = FileManager.default.createFile(atPath: pin, contents: nil)
            try Host.must(["unshare", "--net", "mount", "--bind", "/proc/self/ns/net", pin])
            return pin
        }

        static func remove(_ pin: String) {
            _ = try? Host.run(["umount", "-l", pin])
            try? FileManager.default.removeItem(atPath: pin)
        }

        @Test("periodic scans list namespace pins without opening them: a plain umount meanwhile succeeds")
        func umountDuringScan() throws {
            try requireRoot()
            let pin = try Self.pinned()
            defer { Self.remove(pin) }
            let inum = try #require(Host.inode(pin))
            let listing = NamespacePins(opening: false)  // what every scan after start-up does
            #expect(listing.holdersByInum[inum]?.first?.path == pin)
            let umount = try Host.run(["umount", pin])  // no MNT_DETACH: EBUSY if anyone holds it open
            #expect(umount.status == 0, "\(umount.output)")
            listing.close()
        }

        @Test("the start-up inventory holds pins open while it runs (which is why only it does)")
        func startUpHoldsPins() throws {
            try requireRoot()
            let pin = try Self.pinned()
            defer { Self.remove(pin) }
            let opened = NamespacePins(opening: true)
            let busy = try Host.run(["umount", pin])
            #expect(busy.status != 0 && busy.output.contains("busy"), "\(busy.output)")
            opened.close()
            let free = try Host.run(["umount", pin])
            #expect(free.status == 0, "\(free.output)")
        }
    }
}
