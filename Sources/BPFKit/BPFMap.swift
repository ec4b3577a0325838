import CLibBPF
import Glibc

/// A map of a loaded object, used through its file descriptor (valid while the object lives).
public struct BPFMap: Sendable {
    /// The map's name, for messages.
    public let name: String
    /// The kernel map's file descriptor.
    public let fileDescriptor: Int32

    /// Writes `value` at `index` of an array map.
    public func update<Value>(at index: UInt32, to value: Value) throws(BPFError) {
        var key = index
        var value = value
        try libbpfCall("write '\(name)'[\(index)]", bpf_map_update_elem(fileDescriptor, &key, &value, UInt64(BPF_ANY)))
    }

    /// Sums the `UInt64` value at `index` of a per-CPU array over every CPU.
    public func perCPUSum(at index: UInt32) throws(BPFError) -> UInt64 {
        let cpus = Int(libbpf_num_possible_cpus())
        guard cpus > 0 else { throw BPFError(operation: "count possible CPUs", code: Int32(-cpus)) }
        var values = [UInt64](repeating: 0, count: cpus)
        var key = index
        try libbpfCall("read '\(name)'[\(index)]", bpf_map_lookup_elem(fileDescriptor, &key, &values))
        return values.reduce(0, &+)
    }

}
