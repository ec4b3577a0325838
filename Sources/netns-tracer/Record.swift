import ArgumentParser
import NetnsAgent

/// `netns-tracer record FILE`: write the live event stream, with the discovery snapshot and
/// every holder scan, to a file that `replay` reads back.
struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record the live event stream (with discovery and holder scans) to FILE until SIGINT, SIGTERM or --duration."
    )

    @Argument(help: "The file to write (replaced if it exists).")
    var file: String

    @Option(help: "Stop after this many seconds.")
    var duration: Double?

    @OptionGroup var probeOptions: ProbeOptions

    func validate() throws {
        if let duration, duration <= 0 { throw ValidationError("--duration must be positive") }
    }

    func run() throws {
        var configuration = AgentConfiguration()
        configuration.serve = false
        configuration.recordPath = file
        probeOptions.apply(to: &configuration)
        try runAgent(configuration, logLevel: probeOptions.logLevel,
                           stopAfter: duration.map { .milliseconds(Int64($0 * 1000)) })
    }
}
