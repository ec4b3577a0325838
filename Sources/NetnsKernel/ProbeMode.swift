import NetnsCore
/// Which kernel hooks the agent uses.
public enum ProbeMode: String, Sendable, CaseIterable, CustomStringConvertible {
    /// The first set that loads and attaches, in the order fentry, kprobe, tracepoint.
    case auto
    /// fentry/fexit on the lifecycle functions (needs BPF trampolines).
    case fentry
    /// kprobe/kretprobe on the lifecycle functions (needs CONFIG_KPROBES).
    case kprobe
    /// Tracepoints only: syscall exits, fork and the netns workqueue.
    case tracepoint

    /// The probe sets to try, in order.
    public var candidates: [ProbeSetKind] {
        switch self {
        case .auto: [.fentry, .kprobe, .tracepoint]
        case .fentry: [.fentry]
        case .kprobe: [.kprobe]
        case .tracepoint: [.tracepoint]
        }
    }

    public var description: String { rawValue }
}
