/// Where a namespace is in its life.
public enum NamespaceState: String, Sendable, Hashable, CaseIterable {
    /// In use: its active count is above zero.
    case alive
    /// Released (last active reference gone) but its memory is not freed yet.
    case dying
    /// Its memory is released; kept for a while as history.
    case freed
}

/// Everything the agent knows about one network namespace, keyed by its cookie.
/// Times are CLOCK_MONOTONIC nanoseconds, as the events carry them.
public struct NamespaceRecord: Sendable, Hashable {
    // Stored fields are ordered to pack, and the times are kept as UInt64 with `Self.none`
    // for "not known": an optional UInt64 takes 16 bytes, and records are copied, moved and
    // read on the ingest path of every event (288 → 208 bytes a record).
    private static let none = UInt64.max
    /// The namespace's identity, unique per boot (never 0: the table marks a vacant place so).
    public internal(set) var cookie: UInt64
    private var createdTime = Self.none
    private var discoveredTime = Self.none
    private var releasedTime = Self.none
    private var freedTime = Self.none
    private var refsReadTime = Self.none
    private var tornDownTime = Self.none
    private var holdersScannedTime = Self.none
    private var tasklessTime = Self.none
    /// The task that created it, if the agent saw the creation.
    public var creator: TaskIdentity?
    /// A task that held it when it was discovered.
    public var discoveredHolder: TaskIdentity?
    /// Its inode number (what `/proc/PID/ns/net` and `lsns` show).
    public var inum: UInt32
    /// The last refcounts read, and when.
    public var refs: RefCounts?
    /// How it was discovered (`enum netns_event_source`: a task, a file, or only the kernel's
    /// namespace list).
    public var discoverySource: UInt32?
    /// What setup_net returned, where the probe set sees it.
    public var setupResult: Int32?
    /// Whether it is the agent's own (the host's) namespace.
    public var isHost = false
    /// What held it at the last holder scan.
    public var holders: [Holder] = []

    /// When it was created, if the agent saw the creation.
    public var createdAt: UInt64? {
        get { Self.time(createdTime) }
        set { createdTime = Self.stored(newValue) }
    }
    /// When the discovery pass found it, for namespaces older than the agent.
    public var discoveredAt: UInt64? {
        get { Self.time(discoveredTime) }
        set { discoveredTime = Self.stored(newValue) }
    }
    /// When its last active reference was dropped.
    public var releasedAt: UInt64? {
        get { Self.time(releasedTime) }
        set { releasedTime = Self.stored(newValue) }
    }
    /// When its memory was released.
    public var freedAt: UInt64? {
        get { Self.time(freedTime) }
        set { freedTime = Self.stored(newValue) }
    }
    /// When `refs` was read.
    public var refsReadAt: UInt64? {
        get { Self.time(refsReadTime) }
        set { refsReadTime = Self.stored(newValue) }
    }
    /// When its cleanup_net batch ended with its memory still held (passive references).
    public var tornDownAt: UInt64? {
        get { Self.time(tornDownTime) }
        set { tornDownTime = Self.stored(newValue) }
    }
    /// When the last holder scan ran.
    public var holdersScannedAt: UInt64? {
        get { Self.time(holdersScannedTime) }
        set { holdersScannedTime = Self.stored(newValue) }
    }
    /// Since when no task has had it as its namespace (nil while some task does).
    public var tasklessSince: UInt64? {
        get { Self.time(tasklessTime) }
        set { tasklessTime = Self.stored(newValue) }
    }

    @inline(__always)
    private static func time(_ stored: UInt64) -> UInt64? { stored == none ? nil : stored }

    /// `UInt64.max` nanoseconds (584 years of uptime) reads back as unknown.
    @inline(__always)
    private static func stored(_ time: UInt64?) -> UInt64 { time ?? none }

    /// Creates a record that knows only the namespace's identity.
    public init(cookie: UInt64, inum: UInt32) {
        self.cookie = cookie
        self.inum = inum
    }

    /// Where the namespace is in its life, from what has been seen of it.
    public var state: NamespaceState {
        if freedAt != nil { return .freed }
        if releasedAt != nil { return .dying }
        return .alive
    }

    /// When the agent first knew of it: creation, or discovery.
    public var firstSeenAt: UInt64? { createdAt ?? discoveredAt }
}
