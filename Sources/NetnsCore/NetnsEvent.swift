import CNetnsEvent

/// One thing the kernel reported about network namespaces, decoded from the
/// `struct netns_event` that bpf/netns_event.h defines for both sides.
public struct NetnsEvent: Sendable, Hashable {
    /// What happened; raw values are those of `enum netns_event_kind`.
    public enum Kind: UInt32, Sendable, CaseIterable, CustomStringConvertible {
        case created = 1
        case createFailed = 2
        case setup = 3
        case released = 4
        case freed = 5
        case discovered = 6
        case refs = 7
        case cleanupStart = 8
        case cleanupEnd = 9
        case tornDown = 10

        /// The kind numbered `rawValue` (`enum netns_event_kind`), or nil. Written out rather
        /// than synthesized so that it is always inlined into the wire decoder: once outlined
        /// (the optimizer's choice changed as the module grew), ingest was 8 % slower.
        @inlinable @inline(__always)
        public init?(rawValue: UInt32) {
            switch rawValue {
            case 1: self = .created
            case 2: self = .createFailed
            case 3: self = .setup
            case 4: self = .released
            case 5: self = .freed
            case 6: self = .discovered
            case 7: self = .refs
            case 8: self = .cleanupStart
            case 9: self = .cleanupEnd
            case 10: self = .tornDown
            default: return nil
            }
        }

        /// The name used in metric labels and logs.
        public var description: String {
            switch self {
            case .created: "created"
            case .createFailed: "create_failed"
            case .setup: "setup"
            case .released: "released"
            case .freed: "freed"
            case .discovered: "discovered"
            case .refs: "refs"
            case .cleanupStart: "cleanup_start"
            case .cleanupEnd: "cleanup_end"
            case .tornDown: "torn_down"
            }
        }
    }

    /// What happened.
    public var kind: Kind
    /// When, in nanoseconds of CLOCK_MONOTONIC.
    public var timestamp: UInt64
    /// The namespace's identity: unique per boot, unlike `inum`. Zero for events about no net.
    public var cookie: UInt64
    /// The inode number `/proc/PID/ns/net` shows; the kernel reuses it after a free.
    public var inum: UInt32
    /// The refcounts read with the event, when they could be read.
    public var refs: RefCounts?
    /// The task that acted (or, for a discovery, a task that holds the namespace).
    public var task: TaskIdentity
    /// Zero or a negative errno, for the events that have a result.
    public var result: Int32
    /// The kernel hook that produced the event (`enum netns_event_source`).
    public var source: UInt32

    /// For a creation or a discovery: the earliest the namespace can have been created, in
    /// nanoseconds of CLOCK_MONOTONIC (0: nothing bounds it). Exact for a creation hook's event;
    /// for a namespace found afterwards, the start of the last complete walk of the kernel's
    /// namespace list that did not show it.
    public var createdAfter: UInt64

    /// Whether a creation event is the creation hook's own (copy_net_ns, unshare, clone or
    /// fork): the task made the namespace, at `timestamp`. False for a namespace found after
    /// it was made, by a walk of the kernel's list, a cleanup batch, a scan after lost events,
    /// or as the namespace of a task at its exec, exit or fork, or of a holder the iterators
    /// found: that task holds it but may have entered it with setns rather than made it, and
    /// nothing is guessed.
    public var seesCreation: Bool { !Self.isSighting(source) }

    /// Whether `source` reports a namespace found rather than made (`seesCreation`).
    public static func isSighting(_ source: UInt32) -> Bool { isScan(source) || namesHolder(source) }

    /// Whether `source` is a scan (a refresh, a cleanup batch, a walk of the kernel's list, a
    /// reconciliation): the event's task is whoever ran it, not a creator or a holder.
    public static func isScan(_ source: UInt32) -> Bool {
        switch source {
        case NETNS_SRC_REFRESH.rawValue, NETNS_SRC_CLEANUP_START.rawValue, NETNS_SRC_CLEANUP_END.rawValue,
             NETNS_SRC_DISCOVERY_LIST.rawValue, NETNS_SRC_DISCOVERY_LISTNS.rawValue, NETNS_SRC_RECONCILE.rawValue:
            true
        default:
            false
        }
    }

    /// Whether a namespace found by `source` was found through a task that holds it (the
    /// event's task): a task or file iterator's, or a task at its exec, exit or fork. Scans
    /// name only whoever ran them.
    public static func namesHolder(_ source: UInt32) -> Bool {
        switch source {
        case NETNS_SRC_DISCOVERY_TASK.rawValue, NETNS_SRC_DISCOVERY_FILE.rawValue, NETNS_SRC_EXEC.rawValue,
             NETNS_SRC_EXIT.rawValue, NETNS_SRC_FORK_PARENT.rawValue:
            true
        default:
            false
        }
    }

    /// Marks as found by `listns(2)` (`NETNS_SRC_DISCOVERY_LISTNS`) the discovery of each
    /// namespace in `cookies` by a scan (the walk of the kernel's list, or a cleanup batch's
    /// at start-up): those listns listed as active at start-up though no task, file or
    /// reachable mount showed them. Each is marked once and leaves `cookies`.
    public static func markListedByListns(_ events: inout [NetnsEvent], cookies: inout Set<UInt64>) {
        for index in events.indices where events[index].kind == .discovered
            && isScan(events[index].source)
            && cookies.remove(events[index].cookie) != nil {
            events[index].source = NETNS_SRC_DISCOVERY_LISTNS.rawValue
        }
    }

    /// How `source` found a namespace, as `/namespaces` names it (`discoveredBy`).
    public static func sourceName(_ source: UInt32) -> String {
        switch source {
        case NETNS_SRC_DISCOVERY_TASK.rawValue: "task"
        case NETNS_SRC_DISCOVERY_FILE.rawValue: "file"
        case NETNS_SRC_DISCOVERY_LIST.rawValue: "kernel-list"
        case NETNS_SRC_DISCOVERY_LISTNS.rawValue: "listns"
        case NETNS_SRC_CLEANUP_START.rawValue, NETNS_SRC_CLEANUP_END.rawValue: "cleanup-batch"
        case NETNS_SRC_REFRESH.rawValue: "refresh"
        case NETNS_SRC_EXEC.rawValue: "exec"
        case NETNS_SRC_EXIT.rawValue: "exit"
        case NETNS_SRC_FORK_PARENT.rawValue: "fork"
        default: "other"
        }
    }

    /// Creates an event; the defaults suit tests and replays that care about few fields.
    @inlinable
    public init(
        kind: Kind, timestamp: UInt64, cookie: UInt64 = 0, inum: UInt32 = 0,
        refs: RefCounts? = nil, task: TaskIdentity = .init(), result: Int32 = 0, source: UInt32 = 0,
        createdAfter: UInt64 = 0
    ) {
        self.kind = kind
        self.timestamp = timestamp
        self.cookie = cookie
        self.inum = inum
        self.refs = refs
        self.task = task
        self.result = result
        self.source = source
        self.createdAfter = createdAfter
    }
}

/// A namespace's two reference counts at one moment.
public struct RefCounts: Sendable, Hashable {
    /// Active references: users of the namespace. Zero means it is being torn down.
    public var active: Int32
    /// Passive references: holders of the memory only. Zero means the memory is released.
    public var passive: Int32

    /// Creates a reading.
    @inlinable
    public init(active: Int32, passive: Int32) {
        self.active = active
        self.passive = passive
    }
}

/// Who did something: enough to find the process and its container after it is gone.
public struct TaskIdentity: Sendable, Hashable {
    /// The process id (kernel tgid).
    public var pid: UInt32
    /// The thread id (kernel pid).
    public var tid: UInt32
    /// The task's command name as the kernel keeps it: at most 15 bytes, NUL-padded.
    /// (Held as bytes so decoding an event allocates nothing; `comm` makes the string.)
    public var commBytes: CommBytes
    /// The cgroup v2 id (the inode number of its cgroup directory), 0 when unknown.
    public var cgroupID: UInt64
    /// The real user id.
    public var uid: UInt32
    /// The parent's process id.
    public var ppid: UInt32

    /// Creates an identity.
    public init(pid: UInt32 = 0, tid: UInt32 = 0, comm: String = "", cgroupID: UInt64 = 0, uid: UInt32 = 0, ppid: UInt32 = 0) {
        self.init(pid: pid, tid: tid, commBytes: CommBytes(comm), cgroupID: cgroupID, uid: uid, ppid: ppid)
    }

    /// Creates an identity from the kernel's 16 command-name bytes (no string is made).
    @inlinable
    public init(pid: UInt32, tid: UInt32, commBytes: CommBytes, cgroupID: UInt64, uid: UInt32, ppid: UInt32) {
        self.pid = pid
        self.tid = tid
        self.commBytes = commBytes
        self.cgroupID = cgroupID
        self.uid = uid
        self.ppid = ppid
    }
}

extension TaskIdentity {
    /// The task's command name.
    public var comm: String {
        get { commBytes.string }
        set { commBytes = CommBytes(newValue) }
    }
}

/// A task's command name in the kernel's fixed 16-byte form (TASK_COMM_LEN).
public struct CommBytes: Sendable, Hashable {
    /// The 16 bytes, NUL-padded.
    public var low: UInt64
    public var high: UInt64

    /// The bytes of `comm`, cut to 15 bytes as the kernel would.
    public init(_ comm: String) {
        var raw = (UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &raw) { bytes in
            for (index, byte) in comm.utf8.prefix(15).enumerated() { bytes[index] = byte }
        }
        (low, high) = raw
    }

    /// Takes 16 bytes as they are.
    @inlinable
    public init(low: UInt64, high: UInt64) {
        self.low = low
        self.high = high
    }

    /// The name up to its first NUL.
    public var string: String {
        withUnsafeBytes(of: (low, high)) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
