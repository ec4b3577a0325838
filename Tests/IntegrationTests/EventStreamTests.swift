import Foundation
import NetnsClient
import NetnsExposition
import NetnsKernel
import Synchronization
import TestKit
import Testing

extension RealKernel {
/// `GET /events` and `netns-tracer trace`, followed for real while real namespaces come and go.
@Suite("Live event stream")
struct EventStreamTests {
    /// A follower of an agent's `/events` through the client `trace` uses, on a thread of its own.
    final class Follower: Sendable {
        private let received = Mutex<[String]>([])
        private let outcome = Mutex<String?>(nil)
        private let begun = Atomic<Bool>(false)

        init(port: Int) throws {
            let client = try AgentClient(url: "http://127.0.0.1:\(port)")
            Thread.detachNewThread { [self] in
                do {
                    try client.follow("/events", onStart: { self.begun.store(true, ordering: .relaxed) }) { line in
                        self.received.withLock { $0.append(line) }
                    }
                    outcome.withLock { $0 = "ended" }
                } catch {
                    outcome.withLock { $0 = "failed: \(error)" }
                }
            }
        }

        var hasBegun: Bool { begun.load(ordering: .relaxed) }
        /// Why the stream ended, nil while it runs.
        var ended: String? { outcome.withLock { $0 } }
        var lines: [String] { received.withLock { $0 } }

        /// The events received about the namespace `inum`.
        func events(of inum: UInt32) throws -> [EventSummary] {
            try lines.map(EventSummary.decode(line:)).filter { $0.inum == inum }
        }
    }

    @Test("GET /events streams a namespace's creation, release and free as they happen, with its creator and lifetime")
    func lifecycleStreamed() async throws {
        let agent = try await RunningAgent()
        let follower = try Follower(port: agent.port)
        try await eventually("the stream begins") { follower.hasBegun }
        let holder = try Host.start(["unshare", "--net", "sleep", "1"])
        var inum: UInt32 = 0
        try await eventually("the namespace is made") {
            inum = Host.netnsInode(pid: holder.processIdentifier) ?? 0
            return inum != 0 && inum != Host.ownNetnsInode
        }
        try await eventually("its creation, release and free are streamed", timeout: .seconds(30)) {
            try follower.events(of: inum).map(\.event).starts(with: ["created", "released", "freed"])
        }
        let events = try follower.events(of: inum)
        #expect(events.count == 3, "each step once: \(events.map(\.event))")
        #expect(events[0].creator?.pid == UInt32(holder.processIdentifier))
        #expect(events[0].creator?.comm == "unshare")
        #expect((events[1].durationSeconds ?? 0) >= 0.5, "the lifetime, creation to release: \(events[1].durationSeconds ?? -1)")
        #expect(events[2].durationSeconds != nil)
        #expect(Set(events.map(\.cookie)).count == 1)
        #expect(try agent.metrics()["netns_tracer_event_stream_clients"] == 1)
        await agent.stop()
        try await eventually("the stream ends with the agent") { follower.ended != nil }
        #expect(follower.ended == "ended")
    }

    @Test("a leak's start and end are streamed: a namespace pinned by a mount, then unpinned")
    func leakStreamed() async throws {
        let agent = try await RunningAgent(arguments: ["--orphaned-after", "1", "--holder-scan-interval", "0.3"])
        let follower = try Follower(port: agent.port)
        try await eventually("the stream begins") { follower.hasBegun }
        let name = Host.uniqueName("nt-stream")
        try Host.must(["ip", "netns", "add", name])
        var deleted = false
        defer { if !deleted { _ = try? Host.run(["ip", "netns", "del", name]) } }
        let inum = try #require(Host.inode("/run/netns/\(name)"))
        try await eventually("its leak's start is streamed", timeout: .seconds(30)) {
            try follower.events(of: inum).contains { $0.event == "leak_started" }
        }
        try Host.must(["ip", "netns", "del", name])
        deleted = true
        try await eventually("its leak's end and its free are streamed", timeout: .seconds(30)) {
            let streamed = try follower.events(of: inum).map(\.event)
            return streamed.contains("freed") && streamed.contains("leak_ended")
        }
        // The leak's end is noticed at the agent's next look (a refresh or a holder scan), so
        // it may come after the free; each event comes once.
        let events = try follower.events(of: inum)
        #expect(events.map(\.event).starts(with: ["created", "leak_started", "released"]), "\(events.map(\.event))")
        #expect(events.map(\.event).sorted() == ["created", "freed", "leak_ended", "leak_started", "released"],
                "\(events.map(\.event))")
        let started = try #require(events.first { $0.event == "leak_started" })
        let ended = try #require(events.first { $0.event == "leak_ended" })
        #expect(started.leak == "orphaned" && ended.leak == "orphaned")
        #expect(started.creator?.comm == "ip")
        // The leak ends with the release that unpinning made, and lasted from the first scan
        // that found no task inside to then: more than the threshold.
        let released = try #require(events.first { $0.event == "released" })
        #expect(ended.time == released.time)
        #expect((ended.durationSeconds ?? 0) >= 1, "\(ended.durationSeconds ?? -1)")
        await agent.stop()
    }

    @Test("--events-file gets the lines a follower gets, each once, rotated by size, and synced when the agent stops")
    func eventsFile() async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "netns-events-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/events.jsonl"
        let agent = try await RunningAgent(arguments: ["--events-file", path, "--events-file-max-bytes", "16384"])
        let follower = try Follower(port: agent.port)
        try await eventually("the stream begins") { follower.hasBegun }
        // 30 namespaces, three events each: about 30 KB, two or three rotations, all of it kept.
        for _ in 0..<30 { try Host.wait(for: try Host.start(["unshare", "--net", "true"]), timeout: .seconds(30)) }
        let ours = { (lines: [String]) in
            try lines.filter { try EventSummary.decode(line: $0).creator?.comm == "unshare" }
        }
        try await eventually("the follower has every free", timeout: .seconds(30)) {
            try ours(follower.lines).count { $0.contains("\"event\":\"freed\"") } == 30
        }
        let rotations = try agent.metrics()["netns_tracer_events_file_rotations_total"] ?? 0
        #expect(rotations >= 1)
        #expect(try agent.metrics()["netns_tracer_events_file_dropped_total"] == 0)
        await agent.stop()

        let names = ["events.jsonl.3", "events.jsonl.2", "events.jsonl.1", "events.jsonl"]
        var written: [String] = []
        for name in names {
            guard let text = try? String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8) else { continue }
            #expect(text.utf8.count <= 16384, "\(name): \(text.utf8.count) bytes")
            #expect(text.hasSuffix("\n"), "\(name) ends with a whole line")
            written += text.split(separator: "\n").map(String.init)
        }
        #expect(FileManager.default.fileExists(atPath: "\(directory)/events.jsonl.1"))
        #expect(try ours(written) == ours(follower.lines), "the same lines, in the same order")
    }

    @Test("a follower that stops reading is cut off and counted; the agent and a reading follower go on")
    func stalledFollowerCutOff() async throws {
        let agent = try await RunningAgent(arguments: ["--events-max-pending-kib", "256"])
        let reading = try Follower(port: agent.port)
        // A follower that asks and never reads, with a small receive window. The kernel still
        // takes megabytes into the agent's socket buffer (up to tcp_wmem's maximum) before
        // anything waits in the agent: the churn below makes ten.
        let stalled = try RawConnection(port: agent.port, receiveBufferBytes: 4096)
        stalled.send("GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        try await eventually("both follow") {
            try reading.hasBegun && agent.metrics()["netns_tracer_event_stream_clients"] == 2
        }
        try StressTests.churn(processes: 2, each: 6_000)
        try await eventually("the stalled follower is cut off", timeout: .seconds(60)) {
            (try agent.metrics()["netns_tracer_event_stream_cut_off_total"] ?? 0) >= 1
        }
        #expect(try agent.metrics()["netns_tracer_event_stream_clients"] == 1, "the reading follower stays")
        try await eventually("the reading follower saw every free", timeout: .seconds(60)) {
            reading.lines.count { $0.contains("\"event\":\"freed\"") } >= 12_000
        }
        #expect(reading.ended == nil)
        #expect(Self.readsToEnd(stalled.fd), "the agent closed the stalled follower's connection")
        await agent.stop()
    }

    @Test("nsId is the kernel's own id where it has one, and list and trace take it, a cookie or an inum")
    func namespaceIDs() async throws {
        let agent = try await RunningAgent()
        let followed = try Host.start(["unshare", "--net", "sleep", "4"])
        let other = try Host.start(["unshare", "--net", "sleep", "4"])
        defer { Host.stop(followed); Host.stop(other) }
        var inum: UInt32 = 0, otherInum: UInt32 = 0
        try await eventually("both namespaces are made") {
            inum = Host.netnsInode(pid: followed.processIdentifier) ?? 0
            otherInum = Host.netnsInode(pid: other.processIdentifier) ?? 0
            return inum != 0 && inum != Host.ownNetnsInode && otherInum != 0 && otherInum != Host.ownNetnsInode
        }
        // What the kernel calls it (6.18 and later), asked through the namespace's own file.
        let kernelID = NamespaceID.of("/proc/\(followed.processIdentifier)/ns/net")
        var entry: NamespaceSummary?
        try await eventually("the agent lists it") {
            entry = try agent.namespaces().first { $0.inum == inum && $0.state == "alive" }
            return entry != nil
        }
        let listed = try #require(entry)
        if let kernelID {
            #expect(listed.nsId == kernelID, "the kernel's id is the agent's nsId")
            #expect(listed.cookie == kernelID)
        } else {
            #expect(listed.nsId == nil, "a kernel without namespace ids: no nsId")
        }

        // list --ns: by nsId (or cookie) and by inum, as a table and as the agent's JSON.
        for id in [listed.nsId ?? listed.cookie, UInt64(inum)] {
            let table = try RunningAgentCLI.list(agent, ["--ns", String(id)])
            #expect(table.split(separator: "\n").count == 2 && table.contains(String(inum)), "\(table)")
        }
        let json = try RunningAgentCLI.list(agent, ["--ns", String(inum), "--ns", String(otherInum), "--json"])
        #expect(try NamespaceSummary.decodeList(json).map(\.inum).sorted() == [inum, otherInum].sorted(), "\(json)")
        #expect(try NamespaceSummary.decodeList(RunningAgentCLI.list(agent, ["--ns", "1", "--json"])).isEmpty)

        // trace --ns: only the followed namespace's events.
        let output = FileManager.default.temporaryDirectory.appending(path: "netns-trace-ns-\(getpid()).out").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let trace = try Host.start(["sh", "-c", "exec \"$0\" trace --agent \"$1\" --json --ns \"$2\" >\"$3\" 2>&1",
                                    RunningAgent.executable.path, "http://127.0.0.1:\(agent.port)", String(inum), output])
        defer { Host.stop(trace) }
        let printed = { ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
        try await eventually("trace --ns prints the followed namespace's free", timeout: .seconds(30)) {
            printed().contains { $0.contains("\"event\":\"freed\"") }
        }
        try await eventually("the other namespace is freed too", timeout: .seconds(30)) {
            try agent.namespaces().contains { $0.inum == otherInum && $0.state == "freed" }
        }
        try await Task.sleep(for: .milliseconds(500))
        let events = try printed().map(EventSummary.decode(line:))
        #expect(!events.isEmpty && events.allSatisfy { $0.inum == inum }, "\(printed())")
        #expect(events.map(\.event).contains("released"))
        await agent.stop()
    }

    /// Reads what the peer sent until it closes: true if it closes within 60 s. Megabytes may
    /// wait in the kernel's buffers, and through the 4 KiB window the stalled follower asked
    /// for they crawl (a delayed acknowledgement per window under load): the window is opened
    /// first.
    static func readsToEnd(_ fd: Int32) -> Bool {
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var receiveBuffer: Int32 = 4 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, socklen_t(MemoryLayout<Int32>.size))
        let deadline = ContinuousClock.now + .seconds(60)
        var chunk = [UInt8](repeating: 0, count: 65536)
        while ContinuousClock.now < deadline {
            let count = recv(fd, &chunk, chunk.count, 0)
            if count == 0 { return true }
            if count < 0, errno != EAGAIN, errno != EINTR { return errno == ECONNRESET }
        }
        return false
    }

    @Test("`trace` prints a line per event, and fails clearly without an agent")
    func traceCommand() async throws {
        let agent = try await RunningAgent()
        let output = FileManager.default.temporaryDirectory.appending(path: "netns-trace-\(getpid()).out").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let trace = try Host.start(["sh", "-c", "exec \"$0\" trace --agent \"$1\" >\"$2\" 2>&1",
                                    RunningAgent.executable.path, "http://127.0.0.1:\(agent.port)", output])
        defer { Host.stop(trace) }
        let printed = { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }
        try await eventually("trace prints its header") { printed().hasPrefix("TIME") }
        let holder = try Host.start(["unshare", "--net", "true"])
        try Host.wait(for: holder, timeout: .seconds(30))
        try await eventually("trace prints the namespace's creation and free", timeout: .seconds(30)) {
            let lines = printed().split(separator: "\n")
            return lines.contains { $0.contains(" created ") && $0.contains(" unshare ") }
                && lines.contains { $0.contains(" freed ") && $0.contains(" unshare ") }
        }
        await agent.stop()
        try Host.wait(for: trace, timeout: .seconds(20))
        #expect(trace.terminationStatus != 0)
        #expect(printed().contains("ended the stream"), "\(printed())")
        let unreachable = try Host.run([RunningAgent.executable.path, "trace", "--agent", "http://127.0.0.1:\(agent.port)"])
        #expect(unreachable.status != 0)
        #expect(unreachable.output.contains("cannot connect"))
    }
}
}
