import NetnsCore
import Synchronization

/// What the agent knows, shared between the thread that reads events, the periodic scans
/// and the HTTP server. Every input also goes to the recorder, when there is one, in the
/// order it was applied.
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
        /// The creators' cgroups (path, and the container it names), by cgroup id.
        public var cgroups: [UInt64: CgroupInfo] = [:]
        /// Entries that could not be written to the recording.
        public var recordingErrors: UInt64 = 0
        /// Failed writes of the `--textfile` output.
        public var textfileErrors: UInt64 = 0
        /// The capabilities kept after start-up (bit N = capability N), or nil if not dropped.
        public var capabilities: UInt64?
        /// What the HTTP server refused, as of the rendering.
        public var httpRefusals = HTTPRefusals()
        /// Changes of the `--web.config.file` (or the files it names) that could not be loaded.
        public var webConfigReloadFailures: UInt64 = 0
        /// The agent process's own CPU, memory and descriptors, read when `/metrics` is served
        /// (never in the `--textfile` output: node_exporter reports its own `process_*`).
        public var process: ProcessStatistics?

        /// Creates a snapshot around an aggregator.
        public init(aggregator: Aggregator, probeSet: ProbeSetKind? = nil) {
            self.aggregator = aggregator
            self.probeSet = probeSet
        }
    }

    private let state: Mutex<Snapshot>
    private let recorder: Recorder?

    /// Creates the state around an empty aggregator, recording every input to `recorder`.
    public init(aggregator: Aggregator = Aggregator(), probeSet: ProbeSetKind? = nil, recorder: Recorder? = nil) {
        state = Mutex(Snapshot(aggregator: aggregator, probeSet: probeSet))
        self.recorder = recorder
    }

    /// A copy of the current state (cheap: the collections are copy-on-write).
    public func snapshot() -> Snapshot { state.withLock { $0 } }

    /// Applies a batch of decoded events and the cgroup paths newly learnt for them,
    /// counting the records that failed to decode.
    public func ingest(_ events: [NetnsEvent], decodeErrors: Int, cgroupPaths: [UInt64: String] = [:]) {
        state.withLock { snapshot in
            for (id, path) in cgroupPaths where snapshot.cgroups[id] == nil {
                snapshot.cgroups[id] = CgroupInfo(path: path)
                record(.cgroupPath(id: id, path: path), into: &snapshot)
            }
            for event in events { record(.event(event), into: &snapshot) }
            snapshot.aggregator.apply(events)
            snapshot.recordsReceived += UInt64(events.count + decodeErrors)
            snapshot.decodeErrors += UInt64(decodeErrors)
        }
    }

    /// Applies a holder scan.
    public func apply(_ scan: HolderScan) {
        state.withLock { snapshot in
            record(.holderScan(scan), into: &snapshot)
            snapshot.aggregator.apply(scan)
            snapshot.discoveryPasses += 1
            let live = Set(snapshot.aggregator.namespaces.values.compactMap { $0.creator?.cgroupID })
            if snapshot.cgroups.count > 4 * max(live.count, 1024) {
                snapshot.cgroups = snapshot.cgroups.filter { live.contains($0.key) }
            }
        }
    }

    /// Takes in the kernel side's count of namespaces that lived and died unreported.
    public func countUnreported(total: UInt64) {
        state.withLock { snapshot in
            guard total > snapshot.aggregator.counters.unreported else { return }
            record(.unreported(total: total), into: &snapshot)
            snapshot.aggregator.countUnreported(total: total)
        }
    }

    /// Changes the bookkeeping beside the aggregator.
    public func update(_ body: (inout Snapshot) -> Void) {
        state.withLock { body(&$0) }
    }

    /// Ends the recording, if any, with the time a replay should take as "now".
    public func finishRecording(at timestamp: UInt64) throws {
        try state.withLock { snapshot in
            record(.end(timestamp: timestamp), into: &snapshot)
            try recorder?.close()
        }
    }

    private func record(_ entry: Recording.Entry, into snapshot: inout Snapshot) {
        guard let recorder else { return }
        do {
            try recorder.write(entry)
        } catch {
            snapshot.recordingErrors += 1
        }
    }
}

/// A creator's cgroup: its path, and the container the path names (parsed once).
public struct CgroupInfo: Sendable, Hashable {
    /// The cgroup v2 path.
    public var path: String
    /// The container it names, if any.
    public var container: ContainerIdentity?

    /// Parses `path` once.
    public init(path: String) {
        self.path = path
        self.container = ContainerIdentity.parse(cgroupPath: path)
    }
}

/// What the HTTP server refused, by reason.
public struct HTTPRefusals: Sendable, Equatable {
    /// Connections closed at once: too many were open.
    public var connectionLimit: UInt64 = 0
    /// Connections closed because a request did not arrive whole in time, or the client stalled.
    public var timeout: UInt64 = 0
    /// Malformed or oversized requests.
    public var badRequest: UInt64 = 0
    /// Requests without valid credentials, when basic authentication is on.
    public var unauthorized: UInt64 = 0
    /// Connections whose TLS handshake failed (a plain-HTTP client, no or a bad client certificate).
    public var tlsHandshake: UInt64 = 0

    /// No refusals.
    public init() {}
}
