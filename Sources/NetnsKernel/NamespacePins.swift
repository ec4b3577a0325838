import Glibc
import NetnsCore
import NetnsSystem
import Synchronization

/// Open file descriptors on the namespace bind mounts of every mount namespace
/// (`ip netns add` pins, CNI and container runtime pins), held during a discovery pass so
/// the kernel side sees, through the agent's own files, the namespaces nothing else shows.
public final class NamespacePins: Sendable {
    /// One bind mount of a network namespace.
    public struct Mount: Sendable, Hashable {
        /// The mount point as seen inside its mount namespace.
        public var mountPoint: String
        /// The namespace's inum.
        public var inum: UInt32
        /// A process in that mount namespace (through which the mount was reached).
        public var pid: UInt32
        /// That process's command name.
        public var comm: String
    }

    /// Every bind mount found, open or not.
    public let mounts: [Mount]
    /// The pins still open (`close()` may be called from any task).
    private let descriptors: Mutex<[Int32]>

    /// Lists every network namespace bind mount visible through `/proc`, and opens them if
    /// `opening` (only the start-up inventory needs that: an open pin makes a concurrent
    /// `umount` without MNT_DETACH fail with EBUSY, so the agent must not hold them later).
    public init(procRoot: String = "/proc", opening: Bool = true) {
        var descriptors: [Int32] = []
        let found = Self.namespaceMounts(procRoot: procRoot)
        for (_, reachablePath) in found where opening {
            let fd = open(reachablePath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            if fd >= 0 { descriptors.append(fd) }  // else gone since it was listed
        }
        self.mounts = found.map(\.0)
        self.descriptors = Mutex(descriptors)
    }

    /// The mounts as holders, by the inum of the namespace they pin.
    public var holdersByInum: [UInt32: [Holder]] {
        Dictionary(grouping: mounts, by: \.inum).mapValues { mounts in
            mounts.map { Holder(kind: .mount, pid: $0.pid, comm: $0.comm, path: $0.mountPoint) }
        }
    }

    deinit { close() }

    /// Closes every pin.
    public func close() {
        descriptors.withLock { open in
            open.forEach { _ = Glibc.close($0) }
            open.removeAll()
        }
    }

    /// Every nsfs mount of a network namespace, with a path to it reachable from here: one
    /// mountinfo read per mount namespace, reached through a process in it.
    static func namespaceMounts(procRoot: String) -> [(Mount, String)] {
        let ownPID = getpid()
        let ownMountNamespace = readLink("\(procRoot)/\(ownPID)/ns/mnt")
        var seenMountNamespaces: Set<String> = []
        var result: [(Mount, String)] = []
        // Lowest pid first, so a mount is attributed to the oldest process that sees it.
        for pid in processIDs(procRoot: procRoot).sorted() where pid != ownPID {
            guard let mountNamespace = readLink("\(procRoot)/\(pid)/ns/mnt"),
                  seenMountNamespaces.insert(mountNamespace).inserted,
                  let mountInfo = readSmallFile("\(procRoot)/\(pid)/mountinfo")
            else { continue }
            let prefix = mountNamespace == ownMountNamespace ? "" : "\(procRoot)/\(pid)/root"
            let comm = readSmallFile("\(procRoot)/\(pid)/comm", limit: 64)?.split(separator: "\n").first.map(String.init) ?? ""
            for (mountPoint, inum) in MountInfo.networkNamespaceMounts(in: mountInfo) {
                result.append((Mount(mountPoint: mountPoint, inum: inum, pid: UInt32(pid), comm: comm), prefix + mountPoint))
            }
        }
        return result
    }

    private static func processIDs(procRoot: String) -> [Int32] {
        (directoryEntries(procRoot) ?? []).compactMap { Int32($0.name) }
    }
}
