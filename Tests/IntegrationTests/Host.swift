import Foundation
import TestKit
import Testing

/// Real commands on the host: `unshare`, `ip netns`, `nsenter`.
enum Host {
    /// Runs a command to completion and returns its exit status and output. A command still
    /// running after `timeout` is killed, and the test fails saying so.
    @discardableResult
    static func run(_ arguments: [String], timeout: Duration = .seconds(120),
                    sourceLocation: SourceLocation = #_sourceLocation) throws -> (status: Int32, output: String) {
        let result = try ChildProcess.run(arguments, timeout: timeout * timeScale, mergingErrors: true)
        if result.timedOut {
            Issue.record("\(arguments.joined(separator: " ")) did not finish within \(timeout): killed; its output: \(result.output.suffix(2000))",
                         sourceLocation: sourceLocation)
            throw TimedOut()
        }
        return (result.status, result.output)
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

    /// Starts a netns-patterns mode that prints one "held …" line of `fields` words and then
    /// holds what it made until stopped; returns the process, to stop, and that line's words.
    static func startHolding(_ arguments: [String], fields count: Int) async throws -> (Process, [Substring]) {
        let output = FileManager.default.temporaryDirectory.appending(path: uniqueName("netns-held")).path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let holder = try start(["sh", "-c", "exec \"$@\" >\"$0\"", output, RealKernel.ExactnessTests.patterns] + arguments)
        var fields: [Substring] = []
        do {
            try await eventually("netns-patterns \(arguments.joined(separator: " ")) holds what it made") {
                fields = ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(whereSeparator: \.isWhitespace)
                return fields.count == count && fields[0] == "held"
            }
        } catch {
            stop(holder)
            throw error
        }
        return (holder, fields)
    }

    /// The inum of the namespace the tests run in (the host's).
    static var ownNetnsInode: UInt32? { netnsInode(pid: getpid()) }
}
