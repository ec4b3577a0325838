import Foundation
import NetnsAgent
import NetnsClient
import NetnsCore
import NetnsExposition
import NetnsKernel
import Testing

extension RealKernel {
/// Every way real software makes and drops namespaces, counted exactly by every probe set this
/// kernel attaches, and by the tracepoint set in both configurations: by default (no syscall
/// hooks: most of these leave no trace in any fork, exec or exit) and with `--syscall-hooks`.
/// Each test checks the exact change of every counter and gauge.
@Suite("Exact for every creation pattern")
struct ExactnessTests {
    /// Tests/workloads/netns-patterns.c, built once (named so, its tasks' comm is "netns-patterns").
    static let patterns: String = {
        let directory = FileManager.default.temporaryDirectory.appending(path: "netns-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let binary = directory.appending(path: "netns-patterns").path
        let source = repositoryRoot.appending(path: "Tests/workloads/netns-patterns.c").path
        let built = try? Host.run(["cc", "-O2", "-pthread", "-o", binary, source])
        return built?.status == 0 ? binary : "/nonexistent: cc \(source) failed: \(built?.output ?? "")"
    }()

    /// Runs one netns-patterns mode to completion and returns how many namespaces it made.
    @discardableResult
    static func run(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        try #require(FileManager.default.isExecutableFile(atPath: patterns), "\(patterns)", sourceLocation: sourceLocation)
        let (status, output) = try Host.run([patterns] + arguments, timeout: .seconds(180), sourceLocation: sourceLocation)
        try #require(status == 0, "netns-patterns \(arguments.joined(separator: " ")): \(output)", sourceLocation: sourceLocation)
        let made = output.split(separator: "\n").compactMap { $0.hasPrefix("made ") ? Int($0.dropFirst(5)) : nil }.last
        return try #require(made, "netns-patterns printed no count: \(output)", sourceLocation: sourceLocation)
    }

    /// The counters and gauges every test checks, as read from `/metrics`.
    struct Counts: Equatable, CustomStringConvertible {
        var created = 0, released = 0, freed = 0, alive = 0, dying = 0, discovered = 0
        var setupFailures = 0, lost = 0, unreported = 0, reconciled = 0, bpfErrors = 0

        init(_ agent: RunningAgent) throws {
            let metrics = try agent.metrics()
            func value(_ name: String) -> Int { Int(metrics[name] ?? -1) }
            created = value("netns_created_total")
            released = value("netns_released_total")
            freed = value("netns_freed_total")
            alive = value("netns_alive")
            dying = value("netns_dying")
            discovered = value("netns_discovered_total")
            setupFailures = value("netns_setup_failures_total")
            lost = value("netns_tracer_events_lost_total")
            unreported = value("netns_tracer_unreported_total")
            reconciled = value("netns_tracer_reconciled_total")
            let errors = metrics.filter { $0.key.hasPrefix("netns_tracer_bpf_errors_total{") }
            bpfErrors = errors.values.reduce(0) { $0 + Int($1) }
            errorReasons = errors.filter { $0.value > 0 }.keys.sorted().joined(separator: " ")
        }

        /// Which of the kernel side's error counters are not zero (said when counts differ;
        /// not compared).
        var errorReasons = ""

        static func == (lhs: Counts, rhs: Counts) -> Bool {
            (lhs.created, lhs.released, lhs.freed, lhs.alive, lhs.dying, lhs.discovered)
                == (rhs.created, rhs.released, rhs.freed, rhs.alive, rhs.dying, rhs.discovered)
                && (lhs.setupFailures, lhs.lost, lhs.unreported, lhs.reconciled, lhs.bpfErrors)
                == (rhs.setupFailures, rhs.lost, rhs.unreported, rhs.reconciled, rhs.bpfErrors)
        }

        init() {}

        static func - (after: Counts, before: Counts) -> Counts {
            var delta = Counts()
            delta.created = after.created - before.created
            delta.released = after.released - before.released
            delta.freed = after.freed - before.freed
            delta.alive = after.alive - before.alive
            delta.dying = after.dying - before.dying
            delta.discovered = after.discovered - before.discovered
            delta.setupFailures = after.setupFailures - before.setupFailures
            delta.lost = after.lost - before.lost
            delta.unreported = after.unreported - before.unreported
            delta.reconciled = after.reconciled - before.reconciled
            delta.bpfErrors = after.bpfErrors - before.bpfErrors
            delta.errorReasons = after.errorReasons
            return delta
        }

        /// The change a workload that made `made` namespaces and left `left` of them alive
        /// must cause, and nothing else.
        static func expected(made: Int, left: Int = 0) -> Counts {
            var delta = Counts()
            delta.created = made
            delta.released = made - left
            delta.freed = made - left
            delta.alive = left
            return delta
        }

        var description: String {
            "created \(created), released \(released), freed \(freed), alive \(alive), dying \(dying), "
                + "discovered \(discovered), setup failures \(setupFailures), lost \(lost), unreported \(unreported), "
                + "reconciled \(reconciled), BPF errors \(bpfErrors)" + (errorReasons.isEmpty ? "" : " (\(errorReasons))")
        }
    }

    /// Waits until the agent's counts moved from `before` by exactly `expected` (they may pass
    /// through other values on the way), and fails naming every difference if they do not.
    static func settle(_ agent: RunningAgent, from before: Counts, to expected: Counts, timeout: Duration = .seconds(60),
                       sourceLocation: SourceLocation = #_sourceLocation) async throws {
        var delta = Counts()
        let settled: Void? = try? await eventually("the counts settle", timeout: timeout, sourceLocation: sourceLocation) {
            delta = try Counts(agent) - before
            return delta == expected
        }
        if settled == nil {
            Issue.record("expected \(expected)\n     got \(delta)", sourceLocation: sourceLocation)
            throw TimedOut()
        }
    }

    /// A directory for pins, removed (with whatever is still mounted in it) at the end.
    static func withPinDirectory(_ body: (String) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "netns-pins-\(getpid())-\(UInt16.random(in: 0...UInt16.max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer {
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                umount2("\(directory)/\(entry)", Int32(MNT_DETACH))
            }
            try? FileManager.default.removeItem(atPath: directory)
        }
        try await body(directory)
    }

    /// Runs one netns-patterns mode under a new agent, which must count exactly the `made`
    /// namespaces it made, all of them released and freed, and nothing else.
    static func expectExact(_ arguments: [String], made expected: Int, probes: ProbeConfiguration,
                            timeout: Duration = .seconds(60), sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let agent = try await RunningAgent(probes: probes)
        let before = try Counts(agent)
        let made = try run(arguments, sourceLocation: sourceLocation)
        #expect(made == expected, sourceLocation: sourceLocation)
        try await settle(agent, from: before, to: .expected(made: made), timeout: timeout, sourceLocation: sourceLocation)
        await agent.stop()
    }

    @Test("one process calls unshare(CLONE_NEWNET) 500 times, each call dropping the namespace the last one made",
          arguments: ProbeConfiguration.everyConfiguration)
    func unshareLoop(probes: ProbeConfiguration) async throws {
        try await Self.expectExact(["loop", "500"], made: 500, probes: probes)
    }

    @Test("unshare loops in 4 threads at once, 100 each", arguments: ProbeConfiguration.everyConfiguration)
    func unshareThreads(probes: ProbeConfiguration) async throws {
        try await Self.expectExact(["threads", "4", "100"], made: 400, probes: probes)
    }

    /// A process holding thousands of namespaces by descriptor releases them all within its
    /// exit, far faster than the netns workqueue frees them: every one waits, released and not
    /// yet freed, at once (an earlier kernel side dropped those past 4096 as `dying_set_full`).
    @Test("6000 namespaces held by descriptors, released at once by one exit: every one counted while it waits to be freed",
          arguments: ProbeConfiguration.eachSet)
    func releaseBurst(probes: ProbeConfiguration) async throws {
        try await Self.expectExact(["burst", "6000"], made: 6000, probes: probes, timeout: .seconds(120))
    }

    @Test("200 children made by clone(CLONE_NEWNET), each exiting at once", arguments: ProbeConfiguration.everyConfiguration)
    func cloneChildren(probes: ProbeConfiguration) async throws {
        let agent = try await RunningAgent(probes: probes)
        let before = try Counts(agent)
        let made = try Self.run(["clone", "200"])
        try await Self.settle(agent, from: before, to: .expected(made: made))
        // Each child was seen being made: its creator is the process that cloned it.
        let listed = try agent.namespaces().filter { $0.state == "freed" && $0.creator?.comm == "netns-patterns" }
        #expect(listed.count >= min(made, 100), "the freed history names their creator")
        await agent.stop()
    }

    @Test("CNI-style: a thread unshares, bind-mounts its namespace and setns()es back; entered and left again; unpinned from inside and out",
          arguments: ProbeConfiguration.everyConfiguration)
    func cniPins(probes: ProbeConfiguration) async throws {
        let agent = try await RunningAgent(probes: probes)
        try await Self.withPinDirectory { directory in
            let before = try Counts(agent)
            let made = try Self.run(["pin", directory, "20"])
            try await Self.settle(agent, from: before, to: .expected(made: made, left: made))

            // Every pin is listed alive under its inum, with what is known of its creation.
            let inums = try (0..<made).map { try #require(Host.inode("\(directory)/pin-\($0)")) }
            let listed = try agent.namespaces().filter { $0.state == "alive" && inums.contains($0.inum) }
            #expect(Set(listed.map(\.inum)) == Set(inums))
            // Only the tracepoint set without its syscall hooks cannot see an unshare.
            for namespace in listed {
                if probes.seesUnshare {
                    // A creation hook saw each one: creator and exact time.
                    #expect(namespace.creator?.comm == "netns-patterns", "\(namespace.inum)")
                    #expect(namespace.createdAtEstimated == false)
                    #expect(namespace.discoveredBy == nil)
                } else {
                    // Found on the kernel's list: no creator guessed, a bounded creation time.
                    #expect(namespace.creator == nil, "\(namespace.inum)")
                    #expect(namespace.createdAtEstimated == true)
                    #expect(namespace.discoveredBy == "kernel-list")
                    let after = try #require(namespace.createdAfter), at = try #require(namespace.createdAt)
                    #expect(after <= at, "created after \(after), found at \(at)")
                }
            }

            // Entering and leaving them makes nothing and drops nothing.
            let visited = try Counts(agent)
            try Self.run(["visit", directory, "20", "3"])
            try await Task.sleep(for: .seconds(2))
            #expect(try Counts(agent) - visited == Counts())

            // Half are unpinned while a thread is inside, and released when it leaves (a setns,
            // no exit anywhere); the other half by their unmount.
            let pinned = try Counts(agent)
            try Self.run(["enter-unpin", directory, "10"])
            try Self.run(["unpin", directory, "20"])
            var released = Counts.expected(made: 0)
            released.released = made
            released.freed = made
            released.alive = -made
            try await Self.settle(agent, from: pinned, to: released)
        }
        await agent.stop()
    }

    @Test("a mix under churn: unshare loops, threads, clones and pins in one process, beside fork+unshare+exit churn",
          arguments: ProbeConfiguration.everyConfiguration)
    func mixUnderChurn(probes: ProbeConfiguration) async throws {
        let agent = try await RunningAgent(probes: probes)
        let before = try Counts(agent)
        let churn = try Host.start([StressTests.workload, "unshare", "2000"])
        let made = try Self.run(["mix", "200"])
        try Host.wait(for: churn, timeout: .seconds(180))
        #expect(churn.terminationStatus == 0)
        #expect(made == 1200)
        try await Self.settle(agent, from: before, to: .expected(made: made + 2000), timeout: .seconds(90))
        await agent.stop()
    }

    /// The reader sleeps while nothing happens, and the kernel side wakes it at the next event;
    /// were that wake-up missing, each creation below would wait for the reader's safety
    /// timeout (`EventPump.idleInterval`, 5 s) instead.
    @Test("an idle agent takes the next event at once: the kernel side wakes its sleeping reader",
          arguments: ProbeConfiguration.eachSet)
    func idleReaderWoken(probes: ProbeConfiguration) async throws {
        let agent = try await RunningAgent(probes: probes)
        let bound = Duration.milliseconds(Int64(EventPump.idleInterval) * 3 / 10)
        for round in 1...4 {
            try await Task.sleep(for: .seconds(1))   // nothing happens: the reader goes to sleep
            let before = try agent.metrics()["netns_created_total"] ?? 0
            try Host.must(["unshare", "--net", "true"])
            let made = ContinuousClock.now
            var latency = Duration.zero
            try await eventually("round \(round): the creation is counted") {
                latency = ContinuousClock.now - made
                return try agent.metrics()["netns_created_total"] ?? 0 > before
            }
            #expect(latency < bound, "round \(round): counted \(latency) after the creation")
        }
        await agent.stop()
    }

    /// A refresh re-reads every namespace the kernel lists. With none coming or going the
    /// agent refreshes every `--idle-refresh-interval` instead of every `--refresh-interval`;
    /// the next event brings the refresh interval back, and a namespace no hook sees (in the
    /// default tracepoint set, one a process unshares and stays in) is still found by the
    /// next idle refresh. The holder scan, which would find it too, waits a minute here.
    @Test("idle, refreshes slow to --idle-refresh-interval; the next event brings back --refresh-interval; a namespace no hook sees is found by the next idle refresh",
          arguments: ProbeConfiguration.everyConfiguration)
    func idleRefreshPace(probes: ProbeConfiguration) async throws {
        // Refreshes every 0.5 s (RunningAgent) while events come, every 3 s once idle.
        let agent = try await RunningAgent(probes: probes, arguments: ["--idle-refresh-interval", "3", "--holder-scan-interval", "60"])
        func refreshes(over window: Duration) async throws -> Double {
            let before = try #require(try agent.metrics()["netns_tracer_refreshes_total"])
            try await Task.sleep(for: window)
            return try #require(try agent.metrics()["netns_tracer_refreshes_total"]) - before
        }
        /// Whether a window of 3.2 s with at most two refreshes (at the refresh interval, six)
        /// comes within 40 s.
        func becomesIdle() async throws -> Bool {
            let deadline = ContinuousClock.now + .seconds(40)
            while ContinuousClock.now < deadline {
                if try await refreshes(over: .milliseconds(3200)) <= 2 { return true }
            }
            return false
        }
        let idleAtStart = try await becomesIdle()
        try #require(idleAtStart, "the agent never slowed to its idle pace (at most 2 refreshes in 3.2 s) within 40 s")

        try Host.must(["unshare", "--net", "true"])   // seen by every set, at its exec or exit
        let afterEvent = try await refreshes(over: .milliseconds(1600))
        #expect(afterEvent >= 2, "\(afterEvent) refreshes in the 1.6 s after an event (every 0.5 s: 3; idle: at most 1)")

        let idleAgain = try await becomesIdle()
        try #require(idleAgain, "after the event, the agent never slowed to its idle pace again within 40 s")
        let (holder, fields) = try await Host.startHolding(["cookie", "120"], fields: 3)  // held INUM COOKIE
        defer { Host.stop(holder) }
        let inum = try #require(UInt32(fields[1]))
        try await eventually("namespace \(inum) is found by a hook or the next idle refresh", timeout: .seconds(8)) {
            try agent.namespaces().contains { $0.inum == inum && $0.state == "alive" }
        }
        let found = try #require(try agent.namespaces().first { $0.inum == inum && $0.state == "alive" })  // the inum of one freed may be reused
        #expect(found.discoveredBy == nil || found.discoveredBy == "kernel-list",
                "found by \(found.discoveredBy ?? "a hook"), not by a hook or a refresh")
        await agent.stop()
    }
}
}
