import Foundation
import Testing

/// The repository's root (for the dashboards and rules the tests check).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

/// A real Prometheus server (Debian's `prometheus` package) on a free loopback port, scraping
/// `targets` every second as job `netns-tracer` (with `scrapeOptions`, YAML lines added to the
/// job: a scheme, tls_config, basic_auth), with `ruleFiles` loaded.
final class PrometheusServer {
    let process = Process()
    let port: Int
    let directory: URL
    private let log: URL

    init(targets: [String], ruleFiles: [String] = [], scrapeOptions: [String] = [],
         sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let binary = "/usr/bin/prometheus"
        try #require(FileManager.default.isExecutableFile(atPath: binary),
                     "\(binary) is missing: scripts/setup installs Debian's prometheus package", sourceLocation: sourceLocation)
        port = try freeLoopbackPort()
        directory = FileManager.default.temporaryDirectory.appending(path: "netns-prometheus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let configuration = """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files: [\(ruleFiles.map { "'\($0)'" }.joined(separator: ", "))]
            scrape_configs:
              - job_name: netns-tracer
            \(scrapeOptions.map { "    \($0)\n" }.joined())    static_configs:
                  - targets: [\(targets.map { "'\($0)'" }.joined(separator: ", "))]
            """
        try configuration.write(to: directory.appending(path: "prometheus.yml"), atomically: true, encoding: .utf8)
        log = directory.appending(path: "prometheus.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "--config.file=\(directory.path)/prometheus.yml", "--storage.tsdb.path=\(directory.path)/data",
            "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
        ]
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        try await eventually("Prometheus at port \(port) is ready", timeout: .seconds(30), sourceLocation: sourceLocation) {
            guard process.isRunning else { return true }
            return (try? Host.run(["curl", "-sf", "http://127.0.0.1:\(port)/-/ready"]).status) == 0
        }
        try #require(process.isRunning, "Prometheus exited: \(logText)", sourceLocation: sourceLocation)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try? FileManager.default.removeItem(at: directory)
    }

    var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// GETs an API path with URL-encoded parameters and returns its `data`, or throws with
    /// Prometheus' own error.
    func api(_ path: String, _ parameters: [(String, String)] = []) throws -> Any {
        let arguments = ["curl", "-sS", "-G", "http://127.0.0.1:\(port)\(path)"]
            + parameters.flatMap { ["--data-urlencode", "\($0.0)=\($0.1)"] }
        let (status, output) = try Host.run(arguments)
        guard status == 0,
              let reply = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] else {
            throw PrometheusError(message: "curl \(path) failed (\(status)): \(output.prefix(300))")
        }
        guard reply["status"] as? String == "success", let data = reply["data"] else {
            throw PrometheusError(message: "\(reply["errorType"] ?? "error"): \(reply["error"] ?? output)")
        }
        return data
    }

    /// The instant vector of `query`: each series' labels and value.
    func query(_ query: String) throws -> [(labels: [String: String], value: Double)] {
        guard let data = try api("/api/v1/query", [("query", query)]) as? [String: Any] else {
            throw PrometheusError(message: "no data for \(query)")
        }
        guard data["resultType"] as? String == "vector" else {
            // Scalars and strings: one value, no labels.
            if let pair = data["result"] as? [Any], let text = pair.last as? String, let value = Double(text) {
                return [([:], value)]
            }
            return []
        }
        return (data["result"] as? [[String: Any]] ?? []).compactMap { series in
            guard let labels = series["metric"] as? [String: String], let pair = series["value"] as? [Any],
                  let text = pair.last as? String, let value = Double(text) else { return nil }
            return (labels, value)
        }
    }

    /// The value of a query that yields one series, or nil if it yields none.
    func value(_ expression: String) throws -> Double? {
        let result = try query(expression)
        return result.count == 1 ? result[0].value : nil
    }
}

struct PrometheusError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Every PromQL expression an operator's tools evaluate: the dashboard's panel targets (with
/// Grafana's variables replaced by what they stand for) and the alert rules' `expr`.
enum OperatorExpressions {
    static var dashboardPath: URL { repositoryRoot.appending(path: "dashboards/netns-tracer.json") }
    static var rulesPath: URL { repositoryRoot.appending(path: "deploy/prometheus/netns-tracer.rules.yml") }

    static let grafanaVariables = [
        ("${instance}", ".*"), ("$instance", ".*"), ("$__rate_interval", "1m"), ("${__rate_interval}", "1m"),
        ("$__interval", "1m"), ("${__interval}", "1m"), ("$__range", "5m"), ("${__range}", "5m"),
    ]

    /// (where, expression) for every dashboard target.
    static func dashboard() throws -> [(String, String)] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dashboardPath))
        var found: [(String, String)] = []
        func walk(_ value: Any, title: String) {
            if let object = value as? [String: Any] {
                let title = object["title"] as? String ?? title
                if var expression = object["expr"] as? String {
                    for (variable, value) in grafanaVariables {
                        expression = expression.replacingOccurrences(of: variable, with: value)
                    }
                    found.append(("dashboard panel '\(title)'", expression))
                }
                for (_, child) in object { walk(child, title: title) }
            } else if let array = value as? [Any] {
                for child in array { walk(child, title: title) }
            }
        }
        walk(json, title: "")
        return found
    }

    /// (where, expression) for every alert and recording rule.
    static func rules() throws -> [(String, String)] {
        let json = try Host.run(["/usr/bin/python3", "-c",
            "import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", rulesPath.path])
        try #require(json.status == 0, "cannot read \(rulesPath.path) (scripts/setup installs python3-yaml): \(json.output)")
        let document = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
        var found: [(String, String)] = []
        for group in document?["groups"] as? [[String: Any]] ?? [] {
            for rule in group["rules"] as? [[String: Any]] ?? [] {
                let name = rule["alert"] as? String ?? rule["record"] as? String ?? "?"
                if let expression = rule["expr"] as? String { found.append(("rule \(name)", expression)) }
            }
        }
        return found
    }

    /// The `netns_*` metric names an expression refers to.
    static func metricNames(in expression: String) -> Set<String> {
        Set(expression.matches(of: /netns_[a-zA-Z0-9_:]*/).map { String($0.output) })
    }
}
