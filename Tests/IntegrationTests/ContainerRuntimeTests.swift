import Foundation
import NetnsAgent
import NetnsClient
import NetnsCore
import NetnsExposition
import NetnsKernel
import Testing

/// A real container runtime: Debian's dockerd (`docker.io`), started by each test on a socket,
/// data and state directories of its own, with no bridge and no iptables, and an image
/// imported from this machine's static busybox (no registry is needed).
struct DockerDaemon {
    static let client = "/usr/bin/docker"
    static let image = "netns-tracer-test/busybox:latest"
    let socket: String
    let daemon: Process
    let log: String

    /// Starts dockerd and imports the test image; a daemon that does not answer within a minute
    /// fails the test with the end of its log.
    static func start(sourceLocation: SourceLocation = #_sourceLocation) async throws -> DockerDaemon {
        let name = "netns-tracer-test-docker"
        let socket = "/run/\(name).sock"
        let log = "/run/\(name).log"
        try? FileManager.default.removeItem(atPath: socket)
        let daemon = try Host.start(["sh", "-c", "exec dockerd \"$@\" >\"$0\" 2>&1", log,
                                     "--host", "unix://\(socket)", "--data-root", "/var/lib/\(name)",
                                     "--exec-root", "/run/\(name)", "--pidfile", "/run/\(name).pid",
                                     "--iptables=false", "--ip6tables=false", "--bridge=none"])
        let docker = DockerDaemon(socket: socket, daemon: daemon, log: log)
        do {
            try await eventually("dockerd answers on \(socket)", timeout: .seconds(60), sourceLocation: sourceLocation) {
                guard daemon.isRunning else { return true }
                return (try? Host.run([client, "-H", "unix://\(socket)", "version"], timeout: .seconds(20)).status) == 0
            }
            try #require(daemon.isRunning, "dockerd exited: \(docker.logTail)", sourceLocation: sourceLocation)
            try docker.importImage(sourceLocation: sourceLocation)
        } catch {
            Issue.record("dockerd: \(docker.logTail)", sourceLocation: sourceLocation)
            await docker.stop()
            throw error
        }
        return docker
    }

    var logTail: String {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    /// Runs the docker client against this daemon; a failure fails the test with its output.
    @discardableResult
    func run(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let (status, output) = try Host.run([Self.client, "-H", "unix://\(socket)"] + arguments, timeout: .seconds(120),
                                            sourceLocation: sourceLocation)
        try #require(status == 0, "docker \(arguments.joined(separator: " ")) failed (\(status)): \(output)",
                     sourceLocation: sourceLocation)
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A root filesystem of one static busybox, imported as `image`.
    private func importImage(sourceLocation: SourceLocation) throws {
        let root = FileManager.default.temporaryDirectory.appending(path: Host.uniqueName("netns-rootfs")).path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: "\(root)/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: "\(root)/bin/busybox")
        try FileManager.default.createSymbolicLink(atPath: "\(root)/bin/sleep", withDestinationPath: "busybox")
        try Host.must(["sh", "-c", "tar -C \"$0\" -c . | \"$1\" -H \"unix://$2\" import - \"$3\" >/dev/null",
                       root, Self.client, socket, Self.image], sourceLocation: sourceLocation)
    }

    /// Starts a container that sleeps, with no network but its own namespace; returns its id
    /// and the inum of its network namespace.
    func sleeper(_ options: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) throws -> (id: String, inum: UInt32) {
        let id = try run(["run", "-d", "--network", "none"] + options + [Self.image, "/bin/sleep", "300"], sourceLocation: sourceLocation)
        let pid = try #require(Int32(try run(["inspect", "-f", "{{.State.Pid}}", id], sourceLocation: sourceLocation)),
                               sourceLocation: sourceLocation)
        let inum = try #require(Host.netnsInode(pid: pid), sourceLocation: sourceLocation)
        try #require(inum != Host.ownNetnsInode, "the container has a namespace of its own", sourceLocation: sourceLocation)
        return (id, inum)
    }

    /// Runs `body` against a daemon started for it, and stops the daemon however it ends.
    static func with(sourceLocation: SourceLocation = #_sourceLocation, _ body: (DockerDaemon) async throws -> Void) async throws {
        let docker = try await start(sourceLocation: sourceLocation)
        do {
            try await body(docker)
        } catch {
            await docker.stop()
            throw error
        }
        await docker.stop()
    }

    /// Removes every container, then stops the daemon (SIGTERM; SIGKILL after 30 s).
    func stop() async {
        if daemon.isRunning {
            let containers = (try? Host.run([Self.client, "-H", "unix://\(socket)", "ps", "-aq"], timeout: .seconds(30)).output) ?? ""
            for id in containers.split(whereSeparator: \.isWhitespace) {
                _ = try? Host.run([Self.client, "-H", "unix://\(socket)", "rm", "-f", String(id)], timeout: .seconds(60))
            }
            kill(daemon.processIdentifier, SIGTERM)
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while daemon.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        Host.stop(daemon)
    }
}

extension RealKernel {
/// Attribution with a real container runtime, on this host's cgroup hierarchy.
@Suite("A real container runtime")
struct ContainerRuntimeTests {
    @Test("a docker container's namespace names the runtime and the container's full id, and still does once the container is removed")
    func dockerContainer() async throws {
        let agent = try await RunningAgent(arguments: ["--holder-scan-interval", "1"])
        try await DockerDaemon.with { docker in
            let (id, inum) = try docker.sleeper()
            #expect(id.utf8.count == 64, "docker printed the full id: \(id)")
            try await eventually("the container's namespace \(inum) is listed alive, held by the container's task") {
                try agent.namespaces().contains { entry in
                    entry.inum == inum && entry.state == "alive" && entry.holders?.contains { $0.kind == "task" && $0.comm == "sleep" } == true
                }
            }
            let alive = try #require(try agent.namespaces().first { $0.inum == inum && $0.state == "alive" })
            #expect(alive.creator?.container?.runtime == "docker")
            #expect(alive.creator?.container?.id == id)
            #expect(alive.creator?.container?.podUid == nil)

            try docker.run(["rm", "-f", id])
            try await eventually("the namespace is freed", timeout: .seconds(30)) {
                try agent.namespaces().contains { $0.cookie == alive.cookie && $0.state == "freed" }
            }
            let freed = try #require(try agent.namespaces().first { $0.cookie == alive.cookie })
            #expect(freed.creator?.container?.runtime == "docker", "the attribution outlives the container")
            #expect(freed.creator?.container?.id == id)
        }
        await agent.stop()
    }

    /// The kubelet's two namings of a pod's cgroup: cgroupfs, and systemd's (slices, with `_`
    /// for `-` in the UID), made here by docker's cgroupfs driver under a parent named so.
    enum PodCgroupNaming: String, CaseIterable, Sendable {
        case cgroupfs, systemd

        func parent(pod: String) -> String {
            switch self {
            case .cgroupfs: "/kubepods/burstable/pod\(pod)"
            case .systemd:
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(pod.replacingOccurrences(of: "-", with: "_")).slice"
            }
        }
    }

    @Test("a container in a pod-shaped cgroup (the kubelet's layouts) yields the pod UID", arguments: PodCgroupNaming.allCases)
    func podShapedCgroup(naming: PodCgroupNaming) async throws {
        let agent = try await RunningAgent()
        try await DockerDaemon.with { docker in
            let pod = UUID().uuidString.lowercased()
            let parent = naming.parent(pod: pod)
            let (id, inum) = try docker.sleeper(["--cgroup-parent", parent])
            try await eventually("the container's namespace \(inum) is listed alive") {
                try agent.namespaces().contains { $0.inum == inum && $0.state == "alive" }
            }
            let listed = try #require(try agent.namespaces().first { $0.inum == inum && $0.state == "alive" })
            #expect(listed.creator?.container?.podUid == pod)
            #expect(listed.creator?.container?.id == id)
            #expect(listed.creator?.cgroupPath?.contains("\(parent)/\(id)") == true,
                    "cgroup path: \(listed.creator?.cgroupPath ?? "none")")
        }
        await agent.stop()
    }
}
}

extension RealKernel {
/// Creators' cgroups resolved to containers on the cgroup v2 hierarchy (this host's, or one
/// mounted for the test where none is).
@Suite("Cgroup attribution")
struct CgroupAttributionTests {
    @Test("namespaces made in containers started within a second of each other are each attributed (the resolver walks once a second: a later walk finds the rest)")
    func cgroupsMadeTogether() async throws {
        let hierarchy = try CgroupHierarchy.mounted()
        defer { hierarchy.release() }
        let parent = "\(hierarchy.root)/netns-tracer-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: false)
        let agent = try await RunningAgent()
        var started: [(id: String, directory: String, process: Process)] = []
        defer {
            started.forEach { Host.stop($0.process) }
            for entry in started { _ = try? Host.must(["rmdir", entry.directory], timeout: .seconds(10)) }
            try? FileManager.default.removeItem(atPath: parent)
        }
        // Five containers' cgroups, each made 200 ms after the last with a namespace made in it
        // at once: all but the first are made within a second of a walk that did not see them.
        for _ in 0..<5 {
            let id = (0..<4).map { _ in String(format: "%016llx", UInt64.random(in: 0...UInt64.max)) }.joined()
            let directory = "\(parent)/docker-\(id).scope"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
            let process = try Host.start(["sh", "-c", "echo $$ >\"$0/cgroup.procs\" && exec unshare --net sleep 120", directory])
            started.append((id, directory, process))
            try await Task.sleep(for: .milliseconds(200))
        }
        var inums: [String: UInt32] = [:]
        for entry in started {
            try await eventually("the namespace made in \(entry.id.prefix(12)) has its own inode") {
                guard let inum = Host.netnsInode(pid: entry.process.processIdentifier), inum != Host.inode("/proc/self/ns/net") else { return false }
                inums[entry.id] = inum
                return true
            }
        }
        try await eventually("every namespace names its container", timeout: .seconds(30)) {
            let listed = try agent.namespaces()
            return started.allSatisfy { entry in
                listed.contains { $0.inum == inums[entry.id] && $0.creator?.container?.id == entry.id }
            }
        }
        for entry in started {
            let listed = try #require(try agent.namespaces().first { $0.inum == inums[entry.id] })
            #expect(listed.creator?.container?.runtime == "docker")
            #expect(listed.creator?.cgroupPath?.hasSuffix("/docker-\(entry.id).scope") == true)
        }
        await agent.stop()
    }
}
}

/// The cgroup v2 hierarchy: where this host mounts it, or mounted for a test where it does not.
struct CgroupHierarchy {
    let root: String
    private let mountedHere: Bool

    static func mounted() throws -> CgroupHierarchy {
        let mountInfo = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        for line in mountInfo.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if let separator = fields.firstIndex(of: "-"), separator + 1 < fields.count, fields[separator + 1] == "cgroup2" {
                return CgroupHierarchy(root: String(fields[4]), mountedHere: false)
            }
        }
        let root = "/run/netns-tracer-test-cgroup2"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try Host.must(["mount", "-t", "cgroup2", "cgroup2", root])
        return CgroupHierarchy(root: root, mountedHere: true)
    }

    func release() {
        guard mountedHere else { return }
        _ = try? Host.must(["umount", root], timeout: .seconds(10))
    }
}
