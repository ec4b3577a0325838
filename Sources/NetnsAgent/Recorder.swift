import Glibc
import NetnsCore
import NetnsExposition
import NetnsSystem

/// Writes a recording (see `Recording`) to a file, buffered; `close` flushes it.
public final class Recorder: @unchecked Sendable {
    /// Why the recording could not be written.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    // Used only under AgentState's lock.
    private let fd: Int32
    private let path: String
    private var buffer: [UInt8] = []

    /// Creates (or truncates) `path` and writes the header.
    public init(path: String, clock: ClockMapping) throws(Failure) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
        self.fd = fd
        self.path = path
        buffer = Recording.header(realtimeOffset: clock.realtimeOffset)
    }

    deinit { _ = Glibc.close(fd) }

    /// Appends one entry (flushed when the buffer passes 64 KiB).
    func write(_ entry: Recording.Entry) throws(Failure) {
        buffer.append(contentsOf: Recording.encode(entry))
        if buffer.count >= 64 << 10 { try flush() }
    }

    /// Writes out everything buffered.
    func flush() throws(Failure) {
        guard writeAll(fd, buffer) else { throw Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))") }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes and syncs the file.
    func close() throws(Failure) {
        try flush()
        guard fsync(fd) == 0 else { throw Failure(description: "cannot sync \(path): \(String(cString: strerror(errno)))") }
    }
}
