import ArgumentParser
import Logging
import NetnsAgent
import NetnsExposition
import NetnsKernel
import ServiceLifecycle

/// The `netns-tracer` command line. Synchronous on purpose: `run` and `record` attach the
/// probes and drop capabilities before any other thread exists (see `runAgent`).
@main
struct NetnsTracer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netns-tracer",
        abstract: "Trace the lifecycle of Linux network namespaces with BPF and export it as metrics.",
        version: BuildInfo.description,
        subcommands: [Run.self, List.self, Trace.self, Record.self, Replay.self]
    )
}

extension ProbeMode: ExpressibleByArgument {}

/// Prints one sentence on stderr and exits non-zero.
func fail(_ message: String) -> ExitCode {
    var standardError = StandardError()
    print("netns-tracer: \(message)", to: &standardError)
    return ExitCode(1)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        _ = Glibc.write(2, &bytes, bytes.count)
    }
}

#if canImport(Glibc)
import Glibc
#endif
