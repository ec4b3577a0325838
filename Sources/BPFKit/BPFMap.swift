import CLibBPF
import Glibc

/// A map of a loaded object, used through its file descriptor (valid while the object lives).
public struct BPFMap: Sendable {
    /// The map's name, for messages.
    public let name: String
    /// The kernel map's file descriptor.
    public let fileDescriptor: Int32

    /// Writes `value` at `index` of an array map.
    public func update<Value: BitwiseCopyable>(at index: UInt32, to value: Value) throws(BPFError) {
        var key = index
        var value = value
        try libbpfCall("write '\(name)'[\(index)]", bpf_map_update_elem(fileDescriptor, &key, &value, UInt64(BPF_ANY)))
    }

    /// Reads the value at `index` of an array map.
    public func value<Value: BitwiseCopyable>(at index: UInt32, as _: Value.Type) throws(BPFError) -> Value {
        var key = index
        let value = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<Value>.size, alignment: MemoryLayout<Value>.alignment)
        defer { value.deallocate() }
        try libbpfCall("read '\(name)'[\(index)]", bpf_map_lookup_elem(fileDescriptor, &key, value))
        return value.load(as: Value.self)
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

    /// Every value of a hash map keyed by `UInt64`. Every entry present for the whole walk is
    /// seen; entries added or deleted meanwhile may or may not be, and one may be seen twice
    /// (the kernel restarts its walk when the previous key was deleted). A walk that has not
    /// ended after `limit` steps, under heavy churn, fails with EAGAIN rather than return a
    /// partial answer.
    public func values<Value: BitwiseCopyable>(as _: Value.Type, limit: Int) throws(BPFError) -> [Value] {
        var values: [Value] = []
        var previous: UInt64 = 0
        var next: UInt64 = 0
        var first = true
        let value = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<Value>.size, alignment: MemoryLayout<Value>.alignment)
        defer { value.deallocate() }
        while true {
            let step = first ? bpf_map_get_next_key(fileDescriptor, nil, &next) : bpf_map_get_next_key(fileDescriptor, &previous, &next)
            if step == -ENOENT { break }
            guard values.count < limit else { throw BPFError(operation: "walk '\(name)' (\(limit) steps, unfinished)", code: EAGAIN) }
            try libbpfCall("walk '\(name)'", step)
            first = false
            previous = next
            let found = bpf_map_lookup_elem(fileDescriptor, &next, value)
            if found == -ENOENT { continue }  // deleted since the walk reached it
            try libbpfCall("read '\(name)'", found)
            values.append(value.load(as: Value.self))
        }
        return values
    }
}
