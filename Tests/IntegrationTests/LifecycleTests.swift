import Foundation
import NetnsAgent
import NetnsClient
import NetnsCore
import NetnsExposition
import NetnsKernel
import Testing

/// The agent on the real kernel with real namespaces. Serialized: each test counts every
/// namespace the host creates while it runs.
extension RealKernel {
@Suite("Namespace lifecycles")
struct LifecycleTests {
    @Test("namespaces that exit at once: created, released and freed exactly once each", arguments: ProbeConfiguration.eachSet)
    func shortLived(probes: ProbeConfiguration) async throws {
        let agent = try await RunningAgent(probes: probes)
        let before = try agent.metrics()
        for _ in 0..<5 { try Host.must(["unshare", "--net", "true"]) }
        try await eventually("5 namespaces are freed") {
            try agent.metrics()["netns_freed_total"] == before["netns_freed_total"]! + 5
        }
        let after = try agent.metrics()
        #expect(after["netns_created_total"]! - before["netns_created_total"]! == 5)
        #expect(after["netns_released_total"]! - before["netns_released_total"]! == 5)
        #expect(after["netns_alive"] == before["netns_alive"])
        #expect(after["netns_dying"] == 0)
        #expect(after["netns_lifetime_seconds_count"]! - before["netns_lifetime_seconds_count"]! == 5)
        #expect(after["netns_setup_failures_total"] == 0)
        #expect(after["netns_tracer_events_lost_total"] == 0)
        #expect(after["netns_tracer_probe_info{mode=\"\(probes.kind)\"}"] == 1)
        await agent.stop()
    }

    @Test("a namespace held by a process: its inum, creator and refcounts, then its end", arguments: ProbeConfiguration.eachSet)
    func heldByProcess(probes: ProbeConfiguration) async throws {
        let agent = try await RunningAgent(probes: probes)
        let before = try agent.metrics()
        let holder = try Host.start(["unshare", "--net", "sleep", "120"])
        defer { Host.stop(holder) }
        try await eventually("the holder is in its own namespace") {
            Host.netnsInode(pid: holder.processIdentifier) != Host.netnsInode(pid: getpid())
        }
        let inum = try #require(Host.netnsInode(pid: holder.processIdentifier))
        try await eventually("namespace \(inum) is listed alive") {
            try agent.namespaces().contains { $0.inum == inum && $0.state == "alive" }
        }
        let listed = try #require(try agent.namespaces().first { $0.inum == inum })
        #expect(listed.creator?.pid == UInt32(holder.processIdentifier))
        #expect(listed.creator?.comm == "unshare")
        #expect(listed.createdAt != nil)
        #expect(listed.refs?.active ?? 0 >= 1)
        #expect(try agent.metrics()["netns_alive"] == before["netns_alive"]! + 1)

        // A second task joins: the periodic refresh sees one more active reference. The count
        // it is compared with is a steady one, the same over two refreshes: a reading taken
        // while something held the namespace for a moment (this test's own look at
        // /proc/PID/ns/net, say) would hide the joiner's reference (failed once so in CI).
        var activeBefore: Int32 = 0
        try await eventually("the holder's active count is steady") {
            let first = try agent.namespaces().first { $0.inum == inum }?.refs?.active
            usleep(1_100_000)   // two refreshes at the tests' 0.5 s
            activeBefore = try agent.namespaces().first { $0.inum == inum }?.refs?.active ?? 0
            return first == activeBefore && activeBefore >= 1
        }
        let joiner = try Host.start(["nsenter", "--net=/proc/\(holder.processIdentifier)/ns/net", "sleep", "120"])
        defer { Host.stop(joiner) }
        try await eventually("the refresh reports the joiner's reference", timeout: .seconds(10)) {
            try agent.namespaces().first { $0.inum == inum }?.refs?.active ?? 0 > activeBefore
        }

        Host.stop(joiner)
        Host.stop(holder)
        try await eventually("namespace \(inum) is freed") {
            try agent.namespaces().first { $0.inum == inum && $0.createdAt == listed.createdAt }?.state == "freed"
        }
        let after = try agent.metrics()
        #expect(after["netns_alive"] == before["netns_alive"])
        #expect(after["netns_created_total"]! - before["netns_created_total"]! == 1)
        #expect(after["netns_released_total"]! - before["netns_released_total"]! == 1)
        #expect(after["netns_freed_total"]! - before["netns_freed_total"]! == 1)
        await agent.stop()
    }

    @Test("a namespace made by an unprivileged user (uid 65534 with CAP_SYS_ADMIN): its creator is named with that uid", arguments: ProbeConfiguration.eachSet)
    func unprivilegedCreator(probes: ProbeConfiguration) async throws {
        let agent = try await RunningAgent(probes: probes)
        // An ambient capability keeps CAP_SYS_ADMIN across the exec without root, and without
        // a user namespace, which some kernels refuse to unprivileged users.
        let holder = try Host.start(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                     "--inh-caps=+sys_admin", "--ambient-caps=+sys_admin",
                                     "unshare", "--net", "sleep", "120"])
        defer { Host.stop(holder) }
        try await eventually("the holder is in its own namespace") {
            Host.netnsInode(pid: holder.processIdentifier) != Host.netnsInode(pid: getpid())
        }
        let inum = try #require(Host.netnsInode(pid: holder.processIdentifier))
        try await eventually("namespace \(inum) is listed alive with its creator") {
            try agent.namespaces().contains { $0.inum == inum && $0.state == "alive" && $0.creator != nil }
        }
        let listed = try #require(try agent.namespaces().first { $0.inum == inum })
        #expect(listed.creator?.pid == UInt32(holder.processIdentifier))
        #expect(listed.creator?.uid == 65534)
        await agent.stop()
    }

    @Test("ip netns add and del: pinned by a bind mount, then released and freed", arguments: ProbeConfiguration.eachSet)
    func ipNetns(probes: ProbeConfiguration) async throws {
        let agent = try await RunningAgent(probes: probes)
        let name = Host.uniqueName("nt-ipnetns")
        let before = try agent.metrics()
        try Host.must(["ip", "netns", "add", name])
        var deleted = false
        defer { if !deleted { _ = try? Host.run(["ip", "netns", "del", name]) } }
        let inum = try #require(Host.inode("/run/netns/\(name)"))
        try await eventually("the pinned namespace is listed alive") {
            try agent.namespaces().contains { $0.inum == inum && $0.state == "alive" && $0.creator?.comm == "ip" }
        }
        var now = try agent.metrics()
        #expect(now["netns_created_total"]! - before["netns_created_total"]! == 1)
        #expect(now["netns_alive"]! - before["netns_alive"]! == 1)

        try Host.must(["ip", "netns", "del", name])
        deleted = true
        try await eventually("the namespace is freed") {
            try agent.metrics()["netns_freed_total"]! - before["netns_freed_total"]! == 1
        }
        now = try agent.metrics()
        #expect(now["netns_released_total"]! - before["netns_released_total"]! == 1)
        #expect(now["netns_alive"] == before["netns_alive"])
        #expect(now["netns_dying"] == 0)
        #expect(try agent.namespaces().first { $0.inum == inum && $0.creator?.comm == "ip" }?.state == "freed")
        await agent.stop()
    }

    @Test("namespaces older than the agent are discovered: bind-mounted, process-held and the host's", arguments: ProbeConfiguration.eachSet)
    func discovery(probes: ProbeConfiguration) async throws {
        try requireRoot()
        let name = Host.uniqueName("nt-before")
        try Host.must(["ip", "netns", "add", name])
        var deleted = false
        defer { if !deleted { _ = try? Host.run(["ip", "netns", "del", name]) } }
        let holder = try Host.start(["unshare", "--net", "sleep", "120"])
        defer { Host.stop(holder) }
        try await eventually("the holder is in its own namespace") {
            Host.netnsInode(pid: holder.processIdentifier) != Host.netnsInode(pid: getpid())
        }
        let pinned = try #require(Host.inode("/run/netns/\(name)"))
        let held = try #require(Host.netnsInode(pid: holder.processIdentifier))
        let host = try #require(Host.ownNetnsInode)

        let agent = try await RunningAgent(probes: probes)
        let listed = try agent.namespaces()
        for inum in [pinned, held, host] {
            let entry = listed.first { $0.inum == inum }
            #expect(entry?.state == "alive", "namespace \(inum) discovered at start")
            #expect(entry?.createdAt == nil)
            #expect(entry?.discoveredAt != nil)
        }
        let metrics = try agent.metrics()
        #expect(metrics["netns_alive"]! >= 3)
        #expect(metrics["netns_created_total"] == 0)
        #expect(metrics["netns_discovered_total"] == metrics["netns_alive"])

        // Releasing a namespace created before the agent started is counted too.
        try Host.must(["ip", "netns", "del", name])
        deleted = true
        try await eventually("the pre-existing namespace is freed") {
            try agent.namespaces().first { $0.inum == pinned }?.state == "freed"
        }
        let after = try agent.metrics()
        #expect(after["netns_released_total"] == 1)
        #expect(after["netns_freed_total"] == 1)
        #expect(after["netns_alive"] == metrics["netns_alive"]! - 1)
        #expect(after["netns_lifetime_seconds_count"] == 0)
        await agent.stop()
    }

    @Test("by default (no syscall hooks): creations are still counted exactly, seen at exec or by the scans")
    func withoutSyscallHooks() async throws {
        let agent = try await RunningAgent(arguments: ["--probes", "tracepoint", "--holder-scan-interval", "0.5"], syscallHooks: nil)
        let attached = try agent.metrics()
        for _ in 0..<3 { try Host.must(["unshare", "--net", "true"]) }
        let name = Host.uniqueName("nt-nohooks")
        try Host.must(["ip", "netns", "add", name])   // unshare, bind mount, setns back: no exec
        defer { _ = try? Host.run(["ip", "netns", "del", name]) }
        let inum = try #require(Host.inode("/run/netns/\(name)"))
        try await eventually("all four creations are counted") {
            try agent.metrics()["netns_created_total"] == attached["netns_created_total"]! + 4
        }
        let pinned = try #require(try agent.namespaces().first { $0.inum == inum && $0.state == "alive" })
        #expect(pinned.createdAt != nil)
        try await eventually("the three short-lived ones are freed") {
            try agent.metrics()["netns_freed_total"] == attached["netns_freed_total"]! + 3
        }
        #expect(try agent.metrics()["netns_alive"] == attached["netns_alive"]! + 1)
        let log = await agent.stop()
        #expect(log.contains("tracepoint set without syscall hooks"), "the trade-off is said at start: \(log)")
    }

    @Test("a namespace held only by an open file descriptor is discovered, then seen to end", arguments: ProbeConfiguration.eachSet)
    func heldByDescriptor(probes: ProbeConfiguration) async throws {
        try requireRoot()
        let (creator, fdHolder, inum) = try await Host.namespaceHeldByDescriptor()
        defer { Host.stop(creator); Host.stop(fdHolder) }
        Host.stop(creator)  // from here only the descriptor keeps the namespace alive

        let agent = try await RunningAgent(probes: probes)
        let entry = try agent.namespaces().first { $0.inum == inum }
        #expect(entry?.state == "alive")
        #expect(entry?.holder?.pid == UInt32(fdHolder.processIdentifier))
        #expect(entry?.holder?.comm == "sleep")

        Host.stop(fdHolder)
        try await eventually("the namespace is freed once the descriptor is closed") {
            try agent.namespaces().first { $0.inum == inum }?.state == "freed"
        }
        await agent.stop()
    }

    @Test("a failed creation is counted: unshare refused by a namespace limit of zero", arguments: ProbeConfiguration.eachSet)
    func failedCreation(probes: ProbeConfiguration) async throws {
        let agent = try await RunningAgent(probes: probes)
        // Inside a user namespace of its own, root may set the limit to 0 without touching
        // the host's; unshare(CLONE_NEWNET) then fails in copy_net_ns with ENOSPC.
        let (status, output) = try Host.run([
            "unshare", "--user", "--map-root-user", "sh", "-c",
            "echo 0 > /proc/sys/user/max_net_namespaces && exec unshare --net true",
        ])
        #expect(status != 0)
        #expect(output.contains("No space left on device"), "unshare should fail with ENOSPC: \(output)")
        try await eventually("the failure is counted") {
            try agent.metrics()["netns_setup_failures_total"] == 1
        }
        #expect(try agent.metrics()["netns_created_total"] == 0)

        // A refusal of the call itself (no CAP_SYS_ADMIN: EPERM) is not a failed creation.
        let refused = try Host.run(["setpriv", "--inh-caps=-all", "--bounding-set=-all", "unshare", "--net", "true"])
        #expect(refused.status != 0)
        #expect(refused.output.contains("Operation not permitted"), "unshare should fail with EPERM: \(refused.output)")
        try await Task.sleep(for: .seconds(1))
        #expect(try agent.metrics()["netns_setup_failures_total"] == 1)
        #expect(try agent.metrics()["netns_created_total"] == 0)
        await agent.stop()
    }

    @Test("a namespace's cookie is the kernel's own: what SO_NETNS_COOKIE gives a socket in it", arguments: ProbeConfiguration.eachSet)
    func cookieIsTheKernels(probes: ProbeConfiguration) async throws {
        let agent = try await RunningAgent(probes: probes)
        let (holder, fields) = try await Host.startHolding(["cookie", "120"], fields: 3)  // held INUM COOKIE
        defer { Host.stop(holder) }
        let inum = try #require(UInt32(fields[1]))
        try await eventually("namespace \(inum) is listed alive") {
            try agent.namespaces().contains { $0.inum == inum && $0.state == "alive" }
        }
        let listed = try #require(try agent.namespaces().first { $0.inum == inum && $0.state == "alive" })
        if fields[2] == "none" {
            // SO_NETNS_COOKIE came in 5.14; before 5.12 the agent makes its own identity.
            var name = utsname()
            uname(&name)
            let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            let version = release.split(separator: ".").prefix(2).compactMap { Int($0.prefix { $0.isNumber }) }
            #expect(version.lexicographicallyPrecedes([5, 14]), "kernel \(release) has no SO_NETNS_COOKIE")
            print("kernel \(release) has no SO_NETNS_COOKIE: the cookie \(listed.cookie) is not compared")
        } else {
            #expect(listed.cookie == UInt64(fields[2]), "the agent's cookie \(listed.cookie), the kernel's \(fields[2])")
        }
        await agent.stop()
    }
}
}
