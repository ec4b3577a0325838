import CNetnsEvent
import NetnsCore
import TestKit
import Testing
@testable import NetnsExposition

private func sampleSnapshot() -> AgentSnapshot {
    var aggregator = Aggregator()
    aggregator.apply([
        NetnsEvent(kind: .discovered, timestamp: 1_000, cookie: 1, inum: 4_026_531_840, refs: .init(active: 5, passive: 9),
                   task: TaskIdentity(pid: 1, comm: "systemd")),
        NetnsEvent(kind: .created, timestamp: 2_000_000_000, cookie: 2, inum: 4_026_532_100,
                   refs: .init(active: 1, passive: 2), task: TaskIdentity(pid: 77, tid: 77, comm: "run\"c\\", cgroupID: 55)),
        NetnsEvent(kind: .created, timestamp: 3_000_000_000, cookie: 3, inum: 4_026_532_101),
        NetnsEvent(kind: .released, timestamp: 4_500_000_000, cookie: 3, inum: 4_026_532_101),
        NetnsEvent(kind: .createFailed, timestamp: 5_000_000_000, result: -28),
    ])
    var snapshot = AgentSnapshot(aggregator: aggregator, probeSet: .tracepoint)
    snapshot.probeStatistics[NETNS_STAT_RINGBUF_FULL] = 4
    snapshot.recordsReceived = 5
    return snapshot
}

@Suite("Prometheus exposition")
struct ExpositionTests {
    let text = MetricsExposition.render(sampleSnapshot(), now: 10_000_000_000)

    @Test("the metric names the issue fixes carry the aggregator's values")
    func contractNames() {
        #expect(sampleValue("netns_created_total", in: text) == 2)
        #expect(sampleValue("netns_setup_failures_total", in: text) == 1)
        #expect(sampleValue("netns_released_total", in: text) == 1)
        #expect(sampleValue("netns_freed_total", in: text) == 0)
        #expect(sampleValue("netns_alive", in: text) == 2)
        #expect(sampleValue("netns_dying", in: text) == 1)
        #expect(sampleValue("netns_lifetime_seconds_count", in: text) == 1)
        #expect(sampleValue("netns_lifetime_seconds_sum", in: text) == 1.5)
        #expect(sampleValue("netns_lifetime_seconds_bucket{le=\"1\"}", in: text) == 0)
        #expect(sampleValue("netns_lifetime_seconds_bucket{le=\"5\"}", in: text) == 1)
        #expect(sampleValue("netns_lifetime_seconds_bucket{le=\"+Inf\"}", in: text) == 1)
        #expect(sampleValue("netns_tracer_events_total", in: text) == 5)
        #expect(sampleValue("netns_tracer_events_lost_total", in: text) == 4)
        #expect(sampleValue("netns_tracer_probe_info{mode=\"tracepoint\"}", in: text) == 1)
    }

    @Test("every family has HELP and TYPE once, before its samples, and every line parses")
    func wellFormed() {
        var declared: [String: String] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# HELP ") { continue }
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                #expect(parts.count == 4)
                #expect(declared[String(parts[2])] == nil, "TYPE twice for \(String(parts[2]))")
                declared[String(parts[2])] = String(parts[3])
                continue
            }
            let name = String(line.prefix { $0 != "{" && $0 != " " })
            let family = ["_bucket", "_sum", "_count"].reduce(name) { current, suffix in
                declared[current] == nil && current.hasSuffix(suffix) ? String(current.dropLast(suffix.count)) : current
            }
            #expect(declared[family] != nil, "sample \(name) before its TYPE")
            #expect(Double(line.split(separator: " ").last ?? "") != nil, "unparsable value in \(line)")
        }
    }
}

@Suite("Leak metrics and fields")
struct LeakExpositionTests {
    static let second: UInt64 = 1_000_000_000
    static let containerID = String(repeating: "0123456789abcdef", count: 4)

    static func leakingSnapshot(seriesLimit: Int = 100) -> (metrics: String, json: String) {
        var aggregator = Aggregator(leakThresholds: LeakThresholds(orphaned: 5 * second, stuckTeardown: 5 * second, zombie: 5 * second))
        let creator = TaskIdentity(pid: 40, tid: 40, comm: "containerd-shim", cgroupID: 77, uid: 0, ppid: 1)
        aggregator.apply([
            NetnsEvent(kind: .created, timestamp: 1 * second, cookie: 5, inum: 500, task: creator),
            NetnsEvent(kind: .created, timestamp: 1 * second, cookie: 6, inum: 600, task: creator),
            NetnsEvent(kind: .released, timestamp: 2 * second, cookie: 6, inum: 600),
            NetnsEvent(kind: .created, timestamp: 1 * second, cookie: 7, inum: 700, task: creator),
            NetnsEvent(kind: .released, timestamp: 2 * second, cookie: 7, inum: 700),
            NetnsEvent(kind: .tornDown, timestamp: 3 * second, cookie: 7, inum: 700),
        ])
        aggregator.apply(HolderScan(timestamp: 2 * second, byCookie: [5: [Holder(kind: .socket, pid: 90, comm: "envoy", fd: 7)]],
                                    byInum: [500: [Holder(kind: .mount, pid: 1, comm: "systemd", path: "/run/netns/cni-x")]]))
        var snapshot = AgentSnapshot(aggregator: aggregator, probeSet: .tracepoint)
        snapshot.cgroups[77] = CgroupInfo(path: "/system.slice/docker-\(containerID).scope")
        return (MetricsExposition.render(snapshot, now: 20 * second, leakSeriesLimit: seriesLimit),
                NamespacesDocument.render(snapshot, clock: ClockMapping(realtimeOffset: 0), now: 20 * second))
    }

    @Test("one gauge per leak kind, and a bounded info series per leaking namespace")
    func metrics() {
        let text = Self.leakingSnapshot().metrics
        #expect(sampleValue("netns_leaked{kind=\"orphaned\"}", in: text) == 1)
        #expect(sampleValue("netns_leaked{kind=\"stuck_teardown\"}", in: text) == 1)
        #expect(sampleValue("netns_leaked{kind=\"zombie\"}", in: text) == 1)
        #expect(sampleValue("netns_leak_info{cookie=\"5\",inum=\"500\",kind=\"orphaned\",creator_comm=\"containerd-shim\",container=\"0123456789ab\",device=\"\"}", in: text) == 1)
        #expect(sampleValue("netns_leak_info_dropped", in: text) == 0)

        let limited = Self.leakingSnapshot(seriesLimit: 1).metrics
        #expect(limited.split(separator: "\n").count { $0.hasPrefix("netns_leak_info{") } == 1)
        #expect(sampleValue("netns_leak_info_dropped", in: limited) == 2)
    }

    @Test("namespaces carry their holders, their leak and the creator's container")
    func json() throws {
        let list = try NamespaceSummary.decodeList(Self.leakingSnapshot().json)
        let orphan = try #require(list.first { $0.cookie == 5 })
        #expect(orphan.leak?.kind == "orphaned")
        #expect(orphan.holders?.map(\.kind) == ["socket", "mount"])
        #expect(orphan.holders?.first?.fd == 7)
        #expect(orphan.holders?.last?.path == "/run/netns/cni-x")
        #expect(orphan.creator?.container?.runtime == "docker")
        #expect(orphan.creator?.container?.id == Self.containerID)
        #expect(list.first { $0.cookie == 6 }?.leak?.kind == "stuck_teardown")
        #expect(list.first { $0.cookie == 7 }?.leak?.kind == "zombie")
        let table = NamespaceTable.render(list, leakedOnly: true)
        #expect(table.contains("stuck_teardown"))
        #expect(table.contains("socket:envoy[90]"))
    }
}

@Suite("/namespaces document")
struct NamespacesDocumentTests {
    @Test("the document parses back with every required field and maps times to wall clock")
    func roundTrip() throws {
        let snapshot = sampleSnapshot()
        let clock = ClockMapping(realtimeOffset: 1_764_374_400_000_000_000)  // 2025-11-29T00:00:00Z at monotonic 0
        let json = NamespacesDocument.render(snapshot, clock: clock, now: 10_000_000_000)
        let list = try NamespaceSummary.decodeList(json)
        #expect(list.map(\.cookie) == [1, 2, 3])
        #expect(list.map(\.state) == ["alive", "alive", "dying"])
        #expect(list[0].createdAt == nil)
        #expect(list[0].discoveredAt == "2025-11-29T00:00:00.000Z")
        #expect(list[0].holder?.comm == "systemd")
        #expect(list[1].createdAt == "2025-11-29T00:00:02.000Z")
        #expect(list[1].creator?.comm == "run\"c\\")
        #expect(list[1].creator?.cgroupId == 55)
        #expect(list[1].refs?.active == 1)
        #expect(list[1].ageSeconds == 8)
        #expect(list[2].releasedAt == "2025-11-29T00:00:04.500Z")
        #expect(list[2].creator?.pid == 0)
    }

    @Test("a namespace found after its unseen creation: no creator, how it was found, the task it was found through, a bounded time")
    func foundCreation() throws {
        var aggregator = Aggregator()
        aggregator.apply([
            NetnsEvent(kind: .created, timestamp: 3_000_000_000, cookie: 5, inum: 50, task: TaskIdentity(pid: 42, comm: "sleep"),
                       source: NETNS_SRC_EXIT.rawValue, createdAfter: 1_000_000_000),
            NetnsEvent(kind: .created, timestamp: 4_000_000_000, cookie: 6, inum: 60, task: TaskIdentity(pid: 7, comm: "kworker/0:1"),
                       source: NETNS_SRC_CLEANUP_START.rawValue, createdAfter: 2_000_000_000),
            NetnsEvent(kind: .created, timestamp: 5_000_000_000, cookie: 7, inum: 70, task: TaskIdentity(pid: 9, comm: "unshare"),
                       source: NETNS_SRC_UNSHARE.rawValue, createdAfter: 5_000_000_000),
        ])
        let json = NamespacesDocument.render(AgentSnapshot(aggregator: aggregator), clock: ClockMapping(realtimeOffset: 0), now: 6_000_000_000)
        let list = try NamespaceSummary.decodeList(json)
        #expect(list.map(\.discoveredBy) == ["exit", "cleanup-batch", nil])
        #expect(list.map(\.creator?.comm) == [nil, nil, "unshare"])
        #expect(list.map(\.holder?.comm) == ["sleep", nil, nil], "a scan's task is not a holder")
        #expect(list.map(\.createdAtEstimated) == [true, true, false])
        #expect(list.map(\.createdAfter) == ["1970-01-01T00:00:01.000Z", "1970-01-01T00:00:02.000Z", nil])
        #expect(list[0].createdAt == "1970-01-01T00:00:03.000Z")
        let table = NamespaceTable.render(list)
        #expect(table.contains("(unseen; found by exit sleep[42])"))
        #expect(table.contains("unshare[9]"))
    }

    @Test("netns_untracked: alive namespaces no task, file or mount held at the last scan, however they were found")
    func untracked() {
        var aggregator = Aggregator()
        aggregator.apply([
            NetnsEvent(kind: .discovered, timestamp: 1, cookie: 1, inum: 1, source: NETNS_SRC_DISCOVERY_LIST.rawValue),
            NetnsEvent(kind: .created, timestamp: 1, cookie: 2, inum: 2, source: NETNS_SRC_DISCOVERY_LIST.rawValue),
            NetnsEvent(kind: .created, timestamp: 1, cookie: 3, inum: 3, source: NETNS_SRC_COPY_NET_NS.rawValue),
            NetnsEvent(kind: .created, timestamp: 1, cookie: 4, inum: 4, source: NETNS_SRC_EXEC.rawValue),   // held by a task
            NetnsEvent(kind: .created, timestamp: 1, cookie: 5, inum: 5, source: NETNS_SRC_CLEANUP_START.rawValue),
            NetnsEvent(kind: .released, timestamp: 1, cookie: 5, inum: 5),                                  // dying
            NetnsEvent(kind: .created, timestamp: 1, cookie: 8, inum: 8),                                   // the host's
        ])
        aggregator.apply(HolderScan(timestamp: 2, byCookie: [4: [Holder(kind: .task, pid: 1, comm: "sleep")]], hostCookie: 8))
        aggregator.apply(NetnsEvent(kind: .created, timestamp: 3, cookie: 9, inum: 9))   // not scanned yet
        let text = MetricsExposition.render(AgentSnapshot(aggregator: aggregator), now: 4)
        #expect(sampleValue("netns_untracked", in: text) == 3)
    }

    @Test("a table large enough to render in parallel slices is one document, in order")
    func parallelSlices() throws {
        var aggregator = Aggregator(limits: .init(freedHistory: 0))
        let count = 25_001
        aggregator.apply((0..<count).map { index in
            NetnsEvent(kind: .created, timestamp: 1_000 + UInt64(index), cookie: UInt64(index + 1), inum: UInt32(index))
        })
        let json = NamespacesDocument.render(AgentSnapshot(aggregator: aggregator), clock: ClockMapping(realtimeOffset: 0), now: 10_000_000_000)
        let list = try NamespaceSummary.decodeList(json)
        #expect(list.count == count)
        #expect(list.map(\.cookie) == (1...UInt64(count)).map { $0 })
    }

    @Test("records far larger than the room first set aside are rendered whole, in order",
          arguments: [3, 25_001])
    func recordsLargerThanTheEstimate(count: Int) throws {
        var aggregator = Aggregator(limits: .init(freedHistory: 0))
        aggregator.apply((0..<count).map { index in
            NetnsEvent(kind: .created, timestamp: 1_000 + UInt64(index), cookie: UInt64(index + 1), inum: UInt32(index))
        })
        // Every slice's first and last records carry ~40 KB of holders: each overflows the
        // room estimated per record, at the start of a pass and at its end.
        let path = String(repeating: "/run/netns/long", count: 256)
        let heavy = Set([1, 2, UInt64(count / 2), UInt64(count / 2 + 1), UInt64(count)])
        aggregator.apply(HolderScan(timestamp: 1_000_000, byCookie: Dictionary(uniqueKeysWithValues: heavy.map { cookie in
            (cookie, (0..<10).map { Holder(kind: .mount, pid: UInt32($0), comm: "c", path: path) })
        }), byInum: [:]))
        let json = NamespacesDocument.render(AgentSnapshot(aggregator: aggregator), clock: ClockMapping(realtimeOffset: 0), now: 10_000_000_000)
        let list = try NamespaceSummary.decodeList(json)
        #expect(list.map(\.cookie) == (1...UInt64(count)).map { $0 })
        for entry in list where heavy.contains(entry.cookie) {
            #expect(entry.holders?.count == 10)
            #expect(entry.holders?.allSatisfy { $0.path == path } == true)
        }
    }

    @Test("a task name that is not UTF-8 is rendered with replacement characters, as valid JSON")
    func invalidUTF8Comm() throws {
        var aggregator = Aggregator()
        var task = TaskIdentity(pid: 1, tid: 1, comm: "x", cgroupID: 0, uid: 0, ppid: 0)
        task.commBytes = CommBytes(low: 0x00FF_6261, high: 0)   // "ab\u{FF}"
        aggregator.apply([NetnsEvent(kind: .created, timestamp: 1, cookie: 9, inum: 9, task: task)])
        let json = NamespacesDocument.render(AgentSnapshot(aggregator: aggregator), clock: ClockMapping(realtimeOffset: 0), now: 3)
        #expect(try NamespaceSummary.decodeList(json).first?.creator?.comm == "ab\u{FFFD}")
    }

    @Test("strings are escaped wherever the special byte falls", arguments: [
        "plain-comm", "q\"uote", "back\\slash", "tab\there", "nl\n", "\u{1}ctl", "ünïcødé-名前",
        "/kubepods.slice/a-very-long-path-that-spans-several-words-\"-and-ends-with-a-quote\"",
        String(repeating: "x", count: 23) + "\u{1f}", String(repeating: "y", count: 64),
    ])
    func escaping(comm: String) throws {
        var aggregator = Aggregator()
        aggregator.apply([NetnsEvent(kind: .created, timestamp: 1, cookie: 9, inum: 9)])
        aggregator.apply(HolderScan(timestamp: 2, byCookie: [9: [Holder(kind: .mount, pid: 1, comm: "c", path: comm)]], byInum: [:]))
        let json = NamespacesDocument.render(AgentSnapshot(aggregator: aggregator), clock: ClockMapping(realtimeOffset: 0), now: 3)
        let list = try NamespaceSummary.decodeList(json)
        #expect(list.first?.holders?.first?.path == comm)
    }

    @Test("an empty aggregator renders an empty array")
    func empty() throws {
        let json = NamespacesDocument.render(AgentSnapshot(aggregator: Aggregator()), clock: ClockMapping(realtimeOffset: 0), now: 0)
        #expect(try NamespaceSummary.decodeList(json).isEmpty)
    }

    @Test("RFC 3339 formatting across dates", arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (Int64(951_782_400_123_000_000), "2000-02-29T00:00:00.123Z"),
        (Int64(1_798_761_599_999_000_000), "2026-12-31T23:59:59.999Z"),
    ])
    func rfc3339Formatting(nanoseconds: Int64, expected: String) {
        let bytes = [UInt8](unsafeUninitializedCapacity: CivilTime.rfc3339Length) { buffer, count in
            CivilTime(unixNanoseconds: nanoseconds).writeRFC3339(to: UnsafeMutableRawPointer(buffer.baseAddress!))
            count = CivilTime.rfc3339Length
        }
        #expect(String(decoding: bytes, as: UTF8.self) == expected)
    }
}
