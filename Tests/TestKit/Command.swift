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
    /// not ended after `timeout` (its status is then 137).
    public static func run(_ arguments: [String], in directory: URL? = nil, timeout: Duration = .seconds(120)) throws -> Result {
        let result = try ChildProcess.run(arguments, in: directory?.path, timeout: timeout)
        return Result(status: result.status, output: result.output, errors: result.errors)
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
