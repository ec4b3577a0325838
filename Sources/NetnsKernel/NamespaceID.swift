import CPrivileges
import Glibc

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

    /// `listns(2)` (6.19 and later): the ids of every active network namespace (one a task,
    /// a file or a mount holds; not one released and waiting for its teardown), or nil where
    /// the kernel has no such call.
    public static func listNetworkNamespaces(limit: Int = 1 << 20) -> [UInt64]? {
        var ids: [UInt64] = []
        var page = [UInt64](repeating: 0, count: 1024)
        while ids.count < limit {
            let count = page.withUnsafeMutableBufferPointer { page in
                netns_listns(ids.last ?? 0, 0x4000_0000 /* CLONE_NEWNET */, page.baseAddress, UInt(page.count))
            }
            if count < 0 { return ids.isEmpty ? nil : ids }
            ids += page.prefix(count)
            guard count == page.count else { break }
        }
        return ids
    }
}
