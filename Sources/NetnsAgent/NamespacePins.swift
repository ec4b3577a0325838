import Glibc

/// Open file descriptors on the namespace bind mounts of every mount namespace
/// (`ip netns add` pins, CNI and container runtime pins), held during a discovery pass so
/// the kernel side sees, through the agent's own files, the namespaces nothing else shows.
public final class NamespacePins: @unchecked Sendable {
    /// Where each open pin came from, for logs.
    public let paths: [String]
    private var descriptors: [Int32]

    /// Opens every network namespace bind mount visible through `/proc`.
    public init(procRoot: String = "/proc") {
        var paths: [String] = []
        var descriptors: [Int32] = []
        for mountPoint in Self.namespaceMountPoints(procRoot: procRoot) {
            let fd = open(mountPoint, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            guard fd >= 0 else { continue }  // gone since it was listed: nothing to find
            paths.append(mountPoint)
            descriptors.append(fd)
        }
        self.paths = paths
        self.descriptors = descriptors
    }

    deinit { close() }

    /// Closes every pin.
    public func close() {
        descriptors.forEach { _ = Glibc.close($0) }
        descriptors.removeAll()
    }

    /// Paths, reachable from this mount namespace, of every nsfs mount of a network
    /// namespace: one mountinfo read per mount namespace, reached through a process in it.
    static func namespaceMountPoints(procRoot: String) -> [String] {
        var seenMountNamespaces: Set<String> = []
        var result: [String] = []
        for pid in ["self"] + processIDs(procRoot: procRoot) {
            guard let mountNamespace = readLink("\(procRoot)/\(pid)/ns/mnt"),
                  seenMountNamespaces.insert(mountNamespace).inserted,
                  let mountInfo = readSmallFile("\(procRoot)/\(pid)/mountinfo")
            else { continue }
            let prefix = pid == "self" ? "" : "\(procRoot)/\(pid)/root"
            for mountPoint in MountInfo.networkNamespaceMountPoints(in: mountInfo) {
                result.append(prefix + mountPoint)
            }
        }
        return result
    }

    private static func processIDs(procRoot: String) -> [String] {
        guard let directory = opendir(procRoot) else { return [] }
        defer { closedir(directory) }
        var pids: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if !name.isEmpty, name.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) { pids.append(name) }
        }
        return pids
    }
}

/// Reads a symbolic link's target, or nil.
func readLink(_ path: String) -> String? {
    var buffer = [CChar](repeating: 0, count: 256)
    let count = readlink(path, &buffer, buffer.count - 1)
    guard count > 0 else { return nil }
    return String(decoding: buffer.prefix(count).map(UInt8.init(bitPattern:)), as: UTF8.self)
}

/// Reads a file of at most `limit` bytes (procfs files report no size), or nil.
func readSmallFile(_ path: String, limit: Int = 4 << 20) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { _ = close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while bytes.count < limit {
        let count = read(fd, &chunk, chunk.count)
        if count < 0, errno == EINTR { continue }
        guard count > 0 else { break }
        bytes.append(contentsOf: chunk.prefix(count))
    }
    return String(decoding: bytes.prefix(limit), as: UTF8.self)
}
