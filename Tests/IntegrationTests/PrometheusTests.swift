import Foundation
import Testing

extension RealKernel {
/// The operator's path, with the real tools: Prometheus scraping the agent, the dashboard's and
/// the alert rules' PromQL evaluated by it, node_exporter reading the textfile.
@Suite("Prometheus, node_exporter, dashboard and alerts")
struct PrometheusTests {
    /// Metric names the agent exports, with a histogram's series names.
    static func exportedNames(_ metrics: String) -> Set<String> {
        var names: Set<String> = []
        for line in metrics.split(separator: "\n") where line.hasPrefix("# TYPE ") {
            let parts = line.split(separator: " ")
            let name = String(parts[2])
            names.insert(name)
            if parts[3] == "histogram" { names.formUnion(["_bucket", "_sum", "_count"].map { name + $0 }) }
        }
        return names
    }

    @Test("a real Prometheus scrapes the agent in OpenMetrics and sees exactly the namespaces the test made")
    func scrape() async throws {
        let agent = try await RunningAgent(arguments: ["--holder-scan-interval", "0.5", "--orphaned-after", "1"])
        let prometheus = try await PrometheusServer(targets: ["127.0.0.1:\(agent.port)"],
                                                    ruleFiles: [OperatorExpressions.rulesPath.path])
        try await eventually("Prometheus has scraped the agent", timeout: .seconds(20)) {
            try prometheus.value("up{job=\"netns-tracer\"}") == 1 && prometheus.value("netns_alive") != nil
        }
        let alive = try #require(try prometheus.value("netns_alive"))
        #expect(try prometheus.value("netns_created_total") == 0)

        // Three namespaces that end at once, and one pinned by a mount with no task: orphaned.
        for _ in 0..<3 { try Host.must(["unshare", "--net", "true"]) }
        let name = Host.uniqueName("nt-prom")
        try Host.must(["ip", "netns", "add", name])
        var deleted = false
        defer { if !deleted { _ = try? Host.run(["ip", "netns", "del", name]) } }
        let pinned = try #require(Host.inode("/run/netns/\(name)"))
        try await eventually("Prometheus sees the four creations, three frees and the orphan", timeout: .seconds(30)) {
            try prometheus.value("netns_created_total") == 4 && prometheus.value("netns_freed_total") == 3
                && prometheus.value("netns_leaked{kind=\"orphaned\"}") == 1
        }
        #expect(try prometheus.value("netns_released_total") == 3)
        #expect(try prometheus.value("netns_alive") == alive + 1)
        #expect(try prometheus.value("netns_lifetime_seconds_count") == 3)
        #expect(try prometheus.value("netns_tracer_events_lost_total") == 0)
        let leaks = try prometheus.query("netns_leak_info")
        #expect(leaks.count == 1)
        #expect(leaks.first?.labels["inum"] == String(pinned))
        #expect(leaks.first?.labels["kind"] == "orphaned")
        #expect(leaks.first?.labels["creator_comm"] == "ip")

        // The scrape was OpenMetrics: only that format has the info type.
        let metadata = try prometheus.api("/api/v1/targets/metadata", [("metric", "netns_tracer_probe")]) as? [[String: Any]]
        #expect(metadata?.first?["type"] as? String == "info")

        // The agent's own cost, as the dashboard's row selects it: its process, not Prometheus's.
        let memory = try prometheus.query("process_resident_memory_bytes and on (instance, job) netns_tracer_build_info")
        #expect(memory.count == 1 && (memory.first?.value ?? 0) > 4_194_304, "\(memory)")
        let cpu = try prometheus.query("process_cpu_seconds_total and on (instance, job) netns_tracer_build_info")
        #expect(cpu.count == 1 && (cpu.first?.value ?? 0) > 0, "\(cpu)")

        try Host.must(["ip", "netns", "del", name])
        deleted = true
        try await eventually("Prometheus sees the pinned namespace freed and the leak gone", timeout: .seconds(30)) {
            try prometheus.value("netns_freed_total") == 4 && prometheus.value("netns_leaked{kind=\"orphaned\"}") == 0
        }
        #expect(try prometheus.value("netns_alive") == alive)
        #expect(try prometheus.query("netns_leak_info").isEmpty)

        // Every expression of the dashboard and the alert rules evaluates without error and
        // names only metrics the agent exports.
        let exported = Self.exportedNames(try agent.client.get("/metrics"))
        let expressions = try OperatorExpressions.dashboard() + OperatorExpressions.rules()
        #expect(expressions.count >= 20, "the dashboard and the rules have their expressions")
        for (place, expression) in expressions {
            #expect(throws: Never.self, "\(place): \(expression)") { _ = try prometheus.query(expression) }
            let unknown = OperatorExpressions.metricNames(in: expression).subtracting(exported)
            #expect(unknown.isEmpty, "\(place) refers to metrics the agent does not export: \(unknown.sorted())")
        }
        // Prometheus itself evaluated every rule without error.
        let groups = (try prometheus.api("/api/v1/rules") as? [String: Any])?["groups"] as? [[String: Any]] ?? []
        let rules = groups.flatMap { $0["rules"] as? [[String: Any]] ?? [] }
        #expect(!rules.isEmpty, "the alert rules are loaded")
        for rule in rules {
            #expect(rule["health"] as? String == "ok", "rule \(rule["name"] ?? "?"): \(rule["lastError"] ?? "")")
        }
        let alerts = try prometheus.query("ALERTS{alertstate=\"firing\"}")
        #expect(alerts.isEmpty, "no alert fires on a healthy host: \(alerts.map(\.labels))")
        await agent.stop()
    }

    @Test("promtool check rules and promtool test rules pass on the alert rules and the fleet rules",
          arguments: ["netns-tracer", "netns-tracer.fleet"])
    func promtoolRules(file: String) throws {
        let directory = OperatorExpressions.rulesPath.deletingLastPathComponent().path
        let check = try Host.run(["sh", "-c", "cd '\(directory)' && promtool check rules \(file).rules.yml"])
        #expect(check.status == 0 && check.output.contains("SUCCESS") && !check.output.contains("WARNING"), "\(check.output)")
        let test = try Host.run(["sh", "-c", "cd '\(directory)' && promtool test rules \(file).rules.test.yml"])
        #expect(test.status == 0 && test.output.contains("SUCCESS"), "\(test.output)")
    }

    /// A dashboard Grafana imports as is: no import-time inputs, a datasource variable and
    /// `variable`, on which every target filters; unique panel ids; a panel about each topic.
    static func checkDashboard(_ path: URL, uid: String, variable: String, minimumPanels: Int, topics: [String],
                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        let dashboard = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: path)) as? [String: Any],
                                     sourceLocation: sourceLocation)
        #expect(dashboard["uid"] as? String == uid, sourceLocation: sourceLocation)
        #expect(dashboard["__inputs"] == nil, "no import-time inputs: the datasource is a variable", sourceLocation: sourceLocation)
        let variables = (dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
        #expect(variables.contains { $0["name"] as? String == "datasource" && $0["type"] as? String == "datasource" && $0["query"] as? String == "prometheus" },
                sourceLocation: sourceLocation)
        #expect(variables.contains { $0["name"] as? String == variable && ($0["query"] as? String)?.contains(variable) == true },
                sourceLocation: sourceLocation)
        let panels = (dashboard["panels"] as? [[String: Any]] ?? []).filter { $0["type"] as? String != "row" }
        #expect(panels.count >= minimumPanels, sourceLocation: sourceLocation)
        #expect(Set(panels.compactMap { $0["id"] as? Int }).count == panels.count, "panel ids are unique", sourceLocation: sourceLocation)
        for panel in panels {
            let title = panel["title"] as? String ?? "?"
            #expect((panel["datasource"] as? [String: String])?["uid"] == "${datasource}", "panel '\(title)' uses the datasource variable",
                    sourceLocation: sourceLocation)
            for target in panel["targets"] as? [[String: Any]] ?? [] {
                let expression = target["expr"] as? String ?? ""
                #expect((target["datasource"] as? [String: String])?["uid"] == "${datasource}", "a target of '\(title)'",
                        sourceLocation: sourceLocation)
                #expect(expression.contains("\(variable)=~\"$\(variable)\""), "'\(title)' filters on the \(variable) variable: \(expression)",
                        sourceLocation: sourceLocation)
            }
        }
        let titles = panels.compactMap { ($0["title"] as? String)?.lowercased() }.joined(separator: "|")
        for topic in topics {
            #expect(titles.contains(topic), "a panel about \(topic)", sourceLocation: sourceLocation)
        }
    }

    @Test("the dashboard imports as is: a datasource variable, an instance variable, every target on both")
    func dashboardShape() throws {
        try Self.checkDashboard(OperatorExpressions.dashboardPath, uid: "netns-tracer", variable: "instance", minimumPanels: 15,
                                topics: ["alive", "dying", "lifetime", "cleanup", "failure", "leak", "lost", "event"])
    }

    @Test("the live /metrics passes promtool check metrics, with a leak's info series in it")
    func promtoolCheckMetrics() async throws {
        let agent = try await RunningAgent(arguments: ["--holder-scan-interval", "0.5", "--orphaned-after", "0"])
        let name = Host.uniqueName("nt-lint")
        try Host.must(["ip", "netns", "add", name])
        defer { _ = try? Host.run(["ip", "netns", "del", name]) }
        try await eventually("the pinned namespace is reported orphaned") {
            try agent.metrics()["netns_leaked{kind=\"orphaned\"}"] == 1
        }
        let metrics = try agent.client.get("/metrics")
        let file = FileManager.default.temporaryDirectory.appending(path: "netns-metrics-\(UUID().uuidString).txt")
        try metrics.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let lint = try Host.run(["sh", "-c", "promtool check metrics < '\(file.path)'"])
        #expect(lint.status == 0 && lint.output.isEmpty, "promtool check metrics: \(lint.output)")
        await agent.stop()
    }

    @Test("--textfile without HTTP: a real node_exporter serves the agent's metrics, and the file goes at exit")
    func textfile() async throws {
        try requireRoot()
        let directory = FileManager.default.temporaryDirectory.appending(path: "netns-textfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appending(path: "netns-tracer.prom").path

        let agent = Process()
        agent.executableURL = RunningAgent.executable
        agent.arguments = ["run", "--no-http", "--textfile", file, "--textfile-interval", "1", "--refresh-interval", "0.5"]
        agent.standardOutput = FileHandle.nullDevice
        agent.standardError = FileHandle.nullDevice
        try agent.run()
        defer { Host.stop(agent) }

        let exporterPort = try freeLoopbackPort()
        let exporter = try Host.start([
            "prometheus-node-exporter", "--web.listen-address=127.0.0.1:\(exporterPort)",
            "--collector.disable-defaults", "--collector.textfile", "--collector.textfile.directory=\(directory.path)",
        ])
        defer { Host.stop(exporter) }
        func exported() -> [String: Double] {
            guard let (status, body) = try? Host.run(["curl", "-sf", "http://127.0.0.1:\(exporterPort)/metrics"]), status == 0 else { return [:] }
            var samples: [String: Double] = [:]
            for line in body.split(separator: "\n") where !line.hasPrefix("#") {
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
                samples[String(line[..<space])] = value
            }
            return samples
        }
        try await eventually("node_exporter serves the agent's metrics", timeout: .seconds(30)) {
            exported()["netns_created_total"] == 0
        }
        #expect(exported()["node_textfile_scrape_error"] == 0)
        #expect((exported()["netns_alive"] ?? 0) >= 1)
        // The agent's process_* would clash with node_exporter's own: the file has none.
        let written = try String(contentsOfFile: file, encoding: .utf8)
        #expect(!written.contains("\nprocess_"), "process metrics in the textfile")
        #expect(written.contains("\nnetns_tracer_build_info{"))

        try Host.must(["unshare", "--net", "true"])
        try await eventually("node_exporter serves the new creation and free", timeout: .seconds(15)) {
            let samples = exported()
            return samples["netns_created_total"] == 1 && samples["netns_freed_total"] == 1
        }
        let entries = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(entries == ["netns-tracer.prom"], "only the target: the temporary file was renamed over it")

        kill(agent.processIdentifier, SIGTERM)
        try Host.wait(for: agent, timeout: .seconds(30))
        #expect(agent.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: file), "a stopped agent leaves no metrics that look current")
    }

    @Test("--web.config.file: a real Prometheus scrapes over TLS with basic auth; a client without the password gets 401")
    func tlsAndBasicAuth() async throws {
        try requireRoot()
        let directory = FileManager.default.temporaryDirectory.appending(path: "netns-web-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = { (name: String) in directory.appending(path: name).path }
        try Host.must(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                       "-keyout", path("server.key"), "-out", path("server.crt"), "-subj", "/CN=netns-tracer",
                       "-addext", "subjectAltName=IP:127.0.0.1", "-days", "2"])
        let (status, entry) = try Host.run(["htpasswd", "-nbB", "-C", "5", "prometheus", "scrape me"])
        try #require(status == 0, "htpasswd (apache2-utils, installed by scripts/setup): \(entry)")
        let hash = try #require(entry.split(separator: "\n").first?.split(separator: ":", maxSplits: 1).last)
        try """
            tls_server_config:
              cert_file: server.crt
              key_file: server.key
            basic_auth_users:
              prometheus: \(hash)
            """.write(toFile: path("web.yml"), atomically: true, encoding: .utf8)

        let port = try freeLoopbackPort()
        let agent = try Host.start([RunningAgent.executable.path, "run", "--listen", "127.0.0.1:\(port)",
                                    "--web.config.file", path("web.yml")])
        defer { if agent.isRunning { agent.terminate(); agent.waitUntilExit() } }
        let url = "https://127.0.0.1:\(port)/metrics"
        func curl(_ options: [String]) throws -> String {
            try Host.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", path("server.crt")] + options + [url]).output
        }
        try await eventually("the agent serves over TLS", timeout: .seconds(20)) {
            guard agent.isRunning else { return true }
            return try curl(["-u", "prometheus:scrape me"]) == "200"
        }
        try #require(agent.isRunning, "the agent exited with \(agent.terminationStatus)")
        #expect(try curl([]) == "401")
        #expect(try curl(["-u", "prometheus:guess"]) == "401")
        // The page a browser gets at / is behind the same TLS and password.
        let page = "https://127.0.0.1:\(port)/"
        let browser = ["curl", "-s", "-H", "Accept: text/html", "--cacert", path("server.crt")]
        #expect(try Host.run(browser + ["-o", "/dev/null", "-w", "%{http_code}", page]).output == "401")
        #expect(try Host.run(browser + ["-u", "prometheus:scrape me", page]).output.contains("<title>netns-tracer</title>"))
        #expect(try Host.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/metrics"]).output == "000",
                "no plain HTTP on a TLS port")

        let prometheus = try await PrometheusServer(targets: ["127.0.0.1:\(port)"], scrapeOptions: [
            "scheme": "https",
            "tls_config": ["ca_file": path("server.crt")],
            "basic_auth": ["username": "prometheus", "password": "scrape me"],
        ])
        try await eventually("Prometheus scrapes the agent over TLS with the password", timeout: .seconds(20)) {
            try prometheus.value("up{job=\"netns-tracer\"}") == 1
                && (prometheus.value("netns_tracer_http_refused_total{reason=\"unauthorized\"}") ?? 0) >= 2
        }
        #expect(try prometheus.value("netns_alive") ?? 0 >= 1)
        #expect(try prometheus.value("netns_tracer_http_refused_total{reason=\"tls_handshake\"}") ?? 0 >= 1)
        agent.terminate()
        try Host.wait(for: agent, timeout: .seconds(30))
        #expect(agent.terminationStatus == 0)
    }

    @Test("--textfile refuses a path node_exporter would not read, or cannot be written", arguments: [
        ("/tmp/netns-tracer.txt", "must end in .prom"),
        ("/nonexistent-dir/netns-tracer.prom", "does not exist"),
    ])
    func textfileErrors(path: String, message: String) throws {
        try requireRoot()
        let (status, output) = try Host.run([RunningAgent.executable.path, "run", "--listen", "127.0.0.1:0", "--textfile", path])
        #expect(status == 1)
        #expect(output.contains(message), "\(output)")
    }
}
}
