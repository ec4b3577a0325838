import ArgumentParser
import NetnsAgent
import NetnsExposition

/// `netns-tracer replay FILE`: feed a recording through the aggregator and print what a live
/// agent would have shown at the recording's end.
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a recording and print the /metrics and /namespaces a live agent would have shown at its end."
    )

    enum Output: String, ExpressibleByArgument, CaseIterable {
        case metrics, namespaces, list, both
    }

    @Argument(help: "A file written by `netns-tracer record`.")
    var file: String

    @Option(help: "What to print: metrics, namespaces (JSON), list (table) or both (metrics, then JSON).")
    var output: Output = .both

    @OptionGroup var leakOptions: LeakOptions

    func run() throws {
        let replay: ReplayResult
        do {
            replay = try ReplayResult(path: file, thresholds: leakOptions.thresholds)
        } catch {
            throw fail("\(file): \(error)")
        }
        switch output {
        case .metrics: print(replay.metrics, terminator: "")
        case .namespaces: print(replay.namespaces, terminator: "")
        case .list: print(NamespaceTable.render(try NamespaceSummary.decodeList(replay.namespaces), includeFreed: true), terminator: "")
        case .both: print(replay.metrics + "\n" + replay.namespaces, terminator: "")
        }
    }
}
