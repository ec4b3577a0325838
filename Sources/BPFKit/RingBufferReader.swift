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

    /// Interrupts a `wait` in progress from any thread (stopping, or a caller that needs
    /// what is in the buffer now): an eventfd in the reader's epoll set.
    public final class Interrupter: Sendable {
        fileprivate let descriptor: Int32

        fileprivate init() throws(BPFError) {
            descriptor = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
            guard descriptor >= 0 else { throw BPFError(operation: "create an eventfd for the ring buffer reader", code: errno) }
        }

        deinit { close(descriptor) }

        /// Makes the reader's current or next `wait` return at once.
        public func interrupt() {
            var one: UInt64 = 1
            _ = write(descriptor, &one, MemoryLayout<UInt64>.size)
        }

        /// Takes the pending interruptions, so that the next wait can sleep again.
        fileprivate func reset() {
            var count: UInt64 = 0
            _ = read(descriptor, &count, MemoryLayout<UInt64>.size)
        }
    }

    private let ring: OpaquePointer
    private let sink: Sink
    /// Waits on libbpf's epoll set (readable when the ring has data) and on `interrupter`.
    private let waitSet: Int32
    /// Wakes a `wait` from another thread.
    public let interrupter: Interrupter

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
        do throws(BPFError) {
            interrupter = try Interrupter()
            waitSet = try Self.waitSet(watching: [ring_buffer__epoll_fd(ring), interrupter.descriptor])
        } catch {
            ring_buffer__free(ring)
            throw error
        }
    }

    deinit {
        close(waitSet)
        ring_buffer__free(ring)
    }

    /// An epoll set readable when any of `descriptors` is. libbpf's own set is nested in it,
    /// so the reader does not depend on how libbpf numbers the entries of its set.
    private static func waitSet(watching descriptors: [Int32]) throws(BPFError) -> Int32 {
        let set = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard set >= 0 else { throw BPFError(operation: "create the ring buffer reader's epoll set", code: errno) }
        for descriptor in descriptors {
            var interest = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(fd: descriptor))
            guard epoll_ctl(set, EPOLL_CTL_ADD, descriptor, &interest) == 0 else {
                let code = errno
                close(set)
                throw BPFError(operation: "watch descriptor \(descriptor) in the ring buffer reader's epoll set", code: code)
            }
        }
        return set
    }

    /// Waits up to `timeoutMilliseconds` (-1: without limit) until records are available or
    /// `interrupter` is used, then consumes every record available. Returns how many were
    /// consumed.
    @discardableResult
    public func wait(timeoutMilliseconds: Int32) throws(BPFError) -> Int {
        var ready = epoll_event()
        if epoll_wait(waitSet, &ready, 1, timeoutMilliseconds) < 0, errno != EINTR {
            throw BPFError(operation: "wait for the ring buffer", code: errno)
        }
        interrupter.reset()
        return try drain()
    }

    /// Consumes every record available now, without waiting.
    @discardableResult
    public func drain() throws(BPFError) -> Int {
        let result = ring_buffer__consume(ring)
        try libbpfCall("consume ring buffer", result)
        return Int(result)
    }
}
