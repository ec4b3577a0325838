/// One of the three probe sets, each an object compiled from `bpf/<name>.bpf.c`.
public enum ProbeSetKind: String, Sendable, CaseIterable, CustomStringConvertible {
    case fentry, kprobe, tracepoint

    public var description: String { rawValue }
}
