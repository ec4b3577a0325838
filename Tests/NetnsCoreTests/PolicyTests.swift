import CNetnsEvent
import NetnsCore
import Testing

/// The agent's rules that are not about one event: when to refresh fully, when to reconcile,
/// what to forget.
@Suite("Agent policy")
struct PolicyTests {
    @Test("every 15th refresh is full, and only those")
    func fullRefreshes() {
        var schedule = RefreshSchedule()
        let full = (1...45).filter { _ in schedule.nextRefreshIsFull() }
        #expect(full == [15, 30, 45])
    }

    @Test("a refresh at every tick while events arrive, and three after the last; then one in five ticks until the next event")
    func idlePace() {
        var schedule = RefreshSchedule(ticksPerIdleRefresh: 5)
        var events: UInt64 = 0
        func ticks(_ count: Int, eventEvery: Int = 0) -> [Int] {
            (1...count).filter { tick in
                if eventEvery > 0, tick % eventEvery == 0 { events += 1 }
                return schedule.tick(eventsReceived: events)
            }
        }
        #expect(ticks(6, eventEvery: 1) == Array(1...6), "events at every tick")
        #expect(ticks(20) == [1, 2, 3, 8, 13, 18], "three quiet refreshes, then every fifth tick")
        events += 1
        #expect(ticks(5) == [1, 2, 3, 4], "an event: the next tick refreshes, and three quiet ones after it")
        #expect(ticks(12, eventEvery: 4) == Array(4...12), "from the first event, one every fourth tick keeps the pace")
    }

    @Test("never idle while a namespace is dying: only a refresh sees a zombie freed")
    func dyingKeepsPace() {
        var schedule = RefreshSchedule(ticksPerIdleRefresh: 5)
        #expect((1...10).filter { _ in schedule.tick(eventsReceived: 0, namespacesDying: true) } == Array(1...10))
        #expect((1...10).filter { _ in schedule.tick(eventsReceived: 0) } == [1, 2, 3, 8], "none dying: three quiet refreshes, then idle")
    }

    @Test("one pace when the idle interval is the interval; an idle interval is rounded up to whole ticks", arguments: [
        (idle: Duration.seconds(2), interval: Duration.seconds(2), ticks: 1),
        (idle: .seconds(10), interval: .seconds(2), ticks: 5),
        (idle: .milliseconds(2500), interval: .milliseconds(500), ticks: 5),
        (idle: .seconds(3), interval: .seconds(2), ticks: 2),
        (idle: .milliseconds(2900), interval: .seconds(2), ticks: 2),
        (idle: .seconds(1), interval: .seconds(2), ticks: 1),
    ])
    func idleTicks(idle: Duration, interval: Duration, ticks: Int) {
        #expect(RefreshSchedule.ticks(idle: idle, interval: interval) == ticks)
        var schedule = RefreshSchedule(ticksPerIdleRefresh: RefreshSchedule.ticks(idle: idle, interval: interval))
        let refreshed = (1...20).filter { _ in schedule.tick(eventsReceived: 0) }.count
        #expect(refreshed == (ticks == 1 ? 20 : 3 + (20 - 3) / ticks))
    }

    @Test("one timer for every periodic job: a wake-up only when one is due, each at its interval, in the given order")
    func timetable() {
        var timetable = Timetable([(job: "log", interval: .seconds(1)), (job: "refresh", interval: .seconds(2)),
                                   (job: "scan", interval: .seconds(10))])
        var wakes: [(Duration, [String])] = []
        while let next = timetable.nextDue, next <= .seconds(10) {
            wakes.append((next, timetable.due(at: next)))
        }
        #expect(wakes.map(\.0) == (1...10).map { Duration.seconds($0) }, "the union of the three, one wake-up each")
        #expect(wakes.map(\.1) == (1...10).map { second in
            ["log"] + (second % 2 == 0 ? ["refresh"] : []) + (second == 10 ? ["scan"] : [])
        })
        #expect(timetable.due(at: .milliseconds(10_999)) == ["log"], "a wake-up within the slack finds its job due")
        #expect(timetable.due(at: .seconds(15)) == ["log", "refresh"], "late: each once, not once per missed interval")
        #expect(timetable.nextDue == .seconds(16), "then one interval after the late wake-up")
    }

    @Test("a reconciliation follows new losses until one settles them")
    func reconciliation() {
        var schedule = RefreshSchedule()
        #expect(!schedule.needsReconciliation(ProbeStatistics()))
        let lost = ProbeStatistics([NETNS_STAT_RINGBUF_FULL: 3])
        #expect(schedule.needsReconciliation(lost))
        #expect(schedule.needsReconciliation(lost), "not settled yet: asked again")
        schedule.reconciled(through: lost)
        #expect(!schedule.needsReconciliation(lost))
        #expect(schedule.needsReconciliation(ProbeStatistics([NETNS_STAT_RINGBUF_FULL: 4])))
        schedule.reconciled(through: ProbeStatistics([NETNS_STAT_RINGBUF_FULL: 2]))
        #expect(!schedule.needsReconciliation(lost), "an older reading never undoes a newer settlement")
    }

    @Test("cgroups no creator is in are forgotten once they outnumber those in use four times")
    func cgroupPruning() {
        var aggregator = Aggregator()
        aggregator.apply([NetnsEvent(kind: .created, timestamp: 1, cookie: 7, inum: 70,
                                     task: TaskIdentity(pid: 1, tid: 1, comm: "runc", cgroupID: 5))])
        var cgroups = Dictionary(uniqueKeysWithValues: (1...4096).map { (UInt64($0), CgroupInfo(path: "/c/\($0)")) })
        CgroupInfo.prune(&cgroups, keepingCreatorsOf: aggregator)
        #expect(cgroups.count == 4096, "at the bound: kept")
        cgroups[4097] = CgroupInfo(path: "/c/4097")
        CgroupInfo.prune(&cgroups, keepingCreatorsOf: aggregator)
        #expect(Array(cgroups.keys) == [5])
    }

    @Test("a namespace found by a scan shows no holder and says how it was found")
    func discoveredBy() {
        var aggregator = Aggregator()
        aggregator.apply([
            NetnsEvent(kind: .discovered, timestamp: 1, cookie: 1, inum: 10, task: TaskIdentity(pid: 9, tid: 9, comm: "sleep"),
                       source: NETNS_SRC_DISCOVERY_TASK.rawValue),
            NetnsEvent(kind: .discovered, timestamp: 1, cookie: 2, inum: 20, task: TaskIdentity(pid: 3, tid: 3, comm: "agent"),
                       source: NETNS_SRC_DISCOVERY_LIST.rawValue),
        ])
        #expect(aggregator.namespaces[1]?.discoveredBy == "task")
        #expect(aggregator.namespaces[1]?.shownHolder?.comm == "sleep")
        #expect(aggregator.namespaces[2]?.discoveredBy == "kernel-list")
        #expect(aggregator.namespaces[2]?.shownHolder == nil)
    }

    @Test("a scan's discovery of a namespace only listns(2) listed is marked so, once; a holder's discovery is not")
    func listedByListns() {
        let agent = TaskIdentity(pid: 3, tid: 3, comm: "agent")
        var events = [
            NetnsEvent(kind: .discovered, timestamp: 1, cookie: 7, inum: 70, task: agent, source: NETNS_SRC_DISCOVERY_LIST.rawValue),
            NetnsEvent(kind: .discovered, timestamp: 1, cookie: 8, inum: 80, task: agent, source: NETNS_SRC_DISCOVERY_LIST.rawValue),
            NetnsEvent(kind: .refs, timestamp: 2, cookie: 9, inum: 90, task: agent, source: NETNS_SRC_DISCOVERY_LIST.rawValue),
            NetnsEvent(kind: .discovered, timestamp: 2, cookie: 9, inum: 90, task: agent, source: NETNS_SRC_DISCOVERY_FILE.rawValue),
            NetnsEvent(kind: .discovered, timestamp: 2, cookie: 10, inum: 100, task: agent, source: NETNS_SRC_CLEANUP_START.rawValue),
            NetnsEvent(kind: .discovered, timestamp: 3, cookie: 7, inum: 70, task: agent, source: NETNS_SRC_DISCOVERY_LIST.rawValue),
        ]
        var cookies: Set<UInt64> = [7, 9, 10, 11]
        NetnsEvent.markListedByListns(&events, cookies: &cookies)
        #expect(events.map(\.source) == [NETNS_SRC_DISCOVERY_LISTNS, NETNS_SRC_DISCOVERY_LIST, NETNS_SRC_DISCOVERY_LIST,
                                        NETNS_SRC_DISCOVERY_FILE, NETNS_SRC_DISCOVERY_LISTNS, NETNS_SRC_DISCOVERY_LIST].map(\.rawValue))
        #expect(cookies == [9, 11])

        var aggregator = Aggregator()
        aggregator.apply(events)
        #expect(aggregator.namespaces[7]?.discoveredBy == "listns")
        #expect(aggregator.namespaces[10]?.discoveredBy == "listns")
        #expect(aggregator.namespaces[7]?.shownHolder == nil, "the walk's task is the agent, not a holder")
        #expect(aggregator.namespaces[8]?.discoveredBy == "kernel-list")
        // Held out of the agent's sight, not by the kernel alone, whatever the holder scans find.
        aggregator.apply(HolderScan(timestamp: 4, byCookie: [:], byInum: [:], hostCookie: 1))
        #expect(aggregator.namespaces[7]?.isKernelOnly == false)
        #expect(aggregator.namespaces[8]?.isKernelOnly == true)
    }
}

/// The kernel side's counters come from one list in `bpf/netns_event.h`.
@Suite("Kernel-side counters")
struct ProbeStatisticsTests {
    @Test("every slot has one name, and the error reasons are the documented ones")
    func names() {
        let names = ProbeStatistics.slots.map(ProbeStatistics.name(of:))
        #expect(names.count == Int(NETNS_STAT_MAX.rawValue))
        #expect(Set(names).count == names.count, "\(names)")
        #expect(!names.contains { $0.hasPrefix("slot_") }, "\(names)")
        // README's metric table and the alert rules name these; adding one is fine, renaming is not.
        #expect(Set(ProbeStatistics().errors.map(\.reason))
            == ["tracked_map_full", "tracked_map_failed", "pending_map_full", "read_failed", "dying_set_full"])
    }

    @Test("each count is read from its own slot")
    func slots() throws {
        let statistics = ProbeStatistics(reading: { UInt64($0.rawValue) * 10 + 1 })
        #expect(statistics.eventsLost == 1)
        #expect(statistics.unreported == 51)
        #expect(statistics.errors.first { $0.reason == "tracked_map_failed" }?.count == 61)
        #expect(statistics.errors.first { $0.reason == "tracked_map_full" }?.count == 11)
    }
}
