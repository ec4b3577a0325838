import Foundation
import Glibc

/// Runs a command as the tests need it: started through env(1) (a command not found exits
/// 127), stdin from /dev/null, output into files rather than pipes, no descriptor of the test
/// process but stdout and stderr, reaped here, and killed at a deadline.
///
/// Files, not pipes: a pipe blocks a chatty command once full, and reading one to its end
/// waits past any deadline when a daemon the command starts (podman's conmon) holds it open.
/// Reaped here, not by Foundation's `Process`: its monitor was seen to miss the exit of a
/// `podman run -d` (a zombie for good), after which no deadline held.
public enum ChildProcess {
    /// How a command ended.
    public struct Result: Sendable {
        /// The exit status, or 128 + the signal that ended it (as a shell reports it).
        public var status: Int32
        /// Its standard output (and its standard error too, when merged).
        public var output: String
        /// Its standard error, when not merged.
        public var errors: String
        /// Whether it was killed at the deadline.
        public var timedOut: Bool
    }

    /// Runs `arguments` to completion, in `directory` if given; killed after `timeout`.
    public static func run(_ arguments: [String], in directory: String? = nil, timeout: Duration,
                           mergingErrors: Bool = false) throws -> Result {
        let base = FileManager.default.temporaryDirectory.appending(path: "netns-child-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let output = base.appendingPathExtension("out"), errors = base.appendingPathExtension("err")
        for file in [output, errors] { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }
        defer { for file in [output, errors] { try? FileManager.default.removeItem(at: file) } }
        let pid = try spawn(arguments, directory: directory, output: output.path, errors: mergingErrors ? nil : errors.path)
        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        var reaped = waitpid(pid, &status, WNOHANG) == pid
        while !reaped, ContinuousClock.now < deadline {
            usleep(5_000)
            reaped = waitpid(pid, &status, WNOHANG) == pid
        }
        if !reaped {
            kill(pid, SIGKILL)
            _ = waitpid(pid, &status, 0)
        }
        func text(_ file: URL) -> String { (try? String(contentsOf: file, encoding: .utf8)) ?? "" }
        let exitStatus = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: exitStatus, output: text(output), errors: mergingErrors ? "" : text(errors), timedOut: !reaped)
    }

    private static func spawn(_ arguments: [String], directory: String?, output: String, errors: String?) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_APPEND, 0)
        if let errors {
            posix_spawn_file_actions_addopen(&actions, 2, errors, O_WRONLY | O_APPEND, 0)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        if let directory { changeDirectory(&actions, directory) }
        // Nothing else of the test process's: a workload that sets its own descriptor limit
        // (`netns-patterns burst`) counts on having only these three.
        let closing = closeFrom(&actions, 3)
        guard closing == 0 else { throw POSIXError(POSIXErrorCode(rawValue: closing) ?? .EIO) }
        let argv = (["env"] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let error = posix_spawn(&pid, "/usr/bin/env", &actions, nil, argv, environ)
        guard error == 0 else { throw POSIXError(POSIXErrorCode(rawValue: error) ?? .EIO) }
        return pid
    }
}

// glibc functions Swift's Glibc module does not declare.

/// posix_spawn_file_actions_addclosefrom_np (2.34): the child closes every descriptor from the
/// given one up.
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func closeFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ lowest: Int32) -> Int32

/// posix_spawn_file_actions_addchdir_np (2.29): the child changes to the given directory.
@_silgen_name("posix_spawn_file_actions_addchdir_np")
@discardableResult
private func changeDirectory(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: UnsafePointer<CChar>) -> Int32
