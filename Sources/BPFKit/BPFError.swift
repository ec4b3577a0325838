import CLibBPF
import Glibc

/// A failed libbpf or bpf(2) call: what was attempted, the error code, and a sentence.
public struct BPFError: Error, Hashable, CustomStringConvertible {
    /// What was being done, e.g. "load BPF object 'tracepoint'".
    public var operation: String
    /// The positive error code: an errno, or one of libbpf's own (above 4000).
    public var code: Int32

    /// Creates an error for `operation` failing with `code` (sign ignored).
    public init(operation: String, code: Int32) {
        self.operation = operation
        self.code = code == Int32.min ? Int32.max : abs(code)
    }

    /// libbpf's own wording of the code (it knows errno values and its own).
    public var reason: String {
        var buffer = [CChar](repeating: 0, count: 256)
        if libbpf_strerror(code, &buffer, buffer.count) != 0 {
            return String(cString: strerror(code))
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map(UInt8.init(bitPattern:)), as: UTF8.self)
    }

    public var description: String { "\(operation): \(reason)" }
}

/// Runs a libbpf call that returns 0 or a negative error code.
@inline(__always)
func libbpfCall(_ operation: @autoclosure () -> String, _ result: Int32) throws(BPFError) {
    if result < 0 { throw BPFError(operation: operation(), code: result) }
}

/// Runs a libbpf call that returns a pointer, or NULL and sets errno.
@inline(__always)
func libbpfCall<Pointer>(_ operation: @autoclosure () -> String, _ result: Pointer?) throws(BPFError) -> Pointer {
    guard let result else { throw BPFError(operation: operation(), code: errno == 0 ? EINVAL : errno) }
    return result
}
