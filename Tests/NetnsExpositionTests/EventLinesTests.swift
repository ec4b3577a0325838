import NetnsCore
import Testing
@testable import NetnsExposition

@Suite("Event lines (GET /events, trace)")
struct EventLinesTests {
    static let clock = ClockMapping(realtimeOffset: 1_764_979_200_000_000_000)   // 2025-12-06T00:00:00Z at monotonic 0
    static let cgroups = [UInt64(55): CgroupInfo(path: "/system.slice/docker-\(String(repeating: "ab", count: 32)).scope")]

    @Test("one JSON object per line, with the creator's container and the stage's length")
    func line() {
        let released = LifecycleEvent(kind: .released, timestamp: 2_500_000_000, cookie: 7, inum: 4_026_532_100,
                                      creator: TaskIdentity(pid: 77, comm: "run\"c", cgroupID: 55, uid: 0, ppid: 1),
                                      duration: 1_250_000_000)
        let failed = LifecycleEvent(kind: .setupFailed, timestamp: 3_000_000_000, cookie: 0, inum: 0, result: -28)
        let text = String(decoding: EventLines.render([released, failed], cgroups: Self.cgroups, clock: Self.clock).readableBytesView,
                          as: UTF8.self)
        let id = String(repeating: "ab", count: 32)
        #expect(text == """
            {"time":"2025-12-06T00:00:02.500Z","event":"released","cookie":7,"inum":4026532100,"creator":{"pid":77,"comm":"run\\"c","cgroupId":55,"uid":0,"ppid":1,"cgroupPath":"/system.slice/docker-\(id).scope","container":{"runtime":"docker","id":"\(id)","podUid":null}},"durationSeconds":1.25,"result":null,"leak":null,"device":null,"usageCount":null,"nsId":null}
            {"time":"2025-12-06T00:00:03.000Z","event":"setup_failed","cookie":0,"inum":0,"creator":null,"durationSeconds":null,"result":-28,"leak":null,"device":null,"usageCount":null,"nsId":null}

            """)
    }

    @Test("trace reads a line back and prints it in columns")
    func readable() throws {
        let line = EventLines.line(LifecycleEvent(kind: .freed, timestamp: 61_000_000_000, cookie: 7, inum: 4_026_532_100,
                                                  creator: TaskIdentity(pid: 77, comm: "unshare", cgroupID: 55), duration: 42_000_000),
                                   cgroups: Self.cgroups, clock: Self.clock)
        let summary = try EventSummary.decode(line: String(decoding: line, as: UTF8.self))
        #expect(summary.event == "freed" && summary.inum == 4_026_532_100 && summary.creator?.pid == 77)
        let printed = EventLines.readable(summary)
        #expect(printed.hasPrefix("00:01:01.000 freed        4026532100 77      unshare          42ms       docker:abababababab"), "\(printed)")
        #expect(EventLines.header.hasPrefix("TIME         EVENT        INUM       PID     COMM             DURATION   CONTAINER"))
    }

    @Test("a leak's events name its kind, in the line and in trace's columns")
    func leak() throws {
        let ended = LifecycleEvent(kind: .leakEnded, timestamp: 4_000_000_000, cookie: 9, inum: 4_026_532_101,
                                   duration: 90_000_000_000, leak: .stuckTeardown)
        let line = String(decoding: EventLines.line(ended, cgroups: [:], clock: Self.clock), as: UTF8.self)
        #expect(line == """
            {"time":"2025-12-06T00:00:04.000Z","event":"leak_ended","cookie":9,"inum":4026532101,"creator":null,"durationSeconds":90,"result":null,"leak":"stuck_teardown","device":null,"usageCount":null,"nsId":null}

            """)
        let printed = EventLines.readable(try EventSummary.decode(line: line))
        #expect(printed == "00:00:04.000 leak_ended   4026532101 -       -                90.000s    stuck_teardown", "\(printed)")
    }

    @Test("a teardown's wait names the device and its usage count")
    func teardownWaiting() throws {
        let waiting = LifecycleEvent(kind: .teardownWaiting, timestamp: 5_000_000_000, cookie: 9, inum: 4_026_532_101,
                                     duration: 70_000_000_000, device: "lo", usageCount: 2)
        let line = String(decoding: EventLines.line(waiting, cgroups: [:], clock: Self.clock), as: UTF8.self)
        #expect(line.hasSuffix(#""event":"teardown_waiting","cookie":9,"inum":4026532101,"creator":null,"durationSeconds":70,"result":null,"leak":null,"device":"lo","usageCount":2,"nsId":null}"# + "\n"),
                "\(line)")
        let printed = EventLines.readable(try EventSummary.decode(line: line))
        #expect(printed == "00:00:05.000 teardown_waiting 4026532101 -       -                70.000s    waiting for lo (usage count 2)", "\(printed)")
    }

    @Test("where the kernel's namespace ids are the cookies, each line names its nsId; a failed creation none")
    func nsId() {
        let freed = LifecycleEvent(kind: .freed, timestamp: 1_000_000_000, cookie: 4242, inum: 4_026_532_102)
        let failed = LifecycleEvent(kind: .setupFailed, timestamp: 1_000_000_000, cookie: 0, inum: 0, result: -28)
        let text = String(decoding: EventLines.render([freed, failed], cgroups: [:], clock: Self.clock, nsIds: true).readableBytesView,
                          as: UTF8.self)
        let lines = text.split(separator: "\n")
        #expect(lines.first?.hasSuffix(#","nsId":4242}"#) == true, "\(text)")
        #expect(lines.last?.hasSuffix(#","nsId":null}"#) == true, "\(text)")
    }

    @Test("durations read as a person would say them", arguments: [
        (0.0004, "0ms"), (0.85, "850ms"), (12.3456, "12.346s"), (1.05, "1.050s"), (3599.9994, "3599.999s"), (12_300.0, "3h25m"),
    ])
    func duration(seconds: Double, text: String) {
        #expect(EventLines.duration(seconds) == text)
    }
}
