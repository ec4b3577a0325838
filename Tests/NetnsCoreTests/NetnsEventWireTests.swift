import CNetnsEvent
import Testing
@testable import NetnsCore

@Suite("Event wire format")
struct NetnsEventWireTests {
    @Test("the record layout has no padding surprises: 88 bytes, as the BPF side writes it")
    func layout() {
        #expect(NetnsEvent.wireSize == 88)
        #expect(MemoryLayout<netns_event>.offset(of: \.comm) == 64)
        #expect(MemoryLayout<netns_event>.offset(of: \.created_after_ns) == 80)
        #expect(NETNS_EVENT_VERSION == 3)
    }

    @Test("an event survives encoding and decoding", arguments: NetnsEvent.Kind.allCases)
    func roundTrip(kind: NetnsEvent.Kind) throws {
        let original = NetnsEvent(
            kind: kind, timestamp: 123_456_789, cookie: 0xDEAD_BEEF_0001, inum: 4_026_532_001,
            refs: RefCounts(active: 3, passive: 7),
            task: TaskIdentity(pid: 42, tid: 43, comm: "containerd-shim", cgroupID: 9876, uid: 1000, ppid: 41),
            result: -28, source: 4, createdAfter: 123_000_000)
        let decoded = try original.wire.withUnsafeBytes { try NetnsEvent(wire: $0) }
        #expect(decoded == original)
    }

    @Test("unknown refcounts decode as nil")
    func unknownRefs() throws {
        let event = NetnsEvent(kind: .released, timestamp: 1, cookie: 5, refs: nil)
        let decoded = try event.wire.withUnsafeBytes { try NetnsEvent(wire: $0) }
        #expect(decoded.refs == nil)
    }

    @Test("a comm longer than the kernel's 15 bytes is cut, not overflowed")
    func longComm() throws {
        let event = NetnsEvent(kind: .created, timestamp: 1, cookie: 5,
                               task: TaskIdentity(comm: "a-very-long-command-name"))
        let decoded = try event.wire.withUnsafeBytes { try NetnsEvent(wire: $0) }
        #expect(decoded.task.comm == "a-very-long-com")
    }

    @Test("a short record is an error, not a crash")
    func truncated() {
        let bytes = Array(NetnsEvent(kind: .created, timestamp: 1).wire.prefix(40))
        #expect(throws: EventDecodingError.truncated(byteCount: 40)) {
            try bytes.withUnsafeBytes { try NetnsEvent(wire: $0) }
        }
    }

    @Test("an unknown kind is an error, not a crash")
    func unknownKind() {
        var bytes = NetnsEvent(kind: .created, timestamp: 1).wire
        bytes[24] = 0xFF  // `kind` follows three u64 fields
        #expect(throws: EventDecodingError.unknownKind(0xFF)) {
            try bytes.withUnsafeBytes { try NetnsEvent(wire: $0) }
        }
    }

    @Test("each kind is decoded from its own number, and only it (the decoder's switch is written out)")
    func kindNumbers() {
        for kind in NetnsEvent.Kind.allCases {
            #expect(NetnsEvent.Kind(rawValue: kind.rawValue) == kind)
        }
        #expect(Set(NetnsEvent.Kind.allCases.map(\.rawValue)) == Set(1...10))
        #expect(NetnsEvent.Kind(rawValue: NETNS_EV_CREATED.rawValue) == .created)
        #expect(NetnsEvent.Kind(rawValue: NETNS_EV_TORN_DOWN.rawValue) == .tornDown)
        for outside: UInt32 in [0, 11, .max] { #expect(NetnsEvent.Kind(rawValue: outside) == nil) }
    }
}
