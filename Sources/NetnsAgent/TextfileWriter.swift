import Glibc
import NetnsSystem
import SystemPackage

/// Writes the metrics to a file for node_exporter's textfile collector.
///
/// Each write goes to a hidden temporary file beside the target (the collector reads only
/// `*.prom`), which then replaces the target with `rename(2)`: a reader sees the old text or
/// the new, never half of one. Nothing is synced: the file is rewritten every interval, and a
/// stale file after a crash is what `node_textfile_mtime_seconds` exists to show.
public struct TextfileWriter: Sendable {
    /// Why the file could not be written.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The file node_exporter reads.
    public let path: String
    private let temporaryPath: String

    /// Checks that `path` can be written: it names a `*.prom` file in an existing directory.
    public init(path: String) throws(Failure) {
        guard path.hasSuffix(".prom") else {
            throw Failure(description: "--textfile \(path): the name must end in .prom (node_exporter's textfile collector reads only *.prom files)")
        }
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        var status = stat()
        guard stat(directory, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
            throw Failure(description: "--textfile \(path): the directory \(directory) does not exist (node_exporter reads the one given by --collector.textfile.directory)")
        }
        guard access(directory, W_OK) == 0 else {
            throw Failure(description: "--textfile \(path): the directory \(directory) is not writable: \(String(cString: strerror(errno)))")
        }
        self.path = path
        self.temporaryPath = "\(directory)/.\(name).\(getpid()).tmp"
    }

    /// Replaces the file's content with `text`, atomically.
    public func write(_ text: String) throws(Failure) {
        let readable: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead]
        let file: FileDescriptor
        do {
            file = try FileDescriptor.open(FilePath(temporaryPath), .writeOnly, options: [.create, .truncate, .closeOnExec, .noFollow],
                                           permissions: readable)
        } catch {
            throw Failure(description: "cannot create \(temporaryPath): \(error)")
        }
        do {
            try file.closeAfter {
                _ = try file.writeAll(text.utf8)
                // fchmod: the umask must not hide the metrics from an unprivileged node_exporter.
                guard fchmod(file.rawValue, mode_t(readable.rawValue)) == 0 else { throw Errno(rawValue: errno) }
            }
        } catch {
            unlink(temporaryPath)
            throw Failure(description: "cannot write \(temporaryPath): \(error)")
        }
        guard rename(temporaryPath, path) == 0 else { throw abandon("cannot replace \(path)") }
    }

    /// The failure of `what`, the temporary file removed.
    private func abandon(_ what: String) -> Failure {
        let error = failure(what)
        unlink(temporaryPath)
        return error
    }

    /// Removes the file, so that a stopped agent leaves no metrics that look current.
    public func remove() {
        unlink(path)
    }

    private func failure(_ what: String) -> Failure {
        Failure(description: "\(what): \(String(cString: strerror(errno)))")
    }
}
