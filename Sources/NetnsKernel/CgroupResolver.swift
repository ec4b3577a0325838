import Glibc
import NetnsSystem

/// Finds the path of a cgroup v2 directory from its id (the directory's inode number), so a
/// creator's cgroup, and the container it names, is known even after the creator is gone.
///
/// Walks the cgroup hierarchy on a miss, at most once per `minimumRewalkInterval`; the
/// paths are cached, bounded to `capacity` entries.
final class CgroupResolver {
    private let root: String?
    private let capacity: Int
    private let minimumRewalkInterval: UInt64
    private var paths: [UInt64: String] = [:]
    private var lastWalk: UInt64 = 0
    /// Walks of the hierarchy so far: a miss after a walk is a real one.
    private(set) var walks = 0

    /// Resolves against `root`, by default the cgroup v2 hierarchy's mount point (none on a
    /// host with only cgroup v1, where ids cannot be resolved).
    init(root: String? = CgroupResolver.unifiedHierarchy(), capacity: Int = 65536, minimumRewalkIntervalNanoseconds: UInt64 = 1_000_000_000) {
        self.root = root
        self.capacity = capacity
        self.minimumRewalkInterval = minimumRewalkIntervalNanoseconds
    }

    /// The path of cgroup `id` relative to the hierarchy's root (`/` for the root itself).
    func path(of id: UInt64, now: UInt64) -> String? {
        guard id != 0, let root else { return nil }
        if let path = paths[id] { return path }
        guard now &- lastWalk >= minimumRewalkInterval || lastWalk == 0 else { return nil }
        lastWalk = now
        walks += 1
        if paths.count > capacity { paths.removeAll(keepingCapacity: true) }
        walk(directory: root, relative: "/", depth: 0)
        return paths[id]
    }

    /// Where cgroup2 is mounted, from /proc/self/mountinfo.
    static func unifiedHierarchy() -> String? {
        guard let mountInfo = readSmallFile("/proc/self/mountinfo") else { return nil }
        for line in mountInfo.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if let separator = fields.firstIndex(of: "-"), separator + 1 < fields.count,
               fields[separator + 1] == "cgroup2", fields.count > 4 {
                return MountInfo.unescape(fields[4])
            }
        }
        return nil
    }

    private func walk(directory: String, relative: String, depth: Int) {
        var info = stat()
        guard depth < 32, stat(directory, &info) == 0 else { return }
        paths[UInt64(info.st_ino)] = relative
        for (name, isDirectory) in directoryEntries(directory) ?? [] where isDirectory {
            walk(directory: "\(directory)/\(name)", relative: relative == "/" ? "/\(name)" : "\(relative)/\(name)", depth: depth + 1)
        }
    }
}
