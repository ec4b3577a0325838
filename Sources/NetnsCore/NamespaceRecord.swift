import CNetnsEvent

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
    // Stored fields are ordered to pack, and the times are `CompactTime`s: an optional UInt64
    // takes 16 bytes, and records are copied and read on the ingest path of every event
    // (288 → 208 bytes a record).
    /// The namespace's identity, unique per boot (never 0: the table marks a vacant place so).
    public internal(set) var cookie: UInt64
    /// When it was created, if it was created while the agent ran: exact when a creation hook
    /// saw it, else (`createdAtIsEstimate`) when it was first found, the latest it can have been.
    @CompactTime public var createdAt: UInt64?
    /// For a creation not seen: the earliest it can have been (see `NetnsEvent.createdAfter`).
    @CompactTime public var createdAfter: UInt64?
    /// When the discovery pass found it, for namespaces older than the agent.
    @CompactTime public var discoveredAt: UInt64?
    /// When its last active reference was dropped.
    @CompactTime public var releasedAt: UInt64?
    /// When its memory was released.
    @CompactTime public var freedAt: UInt64?
    /// When `refs` was read.
    @CompactTime public var refsReadAt: UInt64?
    /// When its cleanup_net batch ended with its memory still held (passive references).
    @CompactTime public var tornDownAt: UInt64?
    /// When the last holder scan ran.
    @CompactTime public var holdersScannedAt: UInt64?
    /// Since when no task has had it as its namespace (nil while some task does).
    @CompactTime public var tasklessSince: UInt64?
    /// The task that created it, if a creation hook saw the creation.
    public var creator: TaskIdentity?
    /// A task that held it when it was discovered, or found after its creation went unseen.
    public var discoveredHolder: TaskIdentity?
    /// Its inode number (what `/proc/PID/ns/net` and `lsns` show).
    public var inum: UInt32
    /// The last refcounts read, and when.
    public var refs: RefCounts?
    /// How it was discovered or, its creation unseen, found (`enum netns_event_source`: a task,
    /// a file, the kernel's namespace list, a cleanup batch, a task's exec, exit or fork).
    public var discoverySource: UInt32?
    /// What setup_net returned, where the probe set sees it.
    public var setupResult: Int32?
    /// Whether `createdAt` is when it was first found, its creation unseen (then
    /// `createdAfter` bounds it from below, and it has no creator and no lifetime).
    public var createdAtIsEstimate = false
    /// Whether it is the agent's own (the host's) namespace.
    public var isHost = false
    /// What held it at the last holder scan.
    public var holders: [Holder] = []

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

    /// Whether both ends of its lifetime are known: a creation seen, and its release.
    public var lifetimeKnown: Bool { createdAt != nil && !createdAtIsEstimate && releasedAt != nil }
}

/// An optional time in the 8 bytes of a `UInt64`: `UInt64.max` nanoseconds (584 years of
/// uptime) stands for "not known".
@propertyWrapper
public struct CompactTime: Sendable, Hashable {
    private var stored = UInt64.max

    /// Not known.
    public init() {}

    public var wrappedValue: UInt64? {
        @inline(__always) get { stored == .max ? nil : stored }
        @inline(__always) set { stored = newValue ?? .max }
    }
}

// What the exporters show of a record: the rules, kept here beside the record, not in a renderer.
extension NamespaceRecord {
    /// Alive, and held by no task, file or mount at the last holder scan since it was found:
    /// pinned only inside the kernel, whichever way it was found (the host's is not scanned),
    /// unless `listns(2)` showed at start-up that user space holds it out of the agent's sight.
    public var isKernelOnly: Bool {
        state == .alive && !isHost && holdersScannedAt != nil && holders.isEmpty
            && discoverySource != NETNS_SRC_DISCOVERY_LISTNS.rawValue
    }

    /// How a namespace older than the agent, or one whose creation was not seen, was found
    /// (`discoveredBy` in `/namespaces`); nil for one seen created.
    public var discoveredBy: String? {
        guard createdAt == nil || createdAtIsEstimate, let source = discoverySource else { return nil }
        return NetnsEvent.sourceName(source)
    }

    /// The task seen holding it when it was found (`holder` in `/namespaces`): not shown for
    /// one found by a scan, whose task is whichever one the scan ran in.
    public var shownHolder: TaskIdentity? {
        discoverySource.map(NetnsEvent.isScan) == true ? nil : discoveredHolder
    }
}
