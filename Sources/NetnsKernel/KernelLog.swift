import Glibc
import NetnsCore
import NetnsSystem
import Synchronization

/// Reads the kernel's log (`/dev/kmsg`) for the line the kernel prints while it waits for a
/// network device's last references: "unregister_netdevice: waiting for DEV to become free.
/// Usage count = N" (the same text from 5.10 to today; docs/research/teardown-waits.md).
///
/// The log is opened at start-up, while the agent may still open it (reading it needs
/// CAP_SYSLOG where `kernel.dmesg_restrict` is set), and read from its end: the kernel
/// repeats the line for as long as the wait lasts. Only records of the kernel's own facility
/// count: a line written to `/dev/kmsg` by a process gets the user facility, whatever it
/// claims, so none can fake a wait. Everything read is bounded: at most `recordsPerRead`
/// records per read, lines up to 16 KiB.
public final class KernelLog: Sendable {
    /// Why the log cannot be read.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The most records one `read(at:)` takes: the rest wait for the next.
    public static let recordsPerRead = 4096
    private static let maxLine = 16 << 10

    public let path: String
    private let fd: Int32
    private struct State {
        var partial: [UInt8] = []
        var overwritten: UInt64 = 0
        /// When the log was last read to its end (or opened).
        var readTo: UInt64?
    }
    private let state = Mutex(State())

    /// Opens `path` (`/dev/kmsg`, or for tests any file or FIFO of the same lines) without
    /// blocking, positioned at its end.
    public init(path: String = "/dev/kmsg") throws(Failure) {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw Failure(description: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        lseek(fd, 0, SEEK_END)  // on a FIFO this fails, and there is nothing before anyway
        self.fd = fd
        self.path = path
        state.withLock { $0.readTo = SystemClock.monotonic() }
    }

    deinit { close(fd) }

    /// Records the kernel overwrote before they were read.
    public var overwritten: UInt64 { state.withLock { $0.overwritten } }

    /// The device waits logged since the last read, stamped `now` (when the agent learnt of
    /// them) and the time of the previous read (the earliest the kernel can have logged them).
    /// Never blocks.
    public func read(at now: UInt64) -> [DeviceWait] {
        var waits: [DeviceWait] = []
        state.withLock { state in
            let previous = state.readTo ?? now
            defer { state.readTo = now }
            var chunk = [UInt8](repeating: 0, count: 8192)
            for _ in 0..<Self.recordsPerRead {
                let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if count < 0 {
                    if errno == EINTR { continue }
                    if errno == EPIPE {  // the next record was overwritten: reading goes on after it
                        state.overwritten += 1
                        continue
                    }
                    break  // EAGAIN: nothing more now
                }
                if count == 0 { break }
                // /dev/kmsg gives one whole record per read; a file or FIFO gives any run of bytes.
                state.partial += chunk[..<count]
                var start = state.partial.startIndex
                while let newline = state.partial[start...].firstIndex(of: UInt8(ascii: "\n")) {
                    if let (device, usage) = Self.deviceWait(inRecord: state.partial[start..<newline]) {
                        waits.append(DeviceWait(device: device, usageCount: usage, timestamp: now, loggedAfter: previous,
                                                source: .kmsg))
                    }
                    start = newline + 1
                }
                state.partial.removeSubrange(..<start)
                if state.partial.count > Self.maxLine { state.partial.removeAll() }
            }
        }
        return waits
    }

    private static let prefix = Array("unregister_netdevice: waiting for ".utf8)
    private static let middle = Array(" to become free. Usage count = ".utf8)

    /// The device and usage count of a record `PRIORITY,SEQUENCE,MICROSECONDS,FLAGS[,...];TEXT`
    /// whose text is the wait line and whose facility is the kernel's; nil for any other.
    /// Continuation lines (` KEY=VALUE`) have no `;` header and are never a match.
    public static func deviceWait(inRecord line: ArraySlice<UInt8>) -> (device: String, usageCount: Int32)? {
        guard let semicolon = line.firstIndex(of: UInt8(ascii: ";")) else { return nil }
        let header = line[..<semicolon]
        let priorityEnd = header.firstIndex(of: UInt8(ascii: ",")) ?? header.endIndex
        guard let priority = Int(String(decoding: header[..<priorityEnd], as: UTF8.self)), priority >= 0,
              priority >> 3 == 0 else { return nil }  // facility 0: the kernel
        let text = line[(semicolon + 1)...]
        guard text.starts(with: prefix) else { return nil }
        let rest = text.dropFirst(prefix.count)
        guard let middleStart = rest.firstRange(of: middle)?.lowerBound else { return nil }
        let device = rest[..<middleStart]
        let countText = String(decoding: rest[(middleStart + middle.count)...], as: UTF8.self)
            .trimmingSuffix { $0 == " " || $0 == "\r" }
        guard !device.isEmpty, device.count <= DeviceWait.maxDeviceBytes,
              !device.contains(where: { $0 < 0x21 || $0 > 0x7e }),  // the kernel escapes the rest as \xNN
              let usage = Int32(countText) else { return nil }
        return (String(decoding: device, as: UTF8.self), usage)
    }
}

private extension String {
    func trimmingSuffix(while predicate: (Character) -> Bool) -> String {
        var end = endIndex
        while end > startIndex, predicate(self[index(before: end)]) { end = index(before: end) }
        return String(self[..<end])
    }
}
