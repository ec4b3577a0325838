import NetnsCore
import Testing
@testable import NetnsAgent
@testable import NetnsClient
@testable import NetnsExposition
@testable import NetnsKernel
import TestKit

@Suite("Holder scan grouping")
struct HolderScanTests {
    static func record(_ cookie: UInt64, _ kind: Holder.Kind, pid: UInt32, fd: Int32? = nil) -> KernelHolder {
        KernelHolder(cookie: cookie, inum: UInt32(cookie), holder: Holder(kind: kind, pid: pid, comm: "p\(pid)", fd: fd))
    }

    @Test("threads of one process are one task holder; descriptors stay distinct; the agent's own are left out")
    func grouping() {
        let records = [
            Self.record(7, .task, pid: 10, fd: -1), Self.record(7, .task, pid: 10, fd: -1), Self.record(7, .task, pid: 11),
            Self.record(7, .fd, pid: 10, fd: 3), Self.record(7, .fd, pid: 10, fd: 4), Self.record(7, .fd, pid: 10, fd: 3),
            Self.record(8, .socket, pid: 12, fd: 5), Self.record(8, .fd, pid: 99, fd: 6),
        ]
        let mount = Holder(kind: .mount, pid: 1, comm: "init", path: "/run/netns/a")
        let scan = HolderScanner.holderScan(timestamp: 5, kernelHolders: records, mounts: [8: [mount]], hostCookie: 1, agentPID: 99)
        #expect(scan.byCookie[7] == [
            Holder(kind: .task, pid: 10, comm: "p10"), Holder(kind: .task, pid: 11, comm: "p11"),
            Holder(kind: .fd, pid: 10, comm: "p10", fd: 3), Holder(kind: .fd, pid: 10, comm: "p10", fd: 4),
        ])
        #expect(scan.byCookie[8] == [Holder(kind: .socket, pid: 12, comm: "p12", fd: 5)])
        #expect(scan.byInum[8] == [mount])

        var aggregator = Aggregator()
        aggregator.apply(NetnsEvent(kind: .discovered, timestamp: 1, cookie: 8, inum: 8))
        aggregator.apply(scan)
        #expect(aggregator.namespaces[8]?.holders == [Holder(kind: .socket, pid: 12, comm: "p12", fd: 5), mount],
                "descriptors and sockets first, then mounts")
    }

    @Test("at most holdersPerNamespace holders are kept per namespace")
    func capped() {
        let records = (0..<200).map { Self.record(7, .socket, pid: 10, fd: Int32($0)) }
        let scan = HolderScanner.holderScan(timestamp: 5, kernelHolders: records, mounts: [:], hostCookie: 1, agentPID: 99)
        #expect(scan.byCookie[7]?.count == HolderScanner.holdersPerNamespace)
        #expect(scan.byCookie[7]?.first?.fd == 0)
    }
}
