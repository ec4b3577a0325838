import CNetnsEvent

/// Counters the BPF programs keep of what they could not do: one per slot of the kernel side's
/// `stats` array, named by the list in `bpf/netns_event.h` (`NETNS_STATS`).
public struct ProbeStatistics: Sendable, Hashable {
    /// The count of each slot, by slot.
    public private(set) var counts: [UInt64]

    /// Every counter zero.
    public init() {
        counts = Array(repeating: 0, count: Int(NETNS_STAT_MAX.rawValue))
    }

    /// Counters read from the kernel side, by slot.
    public init<Failure: Error>(reading count: (netns_stat) throws(Failure) -> UInt64) throws(Failure) {
        self.init()
        for slot in Self.slots { counts[Int(slot.rawValue)] = try count(slot) }
    }

    /// Counters as given, the others zero (tests, replays).
    public init(_ given: [netns_stat: UInt64]) {
        self.init()
        for (slot, value) in given { self[slot] = value }
    }

    /// Every slot of the `stats` array.
    public static let slots = (0..<NETNS_STAT_MAX.rawValue).map { netns_stat(rawValue: $0) }

    /// The count of one slot.
    public subscript(slot: netns_stat) -> UInt64 {
        get { counts[Int(slot.rawValue)] }
        set { counts[Int(slot.rawValue)] = newValue }
    }

    /// Events dropped because the ring buffer was full.
    public var eventsLost: UInt64 { self[NETNS_STAT_RINGBUF_FULL] }
    /// Namespaces that lived and died while no event about them could be sent.
    public var unreported: UInt64 { self[NETNS_STAT_UNREPORTED] }

    /// The failures inside the BPF programs, by the reason `netns_tracer_bpf_errors_total`
    /// names them, in slot order.
    public var errors: [(reason: String, count: UInt64)] {
        Self.slots.filter { netns_stat_is_error($0.rawValue) != 0 }.map { (Self.name(of: $0), self[$0]) }
    }

    /// A slot's name in the list.
    public static func name(of slot: netns_stat) -> String {
        netns_stat_name(slot.rawValue).map { String(cString: $0) } ?? "slot_\(slot.rawValue)"
    }
}
