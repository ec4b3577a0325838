import Glibc

// Small, bounded file-system reads and writes the shells share (procfs, sysfs, cgroupfs,
// the recording and the textfile). Every read is capped: the agent reads what others write.

/// The entries of a directory but `.` and `..`, or nil if it cannot be opened.
package func directoryEntries(_ path: String) -> [(name: String, isDirectory: Bool)]? {
    guard let directory = opendir(path) else { return nil }
    defer { closedir(directory) }
    var entries: [(name: String, isDirectory: Bool)] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != ".", name != ".." { entries.append((name, entry.pointee.d_type == UInt8(DT_DIR))) }
    }
    return entries
}

/// Reads a symbolic link's target, or nil.
package func readLink(_ path: String) -> String? {
    var buffer = [CChar](repeating: 0, count: 256)
    let count = readlink(path, &buffer, buffer.count - 1)
    guard count > 0 else { return nil }
    return String(decoding: buffer.prefix(count).map(UInt8.init(bitPattern:)), as: UTF8.self)
}

/// Writes all of `bytes` to `fd`, retrying short and interrupted writes; false (errno set)
/// if the file refused them.
package func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var written = 0
    while written < bytes.count {
        let count = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if count < 0, errno == EINTR { continue }
        guard count > 0 else { return false }
        written += count
    }
    return true
}

/// Reads a text file of at most `limit` bytes (procfs files report no size), or nil.
package func readSmallFile(_ path: String, limit: Int = 4 << 20) -> String? {
    readFileBytes(path, limit: limit).map { String(decoding: $0, as: UTF8.self) }
}

/// Reads at most `limit` bytes of a file, or nil if it cannot be opened or read.
package func readFileBytes(_ path: String, limit: Int) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { _ = close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while bytes.count < limit {
        let count = read(fd, &chunk, min(chunk.count, limit - bytes.count))
        if count < 0, errno == EINTR { continue }
        if count < 0 { return nil }
        guard count > 0 else { break }
        bytes.append(contentsOf: chunk.prefix(count))
    }
    return bytes
}
