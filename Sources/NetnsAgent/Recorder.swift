import Glibc
import NetnsCore
import NetnsExposition
import NetnsSystem
import SystemPackage

/// Writes a recording (see `Recording`) to a file, buffered; `close` flushes it.
public final class Recorder: @unchecked Sendable {
    /// Why the recording could not be written.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    // Used only under AgentState's lock.
    private let file: FileDescriptor
    private let path: String
    private var buffer: [UInt8] = []

    /// Creates (or truncates) `path` and writes the header.
    public init(path: String, clock: ClockMapping) throws(Failure) {
        do {
            file = try FileDescriptor.open(FilePath(path), .writeOnly, options: [.create, .truncate, .closeOnExec],
                                           permissions: .ownerReadWrite)
        } catch {
            throw Failure(description: "cannot create \(path): \(error)")
        }
        self.path = path
        buffer = Recording.header(realtimeOffset: clock.realtimeOffset)
    }

    deinit { try? file.close() }

    /// Appends one entry (flushed when the buffer passes 64 KiB).
    func write(_ entry: Recording.Entry) throws(Failure) {
        buffer.append(contentsOf: Recording.encode(entry))
        if buffer.count >= 64 << 10 { try flush() }
    }

    /// Writes out everything buffered.
    func flush() throws(Failure) {
        do {
            _ = try file.writeAll(buffer)
        } catch {
            throw Failure(description: "cannot write \(path): \(error)")
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes and syncs the file.
    func close() throws(Failure) {
        try flush()
        guard fsync(file.rawValue) == 0 else { throw Failure(description: "cannot sync \(path): \(String(cString: strerror(errno)))") }
    }
}
