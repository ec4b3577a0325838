/// A creator's cgroup: its path, and the container the path names (parsed once).
public struct CgroupInfo: Sendable, Hashable {
    /// The cgroup v2 path.
    public var path: String
    /// The container it names, if any.
    public var container: ContainerIdentity?

    /// Parses `path` once.
    public init(path: String) {
        self.path = path
        self.container = ContainerIdentity.parse(cgroupPath: path)
    }

    /// Drops the cgroups no namespace's creator is in any more, once they outnumber those in
    /// use four times (and 4,096 at least): the map stays bounded however many containers
    /// come and go, and a cgroup is not parsed again while its namespaces live.
    public static func prune(_ cgroups: inout [UInt64: CgroupInfo], keepingCreatorsOf aggregator: Aggregator) {
        let live = Set(aggregator.namespaces.values.compactMap { $0.creator?.cgroupID })
        if cgroups.count > 4 * max(live.count, 1024) {
            cgroups = cgroups.filter { live.contains($0.key) }
        }
    }
}
