import Foundation
import Testing

/// The repository's root (for the dashboards and rules the tests check).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

/// A real Prometheus server (Debian's `prometheus` package) on a free loopback port, run with
/// `configuration` (the YAML document as a dictionary: JSON is YAML) and, if asked, its
/// remote-write receiver (`/api/v1/write`).
final class PrometheusServer {
    let process = Process()
    let port: Int
    let directory: URL
    private let log: URL

    init(configuration: [String: Any], remoteWriteReceiver: Bool = false,
         sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let binary = "/usr/bin/prometheus"
        try #require(FileManager.default.isExecutableFile(atPath: binary),
                     "\(binary) is missing: scripts/setup installs Debian's prometheus package", sourceLocation: sourceLocation)
        port = try freeLoopbackPort()
        directory = FileManager.default.temporaryDirectory.appending(path: "netns-prometheus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: configuration, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            .write(to: directory.appending(path: "prometheus.yml"))
        log = directory.appending(path: "prometheus.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "--config.file=\(directory.path)/prometheus.yml", "--storage.tsdb.path=\(directory.path)/data",
            "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
        ] + (remoteWriteReceiver ? ["--web.enable-remote-write-receiver"] : [])
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

    /// Scrapes `targets` every second as job `netns-tracer` (with `scrapeOptions` added to the
    /// job: a scheme, tls_config, basic_auth), with `ruleFiles` evaluated every second.
    convenience init(targets: [String], ruleFiles: [String] = [], scrapeOptions: [String: Any] = [:],
                     sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let job = scrapeOptions.merging(["job_name": "netns-tracer", "static_configs": [["targets": targets]]]) { $1 }
        try await self.init(configuration: [
            "global": Self.everySecond, "rule_files": ruleFiles, "scrape_configs": [job],
        ], sourceLocation: sourceLocation)
    }

    static let everySecond = ["scrape_interval": "1s", "evaluation_interval": "1s"]

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

/// A YAML file of the repository as JSON values (python3-yaml, which scripts/setup installs).
func yamlDocument(_ file: URL, sourceLocation: SourceLocation = #_sourceLocation) throws -> Any {
    let json = try Host.run(["/usr/bin/python3", "-c",
        "import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", file.path])
    try #require(json.status == 0, "cannot read \(file.path) (scripts/setup installs python3-yaml): \(json.output)",
                 sourceLocation: sourceLocation)
    return try JSONSerialization.jsonObject(with: Data(json.output.utf8))
}

struct PrometheusError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Every PromQL expression an operator's tools evaluate: the dashboards' panel targets (with
/// Grafana's variables replaced by what they stand for) and the rules' `expr`.
enum OperatorExpressions {
    static var dashboardPath: URL { repositoryRoot.appending(path: "dashboards/netns-tracer.json") }
    static var rulesPath: URL { repositoryRoot.appending(path: "deploy/prometheus/netns-tracer.rules.yml") }
    static var fleetDashboardPath: URL { repositoryRoot.appending(path: "dashboards/netns-tracer-fleet.json") }
    static var fleetRulesPath: URL { repositoryRoot.appending(path: "deploy/prometheus/netns-tracer.fleet.rules.yml") }
    static var fleetConfigurationPath: URL { repositoryRoot.appending(path: "deploy/prometheus/fleet.yml") }

    static let grafanaVariables = [
        ("${instance}", ".*"), ("$instance", ".*"), ("$__rate_interval", "1m"), ("${__rate_interval}", "1m"),
        ("$__interval", "1m"), ("${__interval}", "1m"), ("$__range", "5m"), ("${__range}", "5m"),
    ]

    /// (where, expression) for every target of a dashboard, with `variables` (name, value)
    /// substituted before Grafana's own.
    static func dashboard(_ path: URL = dashboardPath, variables: [(String, String)] = []) throws -> [(String, String)] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: path))
        var found: [(String, String)] = []
        func walk(_ value: Any, title: String) {
            if let object = value as? [String: Any] {
                let title = object["title"] as? String ?? title
                if var expression = object["expr"] as? String {
                    for (variable, value) in variables + grafanaVariables {
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

    /// The rules of a rule file, as its groups list them.
    static func ruleDefinitions(_ path: URL = rulesPath) throws -> [[String: Any]] {
        let document = try yamlDocument(path) as? [String: Any]
        return (document?["groups"] as? [[String: Any]] ?? []).flatMap { $0["rules"] as? [[String: Any]] ?? [] }
    }

    /// (where, expression) for every alert and recording rule.
    static func rules(_ path: URL = rulesPath) throws -> [(String, String)] {
        try ruleDefinitions(path).compactMap { rule in
            let name = rule["alert"] as? String ?? rule["record"] as? String ?? "?"
            return (rule["expr"] as? String).map { ("rule \(name)", $0) }
        }
    }

    /// The series names recorded by a rule file.
    static func recordedNames(_ path: URL) throws -> Set<String> {
        Set(try ruleDefinitions(path).compactMap { $0["record"] as? String })
    }

    /// The `netns_*` metric names an expression refers to.
    static func metricNames(in expression: String) -> Set<String> {
        Set(expression.matches(of: /netns_[a-zA-Z0-9_:]*/).map { String($0.output) })
    }

    /// The names an expression refers to that are about namespaces: the agent's own
    /// (`netns_alive`) and recorded ones (`node:netns_alive:sum`), outside quoted strings.
    static func seriesNames(in expression: String) -> Set<String> {
        let unquoted = expression.replacing(/"[^"]*"/, with: "\"\"")
        return Set(unquoted.matches(of: /[a-zA-Z_:][a-zA-Z0-9_:]*/).map { String($0.output) }.filter { $0.contains("netns_") })
    }
}
