import CNetnsEvent

/// Something that keeps a namespace alive, found by a holder scan.
public struct Holder: Sendable, Hashable {
    /// How it holds the namespace.
    public enum Kind: String, Sendable, CaseIterable {
        /// A task whose network namespace it is.
        case task
        /// A bind mount of it (`ip netns add`, CNI pins), in some mount namespace.
        case mount
        /// An open nsfs file descriptor (`/proc/PID/ns/net`, `/run/netns/NAME` opened).
        case fd
        /// An open socket that lives in it.
        case socket
    }

    /// How it holds the namespace.
    public var kind: Kind
    /// The holding process (for a mount: a process in that mount namespace).
    public var pid: UInt32
    /// The holding process's command name.
    public var comm: String
    /// The mount point, for a mount.
    public var path: String?
    /// The descriptor number, for an fd or a socket.
    public var fd: Int32?

    /// Creates a holder.
    public init(kind: Kind, pid: UInt32, comm: String, path: String? = nil, fd: Int32? = nil) {
        self.kind = kind
        self.pid = pid
        self.comm = comm
        self.path = path
        self.fd = fd
    }
}

/// The holders of every namespace at one moment, as one scan saw them.
public struct HolderScan: Sendable, Hashable {
    /// When the scan ran (CLOCK_MONOTONIC nanoseconds).
    public var timestamp: UInt64
    /// Tasks, descriptors and sockets, by namespace cookie (from the kernel's iterators).
    public var byCookie: [UInt64: [Holder]]
    /// Bind mounts, by namespace inum (from mountinfo, which shows only the inum).
    public var byInum: [UInt32: [Holder]]
    /// The agent's own namespace, whose holders are not scanned (the host's: never a leak).
    public var hostCookie: UInt64

    /// Creates a scan.
    public init(timestamp: UInt64, byCookie: [UInt64: [Holder]] = [:], byInum: [UInt32: [Holder]] = [:], hostCookie: UInt64 = 0) {
        self.timestamp = timestamp
        self.byCookie = byCookie
        self.byInum = byInum
        self.hostCookie = hostCookie
    }
}

// The numbers a holder's kind goes by, in one place: the kernel side's records and the
// recording format number them differently, and both are fixed (a recording outlives a build).
extension Holder.Kind {
    /// Its number in a recording (docs/recording-format.md).
    public var recordingCode: UInt8 {
        switch self {
        case .task: 1
        case .mount: 2
        case .fd: 3
        case .socket: 4
        }
    }

    /// Its number in the kernel side's holder records (`enum netns_holder_kind`); nil for a
    /// mount, which the agent finds itself.
    public var kernelCode: UInt32? {
        switch self {
        case .task: NETNS_HOLDER_TASK.rawValue
        case .mount: nil
        case .fd: NETNS_HOLDER_FD.rawValue
        case .socket: NETNS_HOLDER_SOCKET.rawValue
        }
    }

    /// The kind numbered `code` in a recording.
    public init?(recordingCode code: UInt8) {
        guard let kind = Self.allCases.first(where: { $0.recordingCode == code }) else { return nil }
        self = kind
    }

    /// The kind numbered `code` by the kernel side.
    public init?(kernelCode code: UInt32) {
        guard let kind = Self.allCases.first(where: { $0.kernelCode == code }) else { return nil }
        self = kind
    }
}
