import Foundation
import Testing

/// Real commands on the host: `unshare`, `ip netns`, `nsenter`.
enum Host {
    /// Runs a command to completion and returns its exit status and output.
    @discardableResult
    static func run(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    /// Runs a command that must succeed.
    static func must(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (status, output) = try run(arguments, sourceLocation: sourceLocation)
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

    /// Kills and reaps a background process (SIGKILL: the test runner may pass on an
    /// ignored SIGTERM).
    static func stop(_ process: Process) {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// The inum of the namespace the tests run in (the host's).
    static var ownNetnsInode: UInt32? { netnsInode(pid: getpid()) }
}
