/// The container (and Kubernetes pod) a cgroup path belongs to, when the path says so.
///
/// Recognises the layouts of docker, containerd (and its CRI plugin), cri-o and podman, under
/// the systemd and cgroupfs drivers, e.g.
/// `/system.slice/docker-<id>.scope`, `/docker/<id>`,
/// `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope`,
/// `/kubepods/burstable/pod<uid>/<id>`, `/machine.slice/libpod-<id>.scope`.
public struct ContainerIdentity: Sendable, Hashable {
    /// The runtime the path names: docker, containerd, cri-o, podman, or "kubernetes" when
    /// only the pod is known.
    public var runtime: String
    /// The container id (64 hex digits), if the path has one.
    public var containerID: String?
    /// The Kubernetes pod UID, if the path is under kubepods.
    public var podUID: String?

    /// Creates an identity.
    public init(runtime: String, containerID: String?, podUID: String?) {
        self.runtime = runtime
        self.containerID = containerID
        self.podUID = podUID
    }

    /// Reads the container from a cgroup v2 path; nil if the path names none.
    public static func parse(cgroupPath path: String) -> ContainerIdentity? {
        var runtime: String?
        var containerID: String?
        var podUID: String?
        for component in path.split(separator: "/") {
            if let uid = Self.podUID(in: component) { podUID = uid }
            for (prefix, name) in scopePrefixes where component.hasPrefix(prefix) {
                let rest = component.dropFirst(prefix.count)
                let id = rest.hasSuffix(".scope") ? rest.dropLast(".scope".count) : rest
                if isContainerID(id) {
                    runtime = name
                    containerID = String(id)
                }
            }
            if isContainerID(component) {
                containerID = String(component)
                runtime = runtime ?? (path.contains("/docker/") ? "docker" : path.contains("kubepods") ? "containerd" : "unknown")
            }
        }
        if containerID == nil, podUID == nil { return nil }
        return ContainerIdentity(runtime: runtime ?? "kubernetes", containerID: containerID, podUID: podUID)
    }

    private static let scopePrefixes: [(String, String)] = [
        ("docker-", "docker"), ("cri-containerd-", "containerd"), ("containerd-", "containerd"),
        ("crio-", "cri-o"), ("libpod-", "podman"),
    ]

    private static func isContainerID(_ text: Substring) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// `pod<uid>` or `kubepods-<qos>-pod<uid>.slice`, with `_` for `-` under systemd.
    private static func podUID(in component: Substring) -> String? {
        var text = component
        if text.hasSuffix(".slice") { text = text.dropLast(".slice".count) }
        guard text.count >= 39, text.dropLast(36).hasSuffix("pod") else { return nil }
        let normalized = String(text.suffix(36).map { $0 == "_" ? "-" : $0 })
        let parts = normalized.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.map(\.count) == [8, 4, 4, 4, 12],
              parts.allSatisfy({ $0.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } })
        else { return nil }
        return normalized
    }
}
