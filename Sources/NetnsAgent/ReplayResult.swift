import NetnsCore
import NetnsExposition
import NetnsSystem

/// A recording fed through the same aggregator and renderers as the live agent: the
/// `/metrics` and `/namespaces` it would have served at the recording's end.
public struct ReplayResult: Sendable {
    /// The state at the end of the recording.
    public let snapshot: AgentState.Snapshot
    /// The recording's "now": its end entry, or its newest timestamp.
    public let now: UInt64
    /// The clock mapping of the recorded host.
    public let clock: ClockMapping

    /// The largest recording read (4 GiB).
    public static let maximumFileSize = 4 << 30

    /// Reads and replays the recording at `path`.
    public init(path: String, thresholds: LeakThresholds = LeakThresholds()) throws {
        guard let bytes = readFileBytes(path, limit: Self.maximumFileSize) else {
            throw Recording.FormatError(offset: 0, problem: "cannot read the file")
        }
        try self.init(bytes: bytes, thresholds: thresholds)
    }

    /// Replays a recording held in memory.
    public init(bytes: [UInt8], thresholds: LeakThresholds = LeakThresholds()) throws(Recording.FormatError) {
        let (offset, entries) = try Recording.decode(bytes)
        let state = AgentState(aggregator: Aggregator(leakThresholds: thresholds))
        var end: UInt64?
        var events: [NetnsEvent] = []
        var paths: [UInt64: String] = [:]
        func flush() {
            guard !events.isEmpty || !paths.isEmpty else { return }
            state.ingest(events, decodeErrors: 0, cgroupPaths: paths)
            events.removeAll()
            paths.removeAll()
        }
        for entry in entries {
            switch entry {
            case .event(let event): events.append(event)
            case .cgroupPath(let id, let path): paths[id] = path
            case .holderScan(let scan):
                flush()
                state.apply(scan)
            case .end(let timestamp): end = timestamp
            case .unreported(let total):
                flush()
                state.countUnreported(total: total)
            case .deviceWait(let wait):
                flush()
                state.apply([wait])
            }
        }
        flush()
        snapshot = state.snapshot()
        now = end ?? snapshot.aggregator.latestTimestamp
        clock = ClockMapping(realtimeOffset: offset)
    }

    /// The `/metrics` text.
    public var metrics: String { MetricsExposition.render(snapshot, now: now) }
    /// The `/namespaces` JSON.
    public var namespaces: String { NamespacesDocument.render(snapshot, clock: clock, now: now) }
}

