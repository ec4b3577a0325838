import CNetnsEvent

/// Why bytes could not be decoded into an event.
public enum EventDecodingError: Error, Hashable, CustomStringConvertible {
    /// Fewer bytes than one `struct netns_event`.
    case truncated(byteCount: Int)
    /// A kind this version does not know.
    case unknownKind(UInt32)

    public var description: String {
        switch self {
        case .truncated(let count):
            "event record is \(count) bytes, expected \(NetnsEvent.wireSize)"
        case .unknownKind(let kind):
            "event record has unknown kind \(kind)"
        }
    }
}

extension NetnsEvent {
    /// The size of one record on the ring buffer and in recorded files.
    public static let wireSize = MemoryLayout<netns_event>.size

    /// Decodes one record as the BPF programs wrote it. Bytes are untrusted: a short record
    /// or an unknown kind is an error, never a crash.
    @inlinable  // once per event on the ingest path, called from the agent's module
    public init(wire bytes: UnsafeRawBufferPointer) throws(EventDecodingError) {
        guard bytes.count >= Self.wireSize else { throw .truncated(byteCount: bytes.count) }
        let raw = bytes.loadUnaligned(as: netns_event.self)
        guard let kind = Kind(rawValue: raw.kind) else { throw .unknownKind(raw.kind) }
        let refs: RefCounts? =
            raw.active_refs == NETNS_REFS_UNKNOWN || raw.passive_refs == NETNS_REFS_UNKNOWN
            ? nil : RefCounts(active: raw.active_refs, passive: raw.passive_refs)
        let comm = withUnsafeBytes(of: raw.comm) { comm in
            var bytes = CommBytes(low: comm.loadUnaligned(as: UInt64.self), high: comm.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            bytes.high &= 0x00FF_FFFF_FFFF_FFFF  // the kernel's NUL terminator, even if a reader wrote none
            return bytes
        }
        let task = TaskIdentity(pid: raw.pid, tid: raw.tid, commBytes: comm, cgroupID: raw.cgroup_id, uid: raw.uid, ppid: raw.ppid)
        self.init(
            kind: kind, timestamp: raw.timestamp_ns, cookie: raw.cookie, inum: raw.inum,
            refs: refs, task: task, result: raw.result, source: raw.source, createdAfter: raw.created_after_ns
        )
    }

    /// The record as the BPF programs would have written it (for recordings and tests).
    public var wire: [UInt8] {
        var raw = netns_event()
        raw.timestamp_ns = timestamp
        raw.cookie = cookie
        raw.cgroup_id = task.cgroupID
        raw.kind = kind.rawValue
        raw.inum = inum
        raw.active_refs = refs?.active ?? NETNS_REFS_UNKNOWN
        raw.passive_refs = refs?.passive ?? NETNS_REFS_UNKNOWN
        raw.pid = task.pid
        raw.tid = task.tid
        raw.result = result
        raw.source = source
        raw.uid = task.uid
        raw.ppid = task.ppid
        raw.created_after_ns = createdAfter
        withUnsafeMutableBytes(of: &raw.comm) { comm in
            comm.storeBytes(of: task.commBytes.low, toByteOffset: 0, as: UInt64.self)
            comm.storeBytes(of: task.commBytes.high, toByteOffset: 8, as: UInt64.self)
        }
        return withUnsafeBytes(of: raw) { Array($0) }
    }
}
