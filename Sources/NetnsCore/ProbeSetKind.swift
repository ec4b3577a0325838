/// One of the three probe sets: the hooks of the one BPF object (`bpf/netns.bpf.c`) that load
/// together, chosen at load time by their sections.
public enum ProbeSetKind: String, Sendable, CaseIterable, CustomStringConvertible {
    case fentry, kprobe, tracepoint

    public var description: String { rawValue }

    /// The section prefixes of this set's hooks (`bpf/hooks_<set>.bpf.h`). Programs in no
    /// set's sections (`raw_tp`, `iter/`) are shared by all three.
    public var sectionPrefixes: [String] {
        switch self {
        case .fentry: ["fentry/", "fexit/"]
        case .kprobe: ["kprobe/", "kretprobe/"]
        case .tracepoint: ["tracepoint/", "tp_btf/"]
        }
    }

    /// Whether the program in `section` is one of this set's hooks.
    public func owns(section: String) -> Bool {
        sectionPrefixes.contains { section.hasPrefix($0) }
    }

    /// The maps only this set's hooks use, created only when it loads.
    public var ownMaps: [String] {
        switch self {
        case .fentry: []
        case .kprobe: ["pending"]
        case .tracepoint: ["newnet_calls"]
        }
    }
}
