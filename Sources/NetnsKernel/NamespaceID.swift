import Glibc

/// The kernel's own id of a namespace, where it has one (6.18 and later): what
/// `ioctl(NS_GET_ID)` returns for a namespace file, and `listns(2)` lists (the kernel matrix
/// checks those against the agent's view with `netns-patterns listns`).
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
}
