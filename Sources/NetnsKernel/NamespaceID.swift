import CPrivileges
import Glibc
import NetnsSystem

/// The kernel's own id of a namespace, where it has one (6.18 and later): what
/// `ioctl(NS_GET_ID)` returns for a namespace file, and `listns(2)` lists.
public enum NamespaceID {
    /// `NS_GET_ID`: `_IOR(0xb7, 0xd, __u64)`.
    static let getID: UInt = 0x8008_b70d

    /// The id of the network namespace at `path` (by default the agent's own), or nil where
    /// the kernel has no such ioctl.
    public static func of(_ path: String = "/proc/self/ns/net") -> UInt64? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var id: UInt64 = 0
        guard ioctl(fd, getID, &id) == 0, id != 0 else { return nil }
        return id
    }

    /// Whether the kernel's namespace ids are the network namespace cookies the agent keys
    /// everything by: true on 6.18 and later, where both come from one counter. Checked, not
    /// assumed from the version: the id of the agent's own namespace against its cookie.
    public static func matchesCookies(ownCookie: UInt64) -> Bool {
        of().map { $0 == ownCookie } ?? false
    }

    /// What `listns(2)` gave the agent: the ids of every active network namespace, or why it
    /// could not ask.
    public enum Listing: Sendable, Equatable {
        /// Every active network namespace's id, in the kernel's order (ascending).
        case listed([UInt64])
        /// Why not: the kernel has no `listns(2)`, or would list only the agent's own namespace.
        case unavailable(String)
    }

    /// The initial PID and user namespaces' inums (`PROC_PID_INIT_INO`, `PROC_USER_INIT_INO`),
    /// fixed by the kernel.
    static let initialPIDNamespace = "pid:[4026531836]"
    static let initialUserNamespace = "user:[4026531837]"

    /// `listns(2)` (6.19 and later) for network namespaces: every *active* one, which a task,
    /// an open nsfs file or a bind mount holds (not one held only by sockets or the kernel,
    /// nor one released and waiting for its teardown). The kernel lists other namespaces than
    /// the caller's own only to CAP_SYS_ADMIN in the initial user and PID namespaces, and
    /// says nothing when it leaves them out: so without those, the agent does not ask.
    public static func listNetworkNamespaces(limit: Int = 1 << 20, statusPath: String = "/proc/self/status",
                                             namespacesPath: String = "/proc/self/ns") -> Listing {
        let status = readSmallFile(statusPath) ?? ""
        guard Preflight.effectiveCapabilities(fromStatus: status)?.contains(.sysAdmin) == true,
              readLink("\(namespacesPath)/user") == initialUserNamespace
        else {
            return .unavailable("listns(2) lists other namespaces only to CAP_SYS_ADMIN in the initial user namespace")
        }
        guard readLink("\(namespacesPath)/pid") == initialPIDNamespace else {
            return .unavailable("listns(2) lists other namespaces only from the initial PID namespace")
        }
        var ids: [UInt64] = []
        var page = [UInt64](repeating: 0, count: 1024)
        while ids.count < limit {
            let count = page.withUnsafeMutableBufferPointer { page in
                netns_listns(ids.last ?? 0, 0x4000_0000 /* CLONE_NEWNET */, page.baseAddress, UInt(page.count))
            }
            if count < 0 {
                let error = errno
                if error == ENOSYS { return .unavailable("the kernel has no listns(2) (6.19 and later have)") }
                // Past the last id (the namespace after it went away meanwhile): the end.
                if error == ENOENT, !ids.isEmpty { break }
                return .unavailable("listns(2) failed: \(String(cString: strerror(error)))")
            }
            ids += page.prefix(count)
            guard count == page.count else { break }
        }
        return .listed(ids)
    }
}
