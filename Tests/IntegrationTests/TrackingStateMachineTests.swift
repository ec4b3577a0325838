import BPFKit
import BPFTestObjects
import CNetnsEvent
import Foundation
import NetnsCore
import Testing

/// The kernel side's tracking state machine (bpf/netns_track.bpf.h), run for real by the
/// kernel's BPF_PROG_TEST_RUN on made-up namespace readings (Tests/BPFTestObjects): what it
/// sends, what it keeps in `tracked`, what it counts. Root: it loads BPF programs.
@Suite("Tracking state machine (BPF)", .serialized)
struct TrackingStateMachineTests {
    /// `struct tracking_test_step` of tracking_test.bpf.c.
    struct Step: BitwiseCopyable {
        var net: UInt64
        var cookie: UInt64
        var inum: UInt32
        var active: Int32
        var passive: Int32
        var op: UInt32

        static let created: UInt32 = 1, found: UInt32 = 2, released: UInt32 = 3, gone: UInt32 = 4, fillEvents: UInt32 = 5
    }

    /// The test object loaded with a `tracked` map of `capacity` entries and the smallest ring
    /// buffer, and a reader of the events it sends.
    final class Machine {
        let object: BPFObject
        let program: BPFProgram
        let steps: BPFMap
        let tracked: BPFMap
        let stats: BPFMap
        private var reader: RingBufferReader!
        private let received = ReceivedEvents()

        init(capacity: UInt32 = 64) throws {
            let base64 = try #require(EmbeddedBPFObjects.base64ByName["tracking_test"])
            object = try BPFObject(name: "tracking_test", elf: try #require(Data(base64Encoded: base64)))
            try object.setMaxEntries(capacity, ofMap: "tracked")
            try object.setMaxEntries(capacity, ofMap: "dying")
            try object.setMaxEntries(UInt32(getpagesize()), ofMap: "events")
            try object.load()
            program = try object.program(named: "run_step")
            steps = try object.map(named: "step")
            tracked = try object.map(named: "tracked")
            stats = try object.map(named: "stats")
            let received = self.received
            reader = try RingBufferReader(map: try object.map(named: "events")) { bytes in
                if let event = try? NetnsEvent(wire: bytes) { received.events.append(event) }
            }
        }

        /// Runs one step; returns the events it sent that the buffer held (read, unless
        /// `reading` is false: they stay in the buffer).
        @discardableResult
        func run(_ op: UInt32, net: UInt64, cookie: UInt64 = 0, active: Int32 = 1, passive: Int32 = 1,
                 reading: Bool = true) throws -> [NetnsEvent] {
            try steps.update(at: 0, to: Step(net: net, cookie: cookie, inum: UInt32(truncatingIfNeeded: cookie), active: active,
                                             passive: passive, op: op))
            #expect(try program.run() == 0)
            return reading ? try drain() : []
        }

        /// The events sent and not read yet.
        func drain() throws -> [NetnsEvent] {
            received.events.removeAll()
            try reader.drain()
            return received.events
        }

        /// The followed namespaces by cookie, and their state.
        func followed() throws -> [UInt64: UInt32] {
            Dictionary(try tracked.values(as: netns_tracked.self, limit: 1024).map { ($0.cookie, $0.state) }) { first, _ in first }
        }

        func count(_ slot: netns_stat) throws -> UInt64 { try stats.perCPUSum(at: slot.rawValue) }
    }

    final class ReceivedEvents { var events: [NetnsEvent] = [] }

    static func kinds(_ events: [NetnsEvent]) -> [String] { events.map { "\($0.kind) \($0.cookie)" } }

    @Test("created, released, then a new namespace at the same address: each followed under its own identity, the old one seen out by a scan")
    func reusedAddress() throws {
        let machine = try Machine()
        #expect(Self.kinds(try machine.run(Step.created, net: 0x1000, cookie: 1)) == ["created 1"])
        #expect(try machine.followed() == [1: NETNS_TRACKED_ALIVE.rawValue])
        #expect(Self.kinds(try machine.run(Step.released, net: 0x1000, cookie: 1, active: 0)) == ["released 1"])
        #expect(try machine.followed() == [1: NETNS_TRACKED_RELEASED.rawValue])
        #expect(Self.kinds(try machine.run(Step.created, net: 0x1000, cookie: 2)) == ["created 2"])
        #expect(try machine.followed() == [1: NETNS_TRACKED_RELEASED.rawValue, 2: NETNS_TRACKED_ALIVE.rawValue])
        #expect(Self.kinds(try machine.run(Step.created, net: 0x1000, cookie: 2)) == [], "seen already: nothing new")
        #expect(Self.kinds(try machine.run(Step.gone, net: 0x1000, cookie: 1)) == ["freed 1"])
        #expect(try machine.followed() == [2: NETNS_TRACKED_ALIVE.rawValue])
        #expect(try ProbeStatistics(reading: { try machine.count($0) }) == ProbeStatistics())
    }

    @Test("a namespace found at the address of one never seen released: both followed; the old one, seen out, is released and freed")
    func foundOverAlive() throws {
        let machine = try Machine()
        #expect(Self.kinds(try machine.run(Step.found, net: 0x2000, cookie: 7)) == ["discovered 7"])
        #expect(Self.kinds(try machine.run(Step.found, net: 0x2000, cookie: 8)) == ["discovered 8"])
        #expect(try machine.followed() == [7: NETNS_TRACKED_ALIVE.rawValue, 8: NETNS_TRACKED_ALIVE.rawValue])
        #expect(Self.kinds(try machine.run(Step.gone, net: 0x2000, cookie: 7)) == ["released 7", "freed 7"])
        #expect(try machine.followed() == [8: NETNS_TRACKED_ALIVE.rawValue])
    }

    @Test("a namespace found with no active reference left is reported found and released together")
    func foundReleased() throws {
        let machine = try Machine()
        #expect(Self.kinds(try machine.run(Step.found, net: 0x3000, cookie: 9, active: 0)) == ["discovered 9", "released 9"])
        #expect(try machine.followed() == [9: NETNS_TRACKED_RELEASED.rawValue])
        #expect(Self.kinds(try machine.run(Step.gone, net: 0x3000, cookie: 9)) == ["freed 9"])
        #expect(try machine.followed().isEmpty)
    }

    @Test("with the ring buffer full, namespaces that live and die unsent are each reported by its identity once there is room, never counted without it")
    func unsentReportedLater() throws {
        let machine = try Machine()
        try machine.run(Step.fillEvents, net: 0, cookie: 0, reading: false)
        #expect(try machine.count(NETNS_STAT_RINGBUF_FULL) >= 1)
        try steps(machine, [(Step.created, 3), (Step.created, 4), (Step.created, 4), (Step.found, 4), (Step.created, 5)], net: 0x4000)
        #expect(try machine.followed() == [3: NETNS_TRACKED_ALIVE.rawValue, 4: NETNS_TRACKED_ALIVE.rawValue,
                                           5: NETNS_TRACKED_ALIVE.rawValue])
        let filler = try machine.drain()
        #expect(!filler.isEmpty && filler.allSatisfy { $0.kind == .refs })
        // Room again: a scan that finds each gone reports it found, released and freed, in order.
        #expect(Self.kinds(try machine.run(Step.gone, net: 0x4000, cookie: 3)) == ["discovered 3", "released 3", "freed 3"])
        #expect(Self.kinds(try machine.run(Step.gone, net: 0x4000, cookie: 4)) == ["discovered 4", "released 4", "freed 4"])
        #expect(Self.kinds(try machine.run(Step.gone, net: 0x4000, cookie: 4)) == [], "a second scan seeing it out finds nothing")
        #expect(try machine.followed() == [5: NETNS_TRACKED_ALIVE.rawValue])
        #expect(try machine.count(NETNS_STAT_UNREPORTED) == 0)
    }

    @Test("a full map: a new namespace is counted tracked_map_full and not reported, at a new address or a freed one's, until a namespace is seen out")
    func mapFull() throws {
        let machine = try Machine(capacity: 4)
        for cookie in UInt64(1)...4 { try machine.run(Step.created, net: 0x5000 + cookie, cookie: cookie) }
        #expect(try machine.followed().count == 4)
        #expect(Self.kinds(try machine.run(Step.created, net: 0x6000, cookie: 10)) == [], "not followed: not reported")
        #expect(Self.kinds(try machine.run(Step.created, net: 0x5001, cookie: 11)) == [])
        #expect(try machine.count(NETNS_STAT_TRACKED_FULL) == 2)
        #expect(try machine.count(NETNS_STAT_TRACKED_FAILED) == 0)
        #expect(Self.kinds(try machine.run(Step.gone, net: 0x5001, cookie: 1)) == ["released 1", "freed 1"])
        #expect(Self.kinds(try machine.run(Step.created, net: 0x5001, cookie: 11)) == ["created 11"])
        #expect(Set(try machine.followed().keys) == [11, 2, 3, 4])
        #expect(try machine.count(NETNS_STAT_TRACKED_FULL) == 2)
    }

    private func steps(_ machine: Machine, _ steps: [(UInt32, UInt64)], net: UInt64) throws {
        for (op, cookie) in steps { try machine.run(op, net: net, cookie: cookie, reading: false) }
    }
}
