import Glibc
import NetnsCore
import NetnsSystem

/// Finds what holds every namespace: the kernel iterators report tasks, descriptors and
/// sockets (and track any namespace not followed yet); mountinfo reports bind mounts.
/// Each scan is applied to the state as one `HolderScan`.
public final class HolderScanner: Sendable {
    /// At most this many holders are kept per namespace (a process may hold thousands of
    /// sockets in one namespace; a few name it well enough).
    public static let holdersPerNamespace = 64

    private let probes: ProbeSet
    private let state: any NamespaceEventSink

    /// Creates a scanner for the namespaces `probes` follow.
    public init(probes: ProbeSet, state: any NamespaceEventSink) {
        self.probes = probes
        self.state = state
    }

    /// Runs one scan and applies it. The start-up inventory opens every bind-mounted
    /// namespace for the length of the scan, so that the file iterator finds those pinned
    /// before the agent started; later scans only read mountinfo (the kernel side follows
    /// every namespace created since, and an open pin would make a plain `umount` fail).
    /// Returns the namespaces the iterators found held (the agent's own pins included).
    @discardableResult
    public func scan(openingPins: Bool = false) throws -> Set<UInt64> {
        let started = SystemClock.monotonic()
        let pins = NamespacePins(opening: openingPins)
        defer { pins.close() }
        let kernelHolders = try probes.discover(holding: pins)
        state.apply(Self.holderScan(
            timestamp: started, kernelHolders: kernelHolders, mounts: pins.holdersByInum,
            hostCookie: probes.hostCookie, agentPID: UInt32(getpid())))
        return Set(kernelHolders.map(\.cookie))
    }

    /// Groups the kernel's holder records by namespace: one task holder per process, the
    /// agent's own descriptors (its temporary pins) left out, at most `holdersPerNamespace`.
    /// The task iterator visits every thread, so task records repeat; the file iterator visits
    /// each descriptor table once, so a descriptor's record is checked only against the
    /// records of the same namespace kept so far (few: at most `holdersPerNamespace`).
    static func holderScan(timestamp: UInt64, kernelHolders: [KernelHolder], mounts: [UInt32: [Holder]],
                           hostCookie: UInt64, agentPID: UInt32) -> HolderScan {
        struct Process: Hashable { var cookie: UInt64, pid: UInt32 }
        var processesSeen: Set<Process> = []
        var byCookie: [UInt64: [Holder]] = [:]
        byCookie.reserveCapacity(kernelHolders.count)
        for record in kernelHolders where record.holder.pid != agentPID {
            var holder = record.holder
            if holder.kind == .task {
                holder.fd = nil
                guard processesSeen.insert(Process(cookie: record.cookie, pid: holder.pid)).inserted else { continue }
            }
            byCookie[record.cookie, default: []].keep(holder, limit: holdersPerNamespace)
        }
        return HolderScan(timestamp: timestamp, byCookie: byCookie, byInum: mounts, hostCookie: hostCookie)
    }
}

private extension Array where Element == Holder {
    /// Appends `holder` unless `limit` holders are kept, or the same descriptor is.
    mutating func keep(_ holder: Holder, limit: Int) {
        guard count < limit,
              holder.kind == .task || !contains(where: { $0.kind == holder.kind && $0.pid == holder.pid && $0.fd == holder.fd })
        else { return }
        append(holder)
    }
}
