import Testing
@testable import NetnsCore

private let second: UInt64 = 1_000_000_000

private func event(_ kind: NetnsEvent.Kind, at seconds: UInt64, cookie: UInt64, inum: UInt32 = 100) -> NetnsEvent {
    NetnsEvent(kind: kind, timestamp: seconds * second, cookie: cookie, inum: inum,
               task: TaskIdentity(pid: 10, tid: 10, comm: "creator"))
}

private let thresholds = LeakThresholds(orphaned: 30 * second, stuckTeardown: 60 * second, zombie: 90 * second)

@Suite("Leak detection")
struct LeakTests {
    @Test("orphaned: alive with no task inside for longer than the threshold, until a task returns")
    func orphaned() {
        var aggregator = Aggregator(leakThresholds: thresholds)
        aggregator.apply(event(.created, at: 1, cookie: 7))
        let mount = Holder(kind: .mount, pid: 1, comm: "init", path: "/run/netns/blue")
        aggregator.apply(HolderScan(timestamp: 10 * second, byInum: [100: [mount]]))
        #expect(aggregator.namespaces[7]?.tasklessSince == 10 * second)
        #expect(aggregator.namespaces[7]?.holders == [mount])
        #expect(aggregator.leaks(at: 39 * second).isEmpty)
        let leaks = aggregator.leaks(at: 40 * second)
        #expect(leaks.map(\.leak) == [Leak(kind: .orphaned, since: 10 * second)])

        // Later scans keep the start of the condition.
        aggregator.apply(HolderScan(timestamp: 50 * second, byInum: [100: [mount]]))
        #expect(aggregator.leaks(at: 50 * second).first?.leak.since == 10 * second)

        // A task enters: no longer orphaned.
        let task = Holder(kind: .task, pid: 5, comm: "sh")
        aggregator.apply(HolderScan(timestamp: 60 * second, byCookie: [7: [task]], byInum: [100: [mount]]))
        #expect(aggregator.leaks(at: 200 * second).isEmpty)
        #expect(aggregator.namespaces[7]?.holders.count == 2)
    }

    @Test("the host namespace is never orphaned, though its holders are not listed")
    func host() {
        var aggregator = Aggregator(leakThresholds: thresholds)
        aggregator.apply(event(.discovered, at: 1, cookie: 1))
        aggregator.apply(HolderScan(timestamp: 2 * second, hostCookie: 1))
        #expect(aggregator.namespaces[1]?.isHost == true)
        #expect(aggregator.leaks(at: 1000 * second).isEmpty)
    }

    @Test("a namespace first seen after a scan began is left for the next scan")
    func scanRace() {
        var aggregator = Aggregator(leakThresholds: thresholds)
        aggregator.apply(event(.created, at: 20, cookie: 8))
        aggregator.apply(HolderScan(timestamp: 10 * second))
        #expect(aggregator.namespaces[8]?.tasklessSince == nil)
        #expect(aggregator.namespaces[8]?.holdersScannedAt == nil)
    }

    @Test("stuck teardown: released, its batch never ends, for longer than the threshold")
    func stuckTeardown() {
        var aggregator = Aggregator(leakThresholds: thresholds)
        aggregator.apply([event(.created, at: 1, cookie: 9), event(.cleanupStart, at: 5, cookie: 0), event(.released, at: 5, cookie: 9)])
        #expect(aggregator.leaks(at: 64 * second).isEmpty)
        #expect(aggregator.leaks(at: 65 * second).map(\.leak) == [Leak(kind: .stuckTeardown, since: 5 * second)])
    }

    @Test("zombie: torn down, memory still held by passive references past the threshold")
    func zombie() {
        var aggregator = Aggregator(leakThresholds: thresholds)
        aggregator.apply([event(.created, at: 1, cookie: 11), event(.released, at: 5, cookie: 11), event(.tornDown, at: 6, cookie: 11)])
        #expect(aggregator.namespaces[11]?.state == .dying)
        #expect(aggregator.leaks(at: 95 * second).isEmpty)
        #expect(aggregator.leaks(at: 96 * second).map(\.leak) == [Leak(kind: .zombie, since: 6 * second)])
        aggregator.apply(event(.freed, at: 200, cookie: 11))
        #expect(aggregator.leaks(at: 300 * second).isEmpty)
        #expect(aggregator.counters.freed == 1)
    }

    @Test("a teardown report implies the release, once")
    func tornDownImpliesRelease() {
        var aggregator = Aggregator(leakThresholds: thresholds)
        aggregator.apply([event(.created, at: 1, cookie: 12), event(.tornDown, at: 6, cookie: 12)])
        #expect(aggregator.counters.released == 1)
        #expect(aggregator.namespaces[12]?.releasedAt == 6 * second)
    }

    @Test("leaks are listed oldest first")
    func ordering() {
        var aggregator = Aggregator(leakThresholds: thresholds)
        aggregator.apply([event(.created, at: 1, cookie: 20), event(.released, at: 9, cookie: 20)])
        aggregator.apply([event(.created, at: 1, cookie: 21), event(.released, at: 3, cookie: 21)])
        #expect(aggregator.leaks(at: 100 * second).map(\.record.cookie) == [21, 20])
    }
}

@Suite("Container attribution")
struct ContainerIdentityTests {
    static let id = String(repeating: "ab12", count: 16)

    @Test("cgroup paths of common runtimes", arguments: [
        ("/system.slice/docker-\(id).scope", "docker", id, nil),
        ("/docker/\(id)", "docker", id, nil),
        ("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1a2b3c4d_0000_1111_2222_333344445555.slice/cri-containerd-\(id).scope",
         "containerd", id, "1a2b3c4d-0000-1111-2222-333344445555"),
        ("/kubepods/burstable/pod1a2b3c4d-0000-1111-2222-333344445555/\(id)", "containerd", id, "1a2b3c4d-0000-1111-2222-333344445555"),
        ("/kubepods.slice/kubepods-pod1a2b3c4d_0000_1111_2222_333344445555.slice/crio-\(id).scope",
         "cri-o", id, "1a2b3c4d-0000-1111-2222-333344445555"),
        ("/machine.slice/libpod-\(id).scope", "podman", id, nil),
        ("/kubepods.slice/kubepods-pod1a2b3c4d_0000_1111_2222_333344445555.slice", "kubernetes", nil, "1a2b3c4d-0000-1111-2222-333344445555"),
    ] as [(String, String, String?, String?)])
    func parse(path: String, runtime: String, containerID: String?, podUID: String?) throws {
        let identity = try #require(ContainerIdentity.parse(cgroupPath: path))
        #expect(identity.runtime == runtime)
        #expect(identity.containerID == containerID)
        #expect(identity.podUID == podUID)
    }

    @Test("paths that name no container", arguments: ["/", "/user.slice/user-0.slice/session-1.scope", "/system.slice/ssh.service", "/docker/short"])
    func noContainer(path: String) {
        #expect(ContainerIdentity.parse(cgroupPath: path) == nil)
    }
}

@Suite("Leak transitions (leak_started and leak_ended)")
struct LeakTransitionTests {
    private func summary(_ events: [LifecycleEvent]) -> [String] {
        events.map { "\($0.kind.rawValue) \($0.leak?.rawValue ?? "-") \($0.cookie) @\($0.timestamp / second)"
            + ($0.duration.map { " for \($0 / second)" } ?? "") }
    }

    @Test("an orphan starts leaking at its threshold, then, released, moves to a stuck teardown that its free ends")
    func orphanThroughFree() {
        var aggregator = Aggregator(leakThresholds: thresholds)
        aggregator.apply(event(.created, at: 1, cookie: 7))
        let mount = Holder(kind: .mount, pid: 1, comm: "init", path: "/run/netns/blue")
        aggregator.apply(HolderScan(timestamp: 10 * second, byInum: [100: [mount]]))
        #expect(aggregator.leakTransitions(at: 39 * second).isEmpty)
        // Noticed late, told with the time the threshold was passed, and with its creator.
        let started = aggregator.leakTransitions(at: 45 * second)
        #expect(summary(started) == ["leak_started orphaned 7 @40"])
        #expect(started.first?.creator?.pid == 10)
        #expect(aggregator.leakTransitions(at: 50 * second).isEmpty)  // told once

        aggregator.apply(event(.released, at: 60, cookie: 7))
        #expect(summary(aggregator.leakTransitions(at: 61 * second)) == ["leak_ended orphaned 7 @60 for 50"])
        #expect(summary(aggregator.leakTransitions(at: 130 * second)) == ["leak_started stuck_teardown 7 @120"])
        aggregator.apply(event(.freed, at: 140, cookie: 7))
        #expect(summary(aggregator.leakTransitions(at: 150 * second)) == ["leak_ended stuck_teardown 7 @140 for 80"])
        #expect(aggregator.leakTransitions(at: 500 * second).isEmpty)
    }

    @Test("an orphan's leak ends at the scan that finds a task inside again")
    func taskReturns() {
        var aggregator = Aggregator(leakThresholds: thresholds)
        aggregator.apply(event(.created, at: 1, cookie: 7))
        aggregator.apply(HolderScan(timestamp: 10 * second, byInum: [100: [Holder(kind: .mount, pid: 1, comm: "init")]]))
        #expect(summary(aggregator.leakTransitions(at: 40 * second)) == ["leak_started orphaned 7 @40"])
        aggregator.apply(HolderScan(timestamp: 70 * second, byCookie: [7: [Holder(kind: .task, pid: 5, comm: "sh")]]))
        #expect(summary(aggregator.leakTransitions(at: 75 * second)) == ["leak_ended orphaned 7 @70 for 60"])
    }

    @Test("one leak ending as another begins, between two looks, is told: the count alone did not change")
    func sameCountOtherLeaks() {
        var aggregator = Aggregator(leakThresholds: thresholds)
        aggregator.apply([event(.created, at: 1, cookie: 7, inum: 100), event(.created, at: 1, cookie: 8, inum: 101)])
        let mount = Holder(kind: .mount, pid: 1, comm: "init")
        let task = Holder(kind: .task, pid: 5, comm: "sh")
        aggregator.apply(HolderScan(timestamp: 10 * second, byCookie: [8: [task]], byInum: [100: [mount]]))
        #expect(summary(aggregator.leakTransitions(at: 40 * second)) == ["leak_started orphaned 7 @40"])
        #expect(aggregator.leakTransitions(at: 45 * second).isEmpty)
        aggregator.apply(HolderScan(timestamp: 50 * second, byCookie: [7: [task]], byInum: [101: [mount]]))
        #expect(summary(aggregator.leakTransitions(at: 80 * second))
                    == ["leak_ended orphaned 7 @50 for 40", "leak_started orphaned 8 @80"])
    }

    @Test("a leak that begins and ends between two looks is never told; several are told oldest first")
    func betweenLooksAndOrder() {
        var aggregator = Aggregator(leakThresholds: thresholds)
        aggregator.apply([event(.created, at: 1, cookie: 21), event(.created, at: 1, cookie: 22),
                          event(.released, at: 5, cookie: 21), event(.released, at: 3, cookie: 22),
                          event(.tornDown, at: 6, cookie: 21)])
        #expect(summary(aggregator.leakTransitions(at: 100 * second))
                    == ["leak_started stuck_teardown 22 @63", "leak_started zombie 21 @96"])
        aggregator.apply([event(.freed, at: 101, cookie: 21), event(.freed, at: 102, cookie: 22)])
        #expect(summary(aggregator.leakTransitions(at: 103 * second))
                    == ["leak_ended zombie 21 @101 for 95", "leak_ended stuck_teardown 22 @102 for 99"])

        aggregator.apply([event(.created, at: 200, cookie: 23), event(.released, at: 201, cookie: 23)])
        #expect(aggregator.leakTransitions(at: 202 * second).isEmpty)
        aggregator.apply(event(.freed, at: 300, cookie: 23))  // stuck from 261 to 300, unseen
        #expect(aggregator.leakTransitions(at: 301 * second).isEmpty)
    }
}

@Suite("Device waits (what a stuck teardown waits for)")
struct DeviceWaitTests {
    @Test("a wait names the device for every namespace released and not torn down, once per device")
    func attributed() {
        var aggregator = Aggregator(leakThresholds: thresholds)
        aggregator.apply([event(.created, at: 1, cookie: 40), event(.created, at: 1, cookie: 41), event(.created, at: 1, cookie: 42),
                          event(.created, at: 1, cookie: 43),
                          event(.cleanupStart, at: 5, cookie: 0), event(.released, at: 5, cookie: 40),
                          event(.released, at: 7, cookie: 41),
                          event(.released, at: 2, cookie: 43), event(.tornDown, at: 3, cookie: 43)])
        // 40 and 41 are stuck; 42 is alive; 43 was torn down before.
        let first = aggregator.apply(DeviceWait(device: "lo", usageCount: 2, timestamp: 20 * second))
        #expect(first.map(\.cookie).sorted() == [40, 41])
        #expect(first.allSatisfy { $0.kind == .teardownWaiting && $0.device == "lo" && $0.usageCount == 2 })
        #expect(first.first { $0.cookie == 40 }?.duration == 15 * second, "stuck since its release")
        #expect(aggregator.teardownWaits.keys.sorted() == [40, 41])

        // The line repeats: no new event, the first sighting kept, the latest count taken.
        #expect(aggregator.apply(DeviceWait(device: "lo", usageCount: 3, timestamp: 30 * second)).isEmpty)
        #expect(aggregator.teardownWaits[40] == TeardownWaitingFor(device: "lo", usageCount: 3, since: 20 * second,
                                                                    lastSeen: 30 * second, source: .kmsg))
        // Another device: told again.
        #expect(aggregator.apply(DeviceWait(device: "eth0", usageCount: 2, timestamp: 31 * second)).count == 2)
        #expect(aggregator.counters.deviceWaits == 3 && aggregator.counters.deviceWaitsUnattributed == 0)

        // Once torn down, what it waited for stays with it; a wait now is nobody's.
        aggregator.apply([event(.tornDown, at: 40, cookie: 40), event(.tornDown, at: 40, cookie: 41)])
        #expect(aggregator.apply(DeviceWait(device: "lo", usageCount: 2, timestamp: 50 * second)).isEmpty)
        #expect(aggregator.counters.deviceWaitsUnattributed == 1)
        #expect(aggregator.teardownWaits[41]?.device == "eth0")
    }

    @Test("a teardown that ended after the previous look at the log may be the one that waited")
    func endedBetweenLooks() {
        var aggregator = Aggregator(leakThresholds: thresholds)
        aggregator.apply([event(.created, at: 1, cookie: 47), event(.created, at: 1, cookie: 48),
                          event(.released, at: 10, cookie: 47), event(.freed, at: 45, cookie: 47),
                          event(.released, at: 10, cookie: 48), event(.freed, at: 43, cookie: 48)])
        // Read at 50, the previous read at 44: 47's teardown ran past 44, 48's did not.
        let events = aggregator.apply(DeviceWait(device: "lo", usageCount: 2, timestamp: 50 * second, loggedAfter: 44 * second))
        #expect(events.map(\.cookie) == [47])
        #expect(aggregator.teardownWaits.keys.sorted() == [47])
    }

    @Test("a namespace released after the wait was seen is not blamed for it")
    func releasedLater() {
        var aggregator = Aggregator(leakThresholds: thresholds)
        aggregator.apply([event(.created, at: 1, cookie: 44), event(.released, at: 30, cookie: 44)])
        #expect(aggregator.apply(DeviceWait(device: "lo", usageCount: 2, timestamp: 20 * second)).isEmpty)
        #expect(aggregator.teardownWaits.isEmpty)
    }

    @Test("waits leave with the namespaces evicted from the freed history")
    func evicted() {
        var aggregator = Aggregator(limits: Aggregator.Limits(freedHistory: 1), leakThresholds: thresholds)
        aggregator.apply([event(.created, at: 1, cookie: 45), event(.released, at: 2, cookie: 45)])
        _ = aggregator.apply(DeviceWait(device: "lo", usageCount: 2, timestamp: 3 * second))
        aggregator.apply(event(.freed, at: 4, cookie: 45))
        #expect(aggregator.teardownWaits[45]?.device == "lo", "kept with the freed namespace's history")
        aggregator.apply([event(.created, at: 5, cookie: 46), event(.released, at: 6, cookie: 46), event(.freed, at: 7, cookie: 46)])
        #expect(aggregator.namespaces[45] == nil)
        #expect(aggregator.teardownWaits[45] == nil)
    }
}
