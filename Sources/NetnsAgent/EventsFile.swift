import Dispatch
import Glibc
import NetnsExposition
import NIOCore
import Synchronization
import SystemPackage

/// `--events-file`: the event stream's JSON lines appended to a file, for log shippers
/// (Vector, Fluent Bit, Promtail), rotated by size.
///
/// The agent hands each chunk over and goes on: the writes happen on a serial queue of the
/// file's own. If the queue holds more than `maxPendingBytes` (a disk that stalls), a new
/// chunk is dropped and its lines counted, never waited for. A file about to pass `maxBytes`
/// is rotated first, between two lines: `PATH` becomes `PATH.1`, `PATH.1` becomes `PATH.2`,
/// and so on up to `PATH.<keep>`, the oldest, which is replaced. Shippers that follow a file
/// through renames (all three above) read every line once.
public final class EventsFile: Sendable {
    /// Why the file cannot be written.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// How many rotated files are kept beside the current one.
    public static let keep = 3
    /// The default size at which the file is rotated.
    public static let defaultMaxBytes = 64 << 20
    /// How far the writes may fall behind before chunks are dropped: about 16,000 events.
    public static let maxPendingBytes = 4 << 20

    public let path: String
    public let maxBytes: Int
    /// Where the writes happen, one at a time (internal for the tests, which stall it).
    let queue = DispatchQueue(label: "netns-tracer.events-file")
    /// The file and its size, touched only on `queue`.
    private let output: Mutex<(file: SystemPackage.FileDescriptor?, size: Int)>
    private let pendingBytes = Atomic<Int>(0)
    private let counts = Mutex(EventsFileStatistics())

    /// Opens (or creates, mode 0640) `path` for appending, refusing anything but a regular file.
    public init(path: String, maxBytes: Int = EventsFile.defaultMaxBytes) throws(Failure) {
        self.path = path
        self.maxBytes = maxBytes
        let (file, size) = try Self.open(path)
        output = Mutex((file, size))
    }

    deinit { try? output.withLock { $0.file }?.close() }

    /// Queues `chunk` (whole JSON lines, `lines` of them) to be appended; returns at once.
    func append(_ chunk: ByteBuffer, lines: Int) {
        let size = chunk.readableBytes
        guard pendingBytes.add(size, ordering: .relaxed).newValue <= Self.maxPendingBytes else {
            pendingBytes.subtract(size, ordering: .relaxed)
            counts.withLock { $0.dropped += UInt64(lines) }
            return
        }
        queue.async { [self] in
            write(chunk)
            pendingBytes.subtract(size, ordering: .relaxed)
        }
    }

    /// Waits for every queued line to be written, then syncs and closes the file.
    func finish() {
        queue.sync {
            output.withLock { output in
                guard let file = output.file else { return }
                fsync(file.rawValue)
                try? file.close()
                output.file = nil
            }
        }
    }

    /// Lines written, dropped, failed writes and rotations so far.
    public var statistics: EventsFileStatistics { counts.withLock { $0 } }

    // MARK: On the queue

    private func write(_ chunk: ByteBuffer) {
        let newline = UInt8(ascii: "\n")
        var rest = chunk.readableBytesView[...]
        var written = 0, dropped = 0, errors = 0, rotations = 0
        output.withLock { output in
            if output.file == nil, let (file, size) = try? Self.open(path) {
                output = (file, size)  // after a rotation that could not open the new file
            }
            while !rest.isEmpty {
                // As many whole lines as fit before the size limit.
                let room = maxBytes - output.size
                var end = rest.startIndex, count = 0
                while end < rest.endIndex, let lineEnd = rest[end...].firstIndex(of: newline), lineEnd + 1 - rest.startIndex <= room {
                    end = lineEnd + 1
                    count += 1
                }
                if count == 0 {
                    if output.size > 0 {
                        if rotate(&output) {
                            rotations += 1
                            continue
                        }
                        errors += 1
                    }
                    // A line longer than the limit gets a file of its own; one that cannot be
                    // rotated away from is written on past the limit rather than lost.
                    end = (rest.firstIndex(of: newline) ?? rest.index(before: rest.endIndex)) + 1
                    count = 1
                }
                let piece = rest[..<end]
                rest = rest[end...]
                guard let file = output.file else {
                    dropped += count
                    continue
                }
                do {
                    _ = try file.writeAll(piece)
                    output.size += piece.count
                    written += count
                } catch {
                    errors += 1
                    dropped += count
                }
            }
        }
        counts.withLock {
            $0.written += UInt64(written)
            $0.dropped += UInt64(dropped)
            $0.errors += UInt64(errors)
            $0.rotations += UInt64(rotations)
        }
    }

    /// Moves the files one place down the rotation and opens a new `path`; false if that failed
    /// (the file stays as it was, or none is open: its lines are dropped until the next try).
    private func rotate(_ output: inout (file: SystemPackage.FileDescriptor?, size: Int)) -> Bool {
        for index in stride(from: Self.keep - 1, through: 1, by: -1) {
            rename("\(path).\(index)", "\(path).\(index + 1)")  // a missing one is fine
        }
        guard rename(path, "\(path).1") == 0 else { return false }
        try? output.file?.close()
        output = (nil, 0)
        guard let (file, size) = try? Self.open(path) else { return false }
        output = (file, size)
        return true
    }

    private static func open(_ path: String) throws(Failure) -> (SystemPackage.FileDescriptor, Int) {
        let file: SystemPackage.FileDescriptor
        do {
            file = try SystemPackage.FileDescriptor.open(FilePath(path), .writeOnly, options: [.create, .append, .closeOnExec, .noFollow],
                                           permissions: [.ownerReadWrite, .groupRead])
        } catch {
            throw Failure(description: "--events-file \(path): cannot open it for appending: \(error)")
        }
        var status = stat()
        guard fstat(file.rawValue, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            try? file.close()
            throw Failure(description: "--events-file \(path): not a regular file")
        }
        return (file, Int(status.st_size))
    }
}
