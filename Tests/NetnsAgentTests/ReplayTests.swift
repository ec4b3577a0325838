import Foundation
import NetnsCore
import Testing
@testable import NetnsAgent
@testable import NetnsClient
@testable import NetnsExposition
@testable import NetnsKernel
import TestKit

/// Leaks that cannot be provoked safely on a host (a stuck teardown, a zombie) are proven
/// through recordings replayed by the real `netns-tracer replay` command.
@Suite("Replayed recordings")
struct ReplayTests {
    static let second: UInt64 = 1_000_000_000
    static let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        .deletingLastPathComponent().appending(path: "netns-tracer").path

    static func write(_ entries: [Recording.Entry]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appending(path: "netns-replay-\(UUID().uuidString).rec").path
        try Data(Recording.header(realtimeOffset: 0) + entries.flatMap(Recording.encode)).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func replay(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        let result = try Command.run([executable, "replay"] + arguments)
        return (result.status, result.output, result.errors)
    }

    @Test("a teardown that never ends is reported stuck, with its creator")
    func stuckTeardown() throws {
        let path = try Self.write([
            .event(NetnsEvent(kind: .created, timestamp: 1 * Self.second, cookie: 30, inum: 4_026_532_900,
                              task: TaskIdentity(pid: 77, tid: 77, comm: "kubelet"))),
            .event(NetnsEvent(kind: .cleanupStart, timestamp: 10 * Self.second)),
            .event(NetnsEvent(kind: .released, timestamp: 10 * Self.second, cookie: 30, inum: 4_026_532_900)),
            .end(timestamp: 400 * Self.second),
        ])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try Self.replay([path, "--output", "namespaces"])
        #expect(result.status == 0, "\(result.error)")
        let namespace = try #require(try NamespaceSummary.decodeList(result.output).first { $0.cookie == 30 })
        #expect(namespace.state == "dying")
        #expect(namespace.leak?.kind == "stuck_teardown")
        #expect(namespace.creator?.comm == "kubelet")
        let metrics = try Self.replay([path, "--output", "metrics"]).output
        #expect(sampleValue("netns_leaked{kind=\"stuck_teardown\"}", in: metrics) == 1)
        #expect(sampleValue("netns_dying", in: metrics) == 1)
        // Not yet past a longer threshold.
        let patient = try Self.replay([path, "--output", "metrics", "--stuck-teardown-after", "1000"]).output
        #expect(sampleValue("netns_leaked{kind=\"stuck_teardown\"}", in: patient) == 0)
    }

    @Test("a stuck teardown names the device the kernel logged waiting for, in /namespaces, netns_leak_info and list")
    func deviceWait() throws {
        let wait = DeviceWait(device: "lo", usageCount: 2, timestamp: 200 * Self.second)
        #expect(try Recording.decode(Recording.header(realtimeOffset: 0) + Recording.encode(.deviceWait(wait))).entries
                    == [.deviceWait(wait)], "the entry reads back as written")
        let path = try Self.write([
            .event(NetnsEvent(kind: .created, timestamp: 1 * Self.second, cookie: 32, inum: 4_026_532_902,
                              task: TaskIdentity(pid: 78, tid: 78, comm: "containerd"))),
            .event(NetnsEvent(kind: .cleanupStart, timestamp: 10 * Self.second)),
            .event(NetnsEvent(kind: .released, timestamp: 10 * Self.second, cookie: 32, inum: 4_026_532_902)),
            .deviceWait(wait),
            .deviceWait(DeviceWait(device: "lo", usageCount: 2, timestamp: 210 * Self.second)),
            .end(timestamp: 400 * Self.second),
        ])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try Self.replay([path, "--output", "namespaces"])
        #expect(result.status == 0, "\(result.error)")
        let namespace = try #require(try NamespaceSummary.decodeList(result.output).first { $0.cookie == 32 })
        #expect(namespace.leak?.kind == "stuck_teardown")
        let waiting = try #require(namespace.teardown?.waitingFor)
        #expect(waiting.device == "lo" && waiting.usageCount == 2 && waiting.source == "kmsg")
        #expect(waiting.since == "1970-01-01T00:03:20.000Z" && waiting.lastSeen == "1970-01-01T00:03:30.000Z")
        #expect(NamespaceTable.render([namespace]).contains("stuck_teardown:lo"))
        let metrics = try Self.replay([path, "--output", "metrics"]).output
        #expect(metrics.contains(#"netns_leak_info{cookie="32",inum="4026532902",kind="stuck_teardown",creator_comm="containerd",container="",device="lo"} 1"#),
                "\(metrics.split(separator: "\n").filter { $0.hasPrefix("netns_leak_info{") })")
        #expect(sampleValue("netns_teardown_device_waits_total", in: metrics) == 2)
        #expect(sampleValue("netns_teardown_device_waits_unattributed_total", in: metrics) == 0)
    }

    @Test("memory held after teardown is a zombie, and its free ends the leak")
    func zombie() throws {
        var entries: [Recording.Entry] = [
            .event(NetnsEvent(kind: .created, timestamp: 1 * Self.second, cookie: 31, inum: 4_026_532_901)),
            .event(NetnsEvent(kind: .released, timestamp: 2 * Self.second, cookie: 31, inum: 4_026_532_901)),
            .event(NetnsEvent(kind: .tornDown, timestamp: 3 * Self.second, cookie: 31, inum: 4_026_532_901,
                              refs: RefCounts(active: 0, passive: 2))),
            .end(timestamp: 300 * Self.second),
        ]
        let zombie = try Self.write(entries)
        defer { try? FileManager.default.removeItem(atPath: zombie) }
        let metrics = try Self.replay([zombie, "--output", "metrics"]).output
        #expect(sampleValue("netns_leaked{kind=\"zombie\"}", in: metrics) == 1)
        #expect(sampleValue("netns_leaked{kind=\"stuck_teardown\"}", in: metrics) == 0)

        entries.insert(.event(NetnsEvent(kind: .freed, timestamp: 200 * Self.second, cookie: 31, inum: 4_026_532_901)), at: 3)
        let freed = try Self.write(entries)
        defer { try? FileManager.default.removeItem(atPath: freed) }
        let after = try Self.replay([freed, "--output", "metrics"]).output
        #expect(sampleValue("netns_leaked{kind=\"zombie\"}", in: after) == 0)
        #expect(sampleValue("netns_freed_total", in: after) == 1)
    }

    @Test("without an end entry, the newest timestamp is the replay's now")
    func noEndEntry() throws {
        let entries: [Recording.Entry] = [
            .event(NetnsEvent(kind: .created, timestamp: 1 * Self.second, cookie: 40, inum: 4_026_532_940)),
            .event(NetnsEvent(kind: .cleanupStart, timestamp: 7 * Self.second)),
        ]
        let replay = try ReplayResult(bytes: Recording.header(realtimeOffset: 0) + entries.flatMap(Recording.encode))
        #expect(replay.now == 7 * Self.second)
        #expect(try NamespaceSummary.decodeList(replay.namespaces).first?.ageSeconds == 6)
    }

    @Test("bad files: one clear sentence, exit 1", arguments: [
        ([UInt8](), "at byte 0: the file is empty"),
        (Array("NETNSREC".utf8) + [9, 0, 32, 0] + [UInt8](repeating: 0, count: 20), "format version 9 is not supported"),
        (Array("NOTATRACE".utf8) + [UInt8](repeating: 0, count: 40), "bad magic"),
    ] as [([UInt8], String)])
    func badFiles(bytes: [UInt8], problem: String) throws {
        let path = FileManager.default.temporaryDirectory.appending(path: "netns-replay-\(UUID().uuidString).rec").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try Self.replay([path])
        #expect(result.status == 1)
        #expect(result.error.contains(problem), "\(result.error)")
        #expect(result.error.split(separator: "\n").count == 1)
        #expect(result.output.isEmpty)
    }

    @Test("a damaged recording: one clear sentence naming the offset, exit 1")
    func damaged() throws {
        let path = try Self.write([.event(NetnsEvent(kind: .created, timestamp: 1, cookie: 1, inum: 1))])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 10).write(to: URL(fileURLWithPath: path))
        let result = try Self.replay([path])
        #expect(result.status == 1)
        #expect(result.error.contains("at byte 32: truncated entry"))
        #expect(result.output.isEmpty)
    }
}
