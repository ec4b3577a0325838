import Foundation
import Testing

/// Real commands on the host: `unshare`, `ip netns`, `nsenter`.
enum Host {
    /// Runs a command to completion and returns its exit status and output. A command still
    /// running after `timeout` is killed, and the test fails saying so.
    @discardableResult
    static func run(_ arguments: [String], timeout: Duration = .seconds(120),
                    sourceLocation: SourceLocation = #_sourceLocation) throws -> (status: Int32, output: String) {
        // Output goes to a file, not a pipe: a pipe would block a chatty command once full,
        // and reading it to the end would wait past any deadline (a daemon it starts, such
        // as podman's conmon, may hold it open for good).
        let output = FileManager.default.temporaryDirectory.appending(path: "netns-host-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let pid = try spawn(arguments, output: output.path)
        // Reaped here, not by Foundation's Process: its monitor was seen to miss the exit of
        // a `podman run -d` (a zombie for good), and then neither `isRunning` nor
        // `waitUntilExit` ever changed, so no deadline held.
        let deadline = ContinuousClock.now + timeout * timeScale
        var status: Int32 = 0
        var reaped = waitpid(pid, &status, WNOHANG) == pid
        while !reaped, ContinuousClock.now < deadline {
            usleep(5_000)
            reaped = waitpid(pid, &status, WNOHANG) == pid
        }
        if !reaped {
            kill(pid, SIGKILL)
            _ = waitpid(pid, &status, 0)
            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            Issue.record("\(arguments.joined(separator: " ")) did not finish within \(timeout): killed; its output: \(text.suffix(2000))",
                         sourceLocation: sourceLocation)
            throw TimedOut()
        }
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        // The exit status, or 128 + the signal that ended it (as a shell reports it).
        let exitStatus = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exitStatus, text)
    }

    /// Starts `arguments` through env(1), as Foundation's Process did here (a command not found
    /// exits 127), with stdin from /dev/null, stdout and stderr appended to `output`, and no
    /// other descriptor.
    private static func spawn(_ arguments: [String], output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_APPEND, 0)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
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

    /// Runs a command that must succeed.
    static func must(_ arguments: [String], timeout: Duration = .seconds(120),
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (status, output) = try run(arguments, timeout: timeout, sourceLocation: sourceLocation)
        try #require(status == 0, "\(arguments.joined(separator: " ")) failed (\(status)): \(output)", sourceLocation: sourceLocation)
    }

    /// Starts a long-running command in the background.
    static func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// The network namespace inode of a process, as `/proc/PID/ns/net` shows it.
    static func netnsInode(pid: Int32) -> UInt32? {
        var info = stat()
        guard stat("/proc/\(pid)/ns/net", &info) == 0 else { return nil }
        return UInt32(info.st_ino)
    }

    /// The inode of a path (for `/run/netns/NAME`, the namespace's inum).
    static func inode(_ path: String) -> UInt32? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return UInt32(info.st_ino)
    }

    /// A name unlikely to collide with anything on the host.
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
    }

    /// Waits for a background process to exit; one still running after `timeout` is killed,
    /// and the test fails saying so.
    static func wait(for process: Process, timeout: Duration = .seconds(120),
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        let deadline = ContinuousClock.now + timeout * timeScale
        while process.isRunning, ContinuousClock.now < deadline { usleep(5_000) }
        guard process.isRunning else { return process.waitUntilExit() }
        stop(process)
        Issue.record("\((process.arguments ?? []).joined(separator: " ")) did not exit within \(timeout): killed",
                     sourceLocation: sourceLocation)
        throw TimedOut()
    }

    /// Kills and reaps a background process (SIGKILL: the test runner may pass on an
    /// ignored SIGTERM).
    static func stop(_ process: Process) {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// A namespace created by `unshare --net sleep` and held open as fd 3 by a second process:
    /// once `creator` is stopped, only the descriptor holds it.
    static func namespaceHeldByDescriptor() async throws -> (creator: Process, fdHolder: Process, inum: UInt32) {
        let creator = try start(["unshare", "--net", "sleep", "120"])
        try await eventually("the creator is in its own namespace") {
            netnsInode(pid: creator.processIdentifier) != ownNetnsInode
        }
        let inum = try #require(netnsInode(pid: creator.processIdentifier))
        let fdHolder = try start(["sh", "-c", "exec 3</proc/\(creator.processIdentifier)/ns/net; exec sleep 120"])
        try await eventually("the holder has the namespace open as fd 3") {
            inode("/proc/\(fdHolder.processIdentifier)/fd/3") == inum
        }
        return (creator, fdHolder, inum)
    }

    /// The inum of the namespace the tests run in (the host's).
    static var ownNetnsInode: UInt32? { netnsInode(pid: getpid()) }
}

/// glibc's posix_spawn_file_actions_addclosefrom_np (2.34): the child closes every descriptor
/// from the given one up. Swift's Glibc module does not declare it.
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func closeFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ lowest: Int32) -> Int32
