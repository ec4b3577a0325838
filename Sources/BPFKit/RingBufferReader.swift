import CLibBPF
import Glibc

/// Reads records from a BPF ring buffer map and hands each to a closure.
///
/// `poll` blocks: call it from a thread of its own, never from the cooperative pool.
/// The reader is used from one thread at a time.
public final class RingBufferReader: @unchecked Sendable {
    /// Receives each record's bytes; they are valid only during the call.
    public typealias RecordHandler = (UnsafeRawBufferPointer) -> Void

    /// Boxed handler, passed to libbpf's C callback as its context.
    private final class Sink {
        let handle: RecordHandler
        init(_ handle: @escaping RecordHandler) { self.handle = handle }
    }

    private let ring: OpaquePointer
    private let sink: Sink

    /// Opens the ring buffer behind `map`.
    public init(map: BPFMap, onRecord: @escaping RecordHandler) throws(BPFError) {
        let sink = Sink(onRecord)
        // Unsafe: libbpf holds this unretained pointer; `self.sink` keeps the Sink alive for
        // as long as `ring` exists, and `deinit` frees the ring before the Sink goes.
        let context = Unmanaged.passUnretained(sink).toOpaque()
        let ring = ring_buffer__new(map.fileDescriptor, { context, data, size in
            guard let context, let data else { return 0 }
            let sink = Unmanaged<Sink>.fromOpaque(context).takeUnretainedValue()
            sink.handle(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        }, context, nil)
        self.ring = try libbpfCall("open ring buffer '\(map.name)'", ring)
        self.sink = sink
    }

    deinit { ring_buffer__free(ring) }

    /// Waits up to `timeoutMilliseconds` for records and consumes every one available.
    /// Returns how many were consumed; an interrupted wait consumes none.
    @discardableResult
    public func poll(timeoutMilliseconds: Int32) throws(BPFError) -> Int {
        let result = ring_buffer__poll(ring, timeoutMilliseconds)
        if result == -EINTR { return 0 }
        try libbpfCall("poll ring buffer", result)
        return Int(result)
    }

    /// Consumes every record available now, without waiting.
    @discardableResult
    public func drain() throws(BPFError) -> Int {
        let result = ring_buffer__consume(ring)
        try libbpfCall("consume ring buffer", result)
        return Int(result)
    }
}
