import CPrivileges
import Glibc
import NetnsSystem

/// Gives up, once the probes are attached and the first inventory taken, every capability the
/// agent no longer uses.
///
/// Capabilities belong to threads, so this is done while the process has one thread only
/// (`Agent.prepare()`, before the HTTP server, the ring buffer reader or any task starts);
/// every thread started afterwards inherits what is left:
/// - CAP_BPF: the programs are loaded and attached, but every later `bpf()` call (reading
///   maps, re-reading refcounts with BPF_PROG_TEST_RUN, creating iterators) is refused
///   without it on kernels before 6.5 when `kernel.unprivileged_bpf_disabled` is set, as
///   distributions do;
/// - CAP_SYS_PTRACE (if held): the holder scans read `/proc/PID/mountinfo`, `/proc/PID/ns/mnt`
///   and `/proc/PID/root` of processes that hold more capabilities than the agent then does;
/// - CAP_NET_BIND_SERVICE, only if asked for (a listening port below 1024).
/// CAP_PERFMON, CAP_SYS_ADMIN and everything else go, from the bounding set too, and
/// no-new-privileges is set.
public enum PrivilegeDrop {
    /// What the drop left.
    public struct Outcome: Sendable, Equatable {
        /// The effective set afterwards.
        public var effective: CapabilitySet
        /// Whether the bounding set was reduced too (it takes CAP_SETPCAP, which a process
        /// started with a reduced set may not have; its bounding set is then already small).
        public var boundingSetReduced: Bool
    }

    /// Why the drop was not done.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Keeps CAP_BPF and CAP_SYS_PTRACE (those of them held), and `extra`, and drops the rest.
    public static func apply(alsoKeeping extra: [Capability] = []) throws(Failure) -> Outcome {
        let threads = directoryEntries("/proc/self/task")?.count ?? 0
        guard threads == 1 else {
            throw Failure(description: "\(threads) threads are running: capabilities belong to threads, and the others would keep theirs")
        }
        let held = readSmallFile("/proc/self/status").flatMap(Preflight.effectiveCapabilities(fromStatus:)) ?? CapabilitySet(mask: 0)
        let keep = CapabilitySet(([.bpf, .sysPtrace] + extra).filter(held.contains))
        var boundingSetReduced = true
        for capability in 0..<64 where !keep.contains(number: capability) {
            let present = netns_in_bounding_set(Int32(capability))
            if present < 0 { break }  // past the last capability this kernel knows
            if present == 1, netns_drop_from_bounding_set(Int32(capability)) != 0 { boundingSetReduced = false }
        }
        guard netns_no_new_privileges() == 0 else { throw failure("cannot set no-new-privileges") }
        guard netns_set_capabilities(keep.mask) == 0 else { throw failure("cannot set capabilities") }
        let effective = readSmallFile("/proc/self/status").flatMap(Preflight.effectiveCapabilities(fromStatus:)) ?? keep
        return Outcome(effective: effective, boundingSetReduced: boundingSetReduced)
    }

    private static func failure(_ what: String) -> Failure {
        Failure(description: "\(what): \(String(cString: strerror(errno)))")
    }
}
