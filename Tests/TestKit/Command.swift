import Foundation
import Testing

/// A command's exit status and output.
public enum Command {
    public struct Result {
        public var status: Int32
        public var output: String
        public var errors: String
    }

    /// Runs `arguments` (the first found on PATH), in `directory` if given; killed if it has
    /// not ended after `timeout`.
    public static func run(_ arguments: [String], in directory: URL? = nil, timeout: Duration = .seconds(120)) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0].hasPrefix("/") ? arguments[0] : "/usr/bin/env")
        process.arguments = arguments[0].hasPrefix("/") ? Array(arguments.dropFirst()) : arguments
        if let directory { process.currentDirectoryURL = directory }
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let (seconds, attoseconds) = timeout.components
        DispatchQueue.global().asyncAfter(deadline: .now() + Double(seconds) + Double(attoseconds) / 1e18) {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: output, as: UTF8.self),
                      errors: String(decoding: errors, as: UTF8.self))
    }
}

public enum Subprocess {
    /// The output of a command that must succeed.
    public static func output(_ arguments: [String], in directory: URL? = nil) throws -> String {
        let result = try Command.run(arguments, in: directory)
        try #require(result.status == 0, "\(arguments.joined(separator: " ")) failed: \(result.errors)")
        return result.output
    }
}
