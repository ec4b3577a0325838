import NetnsCore

/// A consistent copy of everything the exporters show.
public struct AgentSnapshot: Sendable {
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
    /// Refreshes run (`RefreshSchedule` says when).
    public var refreshes: UInt64 = 0
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
    /// The followers of `GET /events`, as of the rendering.
    public var eventStream = EventStreamStatistics()
    /// The `--events-file` writer's counts (nil without one).
    public var eventsFile: EventsFileStatistics?
    /// The kernel log reader's counts (nil when the log is not read).
    public var kernelLog: KernelLogStatistics?
    /// Whether the kernel's namespace ids (`ioctl(NS_GET_ID)`, `listns(2)`) are the cookies:
    /// then each namespace's cookie is shown as its `nsId` too.
    public var nsIdsAreCookies = false
    /// Whether the start-up inventory asked `listns(2)` for every active namespace.
    public var listnsUsed = false
    /// The namespaces `listns(2)` listed at start-up that no task, file or reachable mount
    /// showed, until the list walk's discovery of each is applied (and marked `listns`).
    public var listedOnlyByListns: Set<UInt64> = []
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

/// The followers of the event stream.
public struct EventStreamStatistics: Sendable, Equatable {
    /// Connections following `GET /events` now.
    public var clients = 0
    /// Followers cut off for falling too far behind.
    public var cutOff: UInt64 = 0

    public init(clients: Int = 0, cutOff: UInt64 = 0) {
        self.clients = clients
        self.cutOff = cutOff
    }
}

/// What the `--events-file` writer has done.
public struct EventsFileStatistics: Sendable, Equatable {
    /// Lines written.
    public var written: UInt64 = 0
    /// Lines not written: the writes fell too far behind, or failed.
    public var dropped: UInt64 = 0
    /// Writes, rotations or re-opens that failed.
    public var errors: UInt64 = 0
    /// Times the file was rotated.
    public var rotations: UInt64 = 0

    public init() {}
}

/// What the kernel log reader has seen.
public struct KernelLogStatistics: Sendable, Equatable {
    /// Records the kernel overwrote before they were read.
    public var overwritten: UInt64 = 0

    public init(overwritten: UInt64 = 0) {
        self.overwritten = overwritten
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
