import NetnsCore
import Synchronization

/// What the agent knows, shared between the thread that reads events and the HTTP server.
public final class AgentState: Sendable {
    /// A consistent copy of everything the exporters show.
    public struct Snapshot: Sendable {
        /// The namespaces and counters.
        public var aggregator: Aggregator
        /// The probe set in use.
        public var probeSet: ProbeSetKind?
        /// The kernel side's failure counters, as last read.
        public var probeStatistics = ProbeStatistics()
        /// Records received from the ring buffer, decodable or not.
        public var recordsReceived: UInt64 = 0
        /// Records that could not be decoded (wrong size or unknown kind).
        public var decodeErrors: UInt64 = 0
        /// Completed discovery passes.
        public var discoveryPasses: UInt64 = 0
    }

    private let state: Mutex<Snapshot>

    /// Creates the state around an empty aggregator.
    public init(aggregator: Aggregator = Aggregator(), probeSet: ProbeSetKind? = nil) {
        state = Mutex(Snapshot(aggregator: aggregator, probeSet: probeSet))
    }

    /// A copy of the current state (cheap: the collections are copy-on-write).
    public func snapshot() -> Snapshot { state.withLock { $0 } }

    /// Applies a batch of decoded events, counting the records that failed to decode.
    public func ingest(_ events: [NetnsEvent], decodeErrors: Int) {
        state.withLock { snapshot in
            snapshot.aggregator.apply(events)
            snapshot.recordsReceived += UInt64(events.count + decodeErrors)
            snapshot.decodeErrors += UInt64(decodeErrors)
        }
    }

    /// Changes the bookkeeping beside the aggregator.
    public func update(_ body: (inout Snapshot) -> Void) {
        state.withLock { body(&$0) }
    }
}
