import CNetnsEvent
import Testing
@testable import NetnsCore

/// Builds events tersely: times in milliseconds.
private func event(
    _ kind: NetnsEvent.Kind, at milliseconds: UInt64, cookie: UInt64 = 0, inum: UInt32 = 0,
    refs: RefCounts? = nil, pid: UInt32 = 100, comm: String = "unshare", result: Int32 = 0
) -> NetnsEvent {
    NetnsEvent(kind: kind, timestamp: milliseconds * 1_000_000, cookie: cookie, inum: inum, refs: refs,
               task: TaskIdentity(pid: pid, tid: pid, comm: comm, cgroupID: 42), result: result)
}

@Suite("Aggregator")
struct AggregatorTests {
    @Test("a namespace created, released and freed in order")
    func fullLifecycle() {
        var aggregator = Aggregator()
        aggregator.apply(event(.created, at: 1000, cookie: 7, inum: 4_026_532_000, refs: .init(active: 1, passive: 2)))
        #expect(aggregator.count(.alive) == 1)
        #expect(aggregator.namespaces[7]?.creator == TaskIdentity(pid: 100, tid: 100, comm: "unshare", cgroupID: 42))

        aggregator.apply(event(.released, at: 3500, cookie: 7, inum: 4_026_532_000))
        #expect(aggregator.count(.alive) == 0)
        #expect(aggregator.count(.dying) == 1)

        aggregator.apply(event(.freed, at: 3600, cookie: 7, inum: 4_026_532_000))
        #expect(aggregator.count(.dying) == 0)
        #expect(aggregator.count(.freed) == 1)
        #expect(aggregator.counters.created == 1)
        #expect(aggregator.counters.released == 1)
        #expect(aggregator.counters.freed == 1)
        #expect(aggregator.lifetimes.count == 1)
        #expect(aggregator.lifetimes.sum == 2.5)
        #expect(aggregator.namespaces[7]?.state == .freed)
    }

    @Test("events of one namespace arriving out of order count each fact once")
    func outOfOrder() {
        let inOrder = [
            event(.created, at: 10, cookie: 9, inum: 5),
            event(.released, at: 20, cookie: 9, inum: 5),
            event(.freed, at: 30, cookie: 9, inum: 5),
        ]
        for permutation in permutations(of: inOrder) {
            var aggregator = Aggregator()
            aggregator.apply(permutation)
            #expect(aggregator.counters.created == 1)
            #expect(aggregator.counters.released == 1)
            #expect(aggregator.counters.freed == 1)
            #expect(aggregator.count(.alive) == 0)
            #expect(aggregator.count(.dying) == 0)
            #expect(aggregator.count(.freed) == 1)
            #expect(aggregator.lifetimes.count == 1)
            #expect(aggregator.namespaces[9]?.createdAt == 10_000_000)
            #expect(aggregator.namespaces[9]?.releasedAt == 20_000_000)
        }
    }

    @Test("a release seen before the creation (another CPU's event came first) keeps the lifetime")
    func releaseBeforeCreation() {
        var aggregator = Aggregator()
        aggregator.apply(event(.released, at: 50, cookie: 3, inum: 8))
        #expect(aggregator.count(.dying) == 1)
        aggregator.apply(event(.created, at: 40, cookie: 3, inum: 8))
        #expect(aggregator.count(.dying) == 1)
        #expect(aggregator.count(.alive) == 0)
        #expect(aggregator.lifetimes.count == 1)
        #expect(abs(aggregator.lifetimes.sum - 0.01) < 1e-9)
    }

    @Test("a namespace created before the agent is released: counted, no lifetime")
    func releaseOfPreexisting() {
        var aggregator = Aggregator()
        aggregator.apply(event(.discovered, at: 1, cookie: 11, inum: 6, refs: .init(active: 1, passive: 3), pid: 1, comm: "systemd"))
        #expect(aggregator.count(.alive) == 1)
        #expect(aggregator.counters.discovered == 1)
        #expect(aggregator.counters.created == 0)
        aggregator.apply(event(.released, at: 2, cookie: 11, inum: 6))
        aggregator.apply(event(.freed, at: 3, cookie: 11, inum: 6))
        #expect(aggregator.counters.released == 1)
        #expect(aggregator.counters.freed == 1)
        #expect(aggregator.lifetimes.count == 0)
        #expect(aggregator.namespaces[11]?.creator == nil)
        #expect(aggregator.namespaces[11]?.discoveredHolder?.comm == "systemd")
    }

    @Test("a release of a namespace never seen before is still counted")
    func releaseOfUnknown() {
        var aggregator = Aggregator()
        aggregator.apply(event(.released, at: 5, cookie: 77, inum: 1))
        #expect(aggregator.counters.released == 1)
        #expect(aggregator.count(.dying) == 1)
        #expect(aggregator.lifetimes.count == 0)
    }

    @Test("a discovered namespace whose active count is already zero is dying")
    func discoveredDying() {
        var aggregator = Aggregator()
        aggregator.apply(event(.discovered, at: 1, cookie: 12, inum: 6, refs: .init(active: 0, passive: 1)))
        #expect(aggregator.count(.dying) == 1)
        #expect(aggregator.count(.alive) == 0)
    }

    @Test("an inum reused by a new namespace is a different namespace: the cookie is the identity")
    func inumReuse() {
        var aggregator = Aggregator()
        aggregator.apply([
            event(.created, at: 1, cookie: 20, inum: 4_026_532_500),
            event(.released, at: 2, cookie: 20, inum: 4_026_532_500),
            event(.freed, at: 3, cookie: 20, inum: 4_026_532_500),
            event(.created, at: 4, cookie: 21, inum: 4_026_532_500, pid: 200, comm: "ip"),
        ])
        #expect(aggregator.counters.created == 2)
        #expect(aggregator.count(.alive) == 1)
        #expect(aggregator.count(.freed) == 1)
        #expect(aggregator.namespaces[20]?.state == .freed)
        #expect(aggregator.namespaces[21]?.state == .alive)
        #expect(aggregator.namespaces[21]?.creator?.comm == "ip")
    }

    @Test("repeated events change nothing")
    func duplicates() {
        var aggregator = Aggregator()
        let events = [
            event(.created, at: 1, cookie: 30, inum: 1),
            event(.released, at: 2, cookie: 30, inum: 1),
            event(.freed, at: 3, cookie: 30, inum: 1),
        ]
        aggregator.apply(events)
        let once = aggregator.counters
        aggregator.apply(events)
        #expect(aggregator.counters.created == once.created)
        #expect(aggregator.counters.released == once.released)
        #expect(aggregator.counters.freed == once.freed)
        #expect(aggregator.lifetimes.count == 1)
        #expect(aggregator.count(.freed) == 1)
    }

    @Test("a free without a release (the release event was lost) implies the release")
    func freeImpliesRelease() {
        var aggregator = Aggregator()
        aggregator.apply([event(.created, at: 1, cookie: 40, inum: 1), event(.freed, at: 9, cookie: 40, inum: 1)])
        #expect(aggregator.counters.released == 1)
        #expect(aggregator.counters.freed == 1)
        #expect(aggregator.lifetimes.count == 1)
    }

    @Test("failed creations are counted and create no namespace")
    func failures() {
        var aggregator = Aggregator()
        aggregator.apply(event(.createFailed, at: 1, result: -28))
        aggregator.apply(event(.createFailed, at: 2, result: -12))
        #expect(aggregator.counters.setupFailures == 2)
        #expect(aggregator.namespaces.isEmpty)
    }

    @Test("a setup result seen before the creation is attached to the namespace")
    func setupBeforeCreation() {
        var aggregator = Aggregator()
        aggregator.apply(event(.setup, at: 1, cookie: 50, inum: 2, result: 0))
        #expect(aggregator.namespaces.isEmpty)
        aggregator.apply(event(.created, at: 2, cookie: 50, inum: 2))
        #expect(aggregator.namespaces[50]?.setupResult == 0)
    }

    @Test("refcount readings update known namespaces only, newest reading wins")
    func refsReadings() {
        var aggregator = Aggregator()
        aggregator.apply(event(.created, at: 10, cookie: 60, inum: 2, refs: .init(active: 1, passive: 2)))
        aggregator.apply(event(.refs, at: 30, cookie: 60, inum: 2, refs: .init(active: 3, passive: 5)))
        aggregator.apply(event(.refs, at: 20, cookie: 60, inum: 2, refs: .init(active: 2, passive: 4)))
        aggregator.apply(event(.refs, at: 40, cookie: 61, inum: 2, refs: .init(active: 9, passive: 9)))
        #expect(aggregator.namespaces[60]?.refs == RefCounts(active: 3, passive: 5))
        #expect(aggregator.namespaces[61] == nil)
    }

    @Test("events that name no namespace are counted as invalid and ignored")
    func cookieZero() {
        var aggregator = Aggregator()
        aggregator.apply(event(.created, at: 1, cookie: 0, inum: 5))
        #expect(aggregator.counters.invalidEvents == 1)
        #expect(aggregator.namespaces.isEmpty)
    }

    @Test("cleanup batches: count and duration")
    func cleanupBatches() {
        var aggregator = Aggregator()
        aggregator.apply([event(.cleanupStart, at: 100), event(.cleanupEnd, at: 130)])
        aggregator.apply([event(.cleanupEnd, at: 200)])  // an end without its start: counted, not timed
        #expect(aggregator.counters.cleanupBatches == 2)
        #expect(aggregator.cleanupDurations.count == 1)
        #expect(abs(aggregator.cleanupDurations.sum - 0.03) < 1e-9)
    }

    @Test("freed history is bounded and evictions are counted", arguments: [0, 1, 5])
    func freedHistoryBound(limit: Int) {
        var aggregator = Aggregator(limits: .init(freedHistory: limit))
        for cookie in UInt64(1)...10 {
            aggregator.apply([
                event(.created, at: cookie, cookie: cookie, inum: 1),
                event(.freed, at: cookie + 1, cookie: cookie, inum: 1),
            ])
        }
        aggregator.apply(event(.created, at: 99, cookie: 100, inum: 1))
        #expect(aggregator.count(.freed) == limit)
        #expect(aggregator.namespaces.count == limit + 1)
        #expect(aggregator.counters.historyEvictions == UInt64(10 - limit))
        #expect(aggregator.counters.freed == 10)
        #expect(aggregator.namespaces[100] != nil)
    }
}

/// Every ordering of `elements` (small inputs only).
func permutations<Element>(of elements: [Element]) -> [[Element]] {
    guard elements.count > 1 else { return [elements] }
    return elements.indices.flatMap { index -> [[Element]] in
        var rest = elements
        let first = rest.remove(at: index)
        return permutations(of: rest).map { [first] + $0 }
    }
}

@Suite("Reconciliation after lost events")
struct ReconciliationTests {
    static let second: UInt64 = 1_000_000_000

    @Test("namespaces the kernel no longer follows are released and freed once; the rest are left alone")
    func reconcile() {
        var aggregator = Aggregator()
        aggregator.apply([
            NetnsEvent(kind: .created, timestamp: 1 * Self.second, cookie: 1, inum: 10),   // still followed
            NetnsEvent(kind: .created, timestamp: 1 * Self.second, cookie: 2, inum: 20),   // freed unseen
            NetnsEvent(kind: .created, timestamp: 1 * Self.second, cookie: 3, inum: 30),
            NetnsEvent(kind: .released, timestamp: 2 * Self.second, cookie: 3, inum: 30),  // dying, freed unseen
            NetnsEvent(kind: .created, timestamp: 9 * Self.second, cookie: 4, inum: 40),   // too new to judge
        ])
        let result = aggregator.reconciliation(followed: [1], at: 10 * Self.second, settledBefore: 9 * Self.second)
        #expect(result.undecided == 1, "namespace 4 is left to the next reconciliation")
        let events = result.events
        #expect(events.map(\.cookie) == [2, 2, 3])
        #expect(events.map(\.kind) == [.released, .freed, .freed])
        #expect(events.allSatisfy { $0.source == NETNS_SRC_RECONCILE.rawValue && $0.timestamp == 10 * Self.second })
        aggregator.apply(events)
        #expect(aggregator.count(.alive) == 2)
        #expect(aggregator.count(.dying) == 0)
        #expect(aggregator.counters.freed == 2)
        #expect(aggregator.counters.reconciled == 2)
        // The real free, arriving late, changes nothing.
        aggregator.apply(NetnsEvent(kind: .freed, timestamp: 11 * Self.second, cookie: 2, inum: 20))
        #expect(aggregator.counters.freed == 2)
        #expect(aggregator.reconciliation(followed: [1, 4], at: 12 * Self.second, settledBefore: 12 * Self.second).events.isEmpty)
    }

    @Test("namespaces that lived and died unreported join the totals once, with no record")
    func unreported() {
        var aggregator = Aggregator()
        aggregator.apply(NetnsEvent(kind: .created, timestamp: 1 * Self.second, cookie: 1, inum: 10))
        aggregator.countUnreported(total: 3)
        aggregator.countUnreported(total: 3)
        aggregator.countUnreported(total: 1)  // a lower count (a restarted kernel side) changes nothing
        #expect(aggregator.counters.unreported == 3)
        #expect(aggregator.counters.created == 4)
        #expect(aggregator.counters.released == 3)
        #expect(aggregator.counters.freed == 3)
        #expect(aggregator.count(.alive) == 1)
        #expect(aggregator.namespaces.count == 1)
        #expect(aggregator.lifetimes.count == 0, "their lifetimes are unknown")
    }

    @Test("a creation reported by a scan names no creator: the task is the scanner")
    func scanCreationHasNoCreator() {
        var aggregator = Aggregator()
        aggregator.apply(NetnsEvent(kind: .created, timestamp: 1, cookie: 7, inum: 70,
                                    task: TaskIdentity(pid: 99, comm: "kworker/u4:1"), source: NETNS_SRC_CLEANUP_START.rawValue))
        aggregator.apply(NetnsEvent(kind: .created, timestamp: 1, cookie: 8, inum: 80,
                                    task: TaskIdentity(pid: 42, comm: "unshare"), source: NETNS_SRC_UNSHARE.rawValue))
        #expect(aggregator.namespaces[7]?.creator == nil)
        #expect(aggregator.namespaces[8]?.creator?.comm == "unshare")
        #expect(aggregator.counters.created == 2)
    }

    @Test("a namespace found after its unseen creation: no creator, a bounded time, a holder if a task showed it, no lifetime",
          arguments: [(NETNS_SRC_EXEC, true), (NETNS_SRC_EXIT, true), (NETNS_SRC_FORK_PARENT, true),
                      (NETNS_SRC_DISCOVERY_TASK, true), (NETNS_SRC_DISCOVERY_FILE, true),
                      (NETNS_SRC_DISCOVERY_LIST, false), (NETNS_SRC_DISCOVERY_LISTNS, false), (NETNS_SRC_CLEANUP_START, false),
                      (NETNS_SRC_REFRESH, false)])
    func foundCreation(source: netns_event_source, namesHolder: Bool) {
        var aggregator = Aggregator()
        aggregator.apply(NetnsEvent(kind: .created, timestamp: 5_000, cookie: 7, inum: 70,
                                    task: TaskIdentity(pid: 42, comm: "sleep"), source: source.rawValue, createdAfter: 3_000))
        let record = aggregator.namespaces[7]
        #expect(record?.creator == nil, "never guessed")
        #expect(record?.createdAt == 5_000)
        #expect(record?.createdAfter == 3_000)
        #expect(record?.createdAtIsEstimate == true)
        #expect(record?.discoverySource == source.rawValue)
        #expect((record?.discoveredHolder?.comm == "sleep") == namesHolder)
        #expect(aggregator.counters.created == 1)
        aggregator.apply(NetnsEvent(kind: .released, timestamp: 9_000, cookie: 7, inum: 70))
        #expect(aggregator.counters.released == 1)
        #expect(aggregator.lifetimes.count == 0, "its creation time is not known")
    }

    @Test("the creation hook's report after a walk found the namespace first: its creator and time, counted once",
          arguments: [false, true])
    func hookAfterWalk(releasedFirst: Bool) {
        var aggregator = Aggregator()
        aggregator.apply(NetnsEvent(kind: .created, timestamp: 5_000, cookie: 7, inum: 70,
                                    task: TaskIdentity(pid: 1, comm: "netns-tracer"), source: NETNS_SRC_DISCOVERY_LIST.rawValue,
                                    createdAfter: 1_000))
        if releasedFirst { aggregator.apply(NetnsEvent(kind: .released, timestamp: 8_000, cookie: 7, inum: 70)) }
        aggregator.apply(NetnsEvent(kind: .created, timestamp: 4_000, cookie: 7, inum: 70,
                                    task: TaskIdentity(pid: 42, comm: "unshare"), source: NETNS_SRC_COPY_NET_NS.rawValue,
                                    createdAfter: 4_000))
        let record = aggregator.namespaces[7]
        #expect(record?.creator?.comm == "unshare")
        #expect(record?.createdAt == 4_000)
        #expect(record?.createdAtIsEstimate == false)
        #expect(record?.createdAfter == nil)
        #expect(record?.discoverySource == nil)
        #expect(aggregator.counters.created == 1)
        if !releasedFirst { aggregator.apply(NetnsEvent(kind: .released, timestamp: 8_000, cookie: 7, inum: 70)) }
        #expect(aggregator.lifetimes.count == 1)
        // A later sighting changes nothing.
        aggregator.apply(NetnsEvent(kind: .created, timestamp: 9_000, cookie: 7, inum: 70, source: NETNS_SRC_EXIT.rawValue))
        #expect(aggregator.namespaces[7]?.creator?.comm == "unshare")
        #expect(aggregator.counters.created == 1)
    }
}

@Suite("Bounded memory")
struct BoundedMemoryTests {
    @Test("beyond the live-namespace cap, new namespaces are dropped and counted; known ones still change")
    func liveCap() {
        var aggregator = Aggregator(limits: .init(freedHistory: 2, liveNamespaces: 3))
        aggregator.apply((1...5).map { NetnsEvent(kind: .created, timestamp: $0, cookie: $0, inum: UInt32($0)) })
        #expect(aggregator.count(.alive) == 3)
        #expect(aggregator.counters.capacityDrops == 2)
        #expect(aggregator.namespaces[4] == nil)
        aggregator.apply(NetnsEvent(kind: .freed, timestamp: 10, cookie: 1, inum: 1))
        #expect(aggregator.count(.alive) == 2)
        aggregator.apply(NetnsEvent(kind: .created, timestamp: 11, cookie: 6, inum: 6))
        #expect(aggregator.count(.alive) == 3, "a freed slot takes a new namespace")
        // History is capped apart: freed records beyond it are evicted, oldest first.
        aggregator.apply((2...3).map { NetnsEvent(kind: .freed, timestamp: 20 + $0, cookie: $0, inum: UInt32($0)) })
        #expect(aggregator.count(.freed) == 2)
        #expect(aggregator.counters.historyEvictions == 1)
        #expect(aggregator.namespaces[1] == nil)
    }
}

@Suite("Lifecycle events")
struct LifecycleEventTests {
    static func kinds(_ events: [LifecycleEvent]) -> [String] { events.map { "\($0.kind.rawValue) \($0.cookie)" } }

    @Test("while capturing, each step of a life is made once, with its creator and the length of the stage it ends")
    func steps() {
        var aggregator = Aggregator()
        let made = aggregator.applyCapturingLifecycle([
            event(.created, at: 1000, cookie: 7, inum: 70),
            event(.created, at: 1000, cookie: 7, inum: 70),          // repeated: nothing new
            event(.released, at: 3500, cookie: 7, inum: 70),
            event(.tornDown, at: 3600, cookie: 7, inum: 70),
            event(.freed, at: 4000, cookie: 7, inum: 70),
            event(.freed, at: 4100, cookie: 7, inum: 70),            // repeated
            event(.createFailed, at: 5000, pid: 9, comm: "ip", result: -12),
        ])
        #expect(Self.kinds(made) == ["created 7", "released 7", "torn_down 7", "freed 7", "setup_failed 0"])
        #expect(made.map(\.duration) == [nil, 2_500_000_000, 100_000_000, 500_000_000, nil])
        #expect(made.dropLast().allSatisfy { $0.creator?.pid == 100 && $0.inum == 70 })
        #expect(made.last?.creator?.comm == "ip")
        #expect(made.last?.result == -12)
    }

    @Test("a namespace found, not seen made, has no creator and no lifetime; one discovered released is discovered then released")
    func foundAndDiscovered() {
        var aggregator = Aggregator()
        let made = aggregator.applyCapturingLifecycle([
            NetnsEvent(kind: .created, timestamp: 1_000_000_000, cookie: 1, inum: 10, source: NETNS_SRC_REFRESH.rawValue),
            NetnsEvent(kind: .released, timestamp: 2_000_000_000, cookie: 1, inum: 10),
            NetnsEvent(kind: .discovered, timestamp: 3_000_000_000, cookie: 2, inum: 20, refs: RefCounts(active: 0, passive: 1),
                       source: NETNS_SRC_DISCOVERY_TASK.rawValue),
        ])
        #expect(Self.kinds(made) == ["created 1", "released 1", "discovered 2", "released 2"])
        #expect(made[0].creator == nil)
        #expect(made[1].duration == nil, "its creation time is an estimate")
    }

    @Test("capturing one batch makes that batch's events only, and the same state as applying it")
    func captureIsPerBatch() {
        var capturing = Aggregator(), plain = Aggregator()
        plain.apply(event(.created, at: 1, cookie: 1, inum: 1))
        plain.apply(event(.released, at: 2, cookie: 1, inum: 1))
        plain.apply(event(.released, at: 2, cookie: 1, inum: 1))
        capturing.apply(event(.created, at: 1, cookie: 1, inum: 1))
        #expect(Self.kinds(capturing.applyCapturingLifecycle([event(.released, at: 2, cookie: 1, inum: 1)])) == ["released 1"])
        #expect(capturing.applyCapturingLifecycle([event(.released, at: 2, cookie: 1, inum: 1)]).isEmpty)
        #expect(capturing.counters == plain.counters)
        #expect(capturing.namespaces[1] == plain.namespaces[1])
    }
}
