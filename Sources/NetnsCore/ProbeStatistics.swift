/// Counters the BPF programs keep of what they could not do.
public struct ProbeStatistics: Sendable, Hashable {
    /// Events dropped because the ring buffer was full.
    public var eventsLost: UInt64 = 0
    /// Namespaces that could not be tracked because the map was full.
    public var trackedMapFull: UInt64 = 0
    /// Namespaces that could not be tracked for another reason (the map busy on that CPU).
    public var trackingFailures: UInt64 = 0
    /// Namespace-creating syscalls that could not be followed because the map was full.
    public var pendingMapFull: UInt64 = 0
    /// Kernel reads that failed (the value was reported as unknown).
    public var readFailures: UInt64 = 0
    /// Released namespaces that could not join the dying set (their teardown is then seen by
    /// the periodic refresh only).
    public var dyingSetFull: UInt64 = 0
    /// Namespaces that lived and died while no event about them could be sent.
    public var unreported: UInt64 = 0

    /// Creates statistics.
    public init(eventsLost: UInt64 = 0, trackedMapFull: UInt64 = 0, trackingFailures: UInt64 = 0, pendingMapFull: UInt64 = 0,
                readFailures: UInt64 = 0, dyingSetFull: UInt64 = 0, unreported: UInt64 = 0) {
        self.eventsLost = eventsLost
        self.trackedMapFull = trackedMapFull
        self.trackingFailures = trackingFailures
        self.pendingMapFull = pendingMapFull
        self.readFailures = readFailures
        self.dyingSetFull = dyingSetFull
        self.unreported = unreported
    }
}
