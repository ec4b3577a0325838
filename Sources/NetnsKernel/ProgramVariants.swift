import BPFKit
import CLibBPF
import NetnsCore

/// What the running kernel offers that some programs need, found once at start-up.
public struct KernelCapabilities: Sendable, Hashable {
    /// bpf_loop (5.17) and bpf_for_each_map_elem (5.13): unbounded walks and map scans.
    public var loops: Bool
    /// bpf_get_current_task_btf (5.11) and bpf_task_pt_regs (5.15): a syscall's arguments at
    /// its exit.
    public var syscallArgumentsAtExit: Bool
    /// How many arguments `setup_net` takes (two until 6.13, one since), nil if the kernel's
    /// BTF does not list it.
    public var setupNetArguments: Int?

    public init(loops: Bool, syscallArgumentsAtExit: Bool, setupNetArguments: Int?) {
        self.loops = loops
        self.syscallArgumentsAtExit = syscallArgumentsAtExit
        self.setupNetArguments = setupNetArguments
    }

    /// The running kernel's, asked of the kernel (helpers by loading a call to each, the
    /// function by its BTF).
    public static let running = KernelCapabilities(
        loops: KernelFeatures.hasHelper(BPF_FUNC_loop) && KernelFeatures.hasHelper(BPF_FUNC_for_each_map_elem),
        syscallArgumentsAtExit: KernelFeatures.hasHelper(BPF_FUNC_get_current_task_btf)
            && KernelFeatures.hasHelper(BPF_FUNC_task_pt_regs),
        setupNetArguments: KernelFeatures.argumentCount(ofFunction: "setup_net"))
}

/// Which variant of each program a probe set loads on a kernel, and what that kernel's set
/// cannot report. The object carries both variants of what older kernels cannot verify (see
/// the `_bounded` and `_noted` programs in bpf/); the others are left out at load, with the
/// maps only they use.
public struct ProgramVariants: Sendable, Hashable {
    /// Whether walks and scans are bounded loops and map iterators (no bpf_loop).
    public var boundedLoops: Bool
    /// Programs left out of the load.
    public var skipped: [String]
    /// Maps left out of the load: used only by programs left out.
    public var skippedMaps: [String]
    /// What this set cannot report on this kernel, one sentence each, for the log.
    public var limitations: [String]

    /// The walk limit of the bounded variants (NETNS_WALK_LIMIT in bpf/netns_common.bpf.h).
    public static let boundedWalkLimit = 32768

    public init(kind: ProbeSetKind, syscallHooks: Bool, kernel: KernelCapabilities) {
        boundedLoops = !kernel.loops
        skipped = []
        skippedMaps = []
        limitations = []
        let unbounded = ["cleanup_batch_start", "cleanup_batch_end", "refresh", "refresh_full"]
        let bounded = ["cleanup_batch_start_bounded", "cleanup_batch_end_bounded", "refresh_bounded",
                       "scan_tracked_elem", "scan_dying_elem"]
        if kernel.loops {
            skipped += bounded
        } else {
            skipped += unbounded
            limitations.append(
                "the kernel has no bpf_loop (Linux 5.17): each walk of the namespace list stops after "
                    + "\(Self.boundedWalkLimit) namespaces, and a cleanup batch of more than 1024 namespaces is seen "
                    + "freed or torn down at the next refresh rather than at its end")
        }
        switch kind {
        case .fentry:
            switch kernel.setupNetArguments {
            case 2?: skipped.append("setup_net_exit_net_only")
            case 1?: skipped.append("setup_net_exit")
            default:
                skipped += ["setup_net_exit", "setup_net_exit_net_only"]
                limitations.append("the kernel's BTF does not describe setup_net as this agent knows it: setup results are not reported")
            }
        case .tracepoint where syscallHooks:
            if kernel.syscallArgumentsAtExit {
                skipped += ["unshare_enter_noted", "unshare_exit_noted", "clone_enter_noted", "clone_exit_noted",
                            "clone3_enter_noted", "clone3_exit_noted"]
                skippedMaps.append("newnet_calls")   // what the enter hooks note for their exits
            } else {
                skipped += ["unshare_exit", "clone_exit", "clone3_exit"]
            }
        case .tracepoint:
            skippedMaps.append("newnet_calls")
        case .kprobe:
            break
        }
    }
}
