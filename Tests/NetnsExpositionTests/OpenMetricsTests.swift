import Foundation
import NetnsCore
import Testing
@testable import NetnsExposition

@Suite("Format negotiation and OpenMetrics")
struct OpenMetricsTests {
    static let prometheusAccept =
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

    @Test("the Accept header picks the format", arguments: [
        (nil, ExpositionFormat.prometheusText),
        (prometheusAccept, .openMetrics),
        ("application/openmetrics-text", .openMetrics),
        ("text/plain;version=0.0.4", .prometheusText),
        ("text/plain; version=0.0.4; q=0.9, application/openmetrics-text; version=1.0.0; q=0.2", .prometheusText),
        ("application/openmetrics-text;version=2.0.0", .prometheusText),
        ("application/openmetrics-text;q=0", .prometheusText),
        ("*/*", .prometheusText),
        ("application/json", .prometheusText),
        (";;;,,q=,=", .prometheusText),
        ("application/openmetrics-text;q=7", .prometheusText),
    ] as [(String?, ExpositionFormat)])
    func negotiation(accept: String?, expected: ExpositionFormat) {
        #expect(ExpositionFormat.negotiate(accept: accept) == expected)
    }

    static let snapshot: AgentSnapshot = {
        var aggregator = Aggregator(leakThresholds: LeakThresholds(orphaned: 1, stuckTeardown: 1, zombie: 1))
        aggregator.apply([
            NetnsEvent(kind: .created, timestamp: 1_000_000_000, cookie: 2, inum: 4_026_532_100,
                       task: TaskIdentity(pid: 77, tid: 77, comm: "we\"ird\\\nname", cgroupID: 55)),
            NetnsEvent(kind: .created, timestamp: 2_000_000_000, cookie: 3, inum: 4_026_532_101),
            NetnsEvent(kind: .released, timestamp: 2_500_000_000, cookie: 3, inum: 4_026_532_101),
            NetnsEvent(kind: .cleanupStart, timestamp: 2_600_000_000),
            NetnsEvent(kind: .cleanupEnd, timestamp: 2_700_000_000),
        ])
        aggregator.apply(HolderScan(timestamp: 3_000_000_000, byCookie: [:], byInum: [:]))
        return AgentSnapshot(aggregator: aggregator, probeSet: .fentry)
    }()

    /// Every sample line as series -> value, with `le` bounds in one spelling.
    static func samples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let space = line.lastIndex(of: " ")!
            let series = String(line[..<space]).replacing(/le="([0-9]+)\.0"/) { "le=\"\($0.output.1)\"" }
            samples[series] = Double(line[line.index(after: space)...])
        }
        return samples
    }

    @Test("OpenMetrics carries the same samples as the text format, with its own metadata")
    func sameSamples() {
        let text = MetricsExposition.render(Self.snapshot, now: 10_000_000_000, format: .prometheusText)
        let openMetrics = MetricsExposition.render(Self.snapshot, now: 10_000_000_000, format: .openMetrics)
        #expect(Self.samples(text) == Self.samples(openMetrics))
        #expect(Self.samples(text)["netns_created_total"] == 2)
        #expect(openMetrics.hasSuffix("\n# EOF\n"))
        #expect(!text.contains("# EOF"))
        #expect(openMetrics.contains("# TYPE netns_created counter\n"))
        #expect(text.contains("# TYPE netns_created_total counter\n"))
        #expect(openMetrics.contains("# TYPE netns_tracer_probe info\n"))
        #expect(openMetrics.contains("# UNIT netns_lifetime_seconds seconds\n"))
        #expect(openMetrics.contains("netns_lifetime_seconds_bucket{le=\"1.0\"}"))
        #expect(text.contains("netns_lifetime_seconds_bucket{le=\"1\"}"))
        #expect(openMetrics.contains("creator_comm=\"we\\\"ird\\\\\\nname\""))
    }

    @Test("a strict OpenMetrics parser (prometheus_client's) accepts the output", arguments: [false, true])
    func strictParser(leaking: Bool) throws {
        var snapshot = Self.snapshot
        if !leaking { snapshot.aggregator = Aggregator() }
        let openMetrics = MetricsExposition.render(snapshot, now: 10_000_000_000, format: .openMetrics)
        let output = try runPython("""
            import sys
            from prometheus_client.openmetrics.parser import text_string_to_metric_families
            families = list(text_string_to_metric_families(sys.stdin.read()))
            print(len(families), sum(len(f.samples) for f in families))
            """, input: openMetrics)
        let families = openMetrics.split(separator: "\n").count { $0.hasPrefix("# TYPE ") }
        let samples = openMetrics.split(separator: "\n").count { !$0.hasPrefix("#") }
        #expect(output == "\(families) \(samples)\n")
    }
}

/// Runs `script` with Debian's python3 (which has the packages scripts/setup installs).
func runPython(_ script: String, input: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
    process.arguments = ["-c", script]
    let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    stdin.fileHandleForWriting.write(Data(input.utf8))
    try stdin.fileHandleForWriting.close()
    let output = stdout.fileHandleForReading.readDataToEndOfFile()
    let errors = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    try #require(process.terminationStatus == 0, "python3 failed (scripts/setup installs python3-prometheus-client): \(errors)")
    return String(decoding: output, as: UTF8.self)
}
