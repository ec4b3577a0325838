import Glibc
import SystemPackage

// Small, bounded file-system reads the shells share (procfs, sysfs, cgroupfs, configuration).
// Every read is capped: the agent reads what others write. Descriptors are swift-system's;
// directories and links, which it does not cover, go through Glibc.

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

/// Reads a text file of at most `limit` bytes (procfs files report no size), or nil.
package func readSmallFile(_ path: String, limit: Int = 4 << 20) -> String? {
    readFileBytes(path, limit: limit).map { String(decoding: $0, as: UTF8.self) }
}

/// Reads at most `limit` bytes of a file, or nil if it cannot be opened or read.
package func readFileBytes(_ path: String, limit: Int) -> [UInt8]? {
    guard let file = try? FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec) else { return nil }
    return try? file.closeAfter {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while bytes.count < limit {
            let wanted = min(chunk.count, limit - bytes.count)
            let count = try chunk.withUnsafeMutableBytes { try file.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[..<wanted])) }
            guard count > 0 else { break }
            bytes.append(contentsOf: chunk.prefix(count))
        }
        return bytes
    }
}
