/// Where the kernel side's readers deliver what they read: the ring buffer's events, and each
/// holder scan. The agent's state is one; a reader knows nothing else of it.
public protocol NamespaceEventSink: AnyObject, Sendable {
    /// Applies a batch of decoded events and the cgroup paths newly learnt for them,
    /// counting the records that failed to decode.
    func ingest(_ events: [NetnsEvent], decodeErrors: Int, cgroupPaths: [UInt64: String])
    /// Applies a holder scan.
    func apply(_ scan: HolderScan)
}
