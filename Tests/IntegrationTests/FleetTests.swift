import Foundation
import Testing

extension RealKernel {
/// The fleet path with real parts: a cluster's Prometheus scrapes two agents as two nodes,
/// evaluates the fleet recording rules, and remote-writes what `deploy/prometheus/fleet.yml`
/// keeps to a second Prometheus with its remote-write receiver (standing in for Thanos, Mimir
/// or Cortex), where every query of the fleet dashboard is run.
@Suite("The fleet path: recording rules, remote_write, the fleet dashboard")
struct FleetTests {
    /// The cluster Prometheus' configuration: `deploy/prometheus/fleet.yml` as committed, with
    /// the cluster's name, the receiver's URL and the rule files' paths filled in, and a scrape
    /// job for the agents, each target labelled with its node.
    static func clusterConfiguration(cluster: String, receiver: Int, nodes: [(node: String, port: Int)]) throws -> [String: Any] {
        var configuration = try #require(try yamlDocument(OperatorExpressions.fleetConfigurationPath) as? [String: Any])
        var global = try #require(configuration["global"] as? [String: Any], "fleet.yml sets global.external_labels")
        var labels = try #require(global["external_labels"] as? [String: String])
        try #require(labels["cluster"] != nil, "fleet.yml names the cluster in external_labels")
        labels["cluster"] = cluster
        global["external_labels"] = labels
        global.merge(PrometheusServer.everySecond) { $1 }
        configuration["global"] = global

        let rulesDirectory = OperatorExpressions.fleetConfigurationPath.deletingLastPathComponent()
        let ruleFiles = try #require(configuration["rule_files"] as? [String])
        configuration["rule_files"] = ruleFiles.map { rulesDirectory.appending(path: $0).path } + [OperatorExpressions.rulesPath.path]

        var remoteWrite = try #require(configuration["remote_write"] as? [[String: Any]])
        try #require(remoteWrite.count == 1, "fleet.yml has one remote_write")
        remoteWrite[0]["url"] = "http://127.0.0.1:\(receiver)/api/v1/write"
        // Send within a second rather than the default five, to keep the test short.
        remoteWrite[0]["queue_config"] = ["batch_send_deadline": "1s"]
        configuration["remote_write"] = remoteWrite

        configuration["scrape_configs"] = [[
            "job_name": "netns-tracer",
            "static_configs": nodes.map { ["targets": ["127.0.0.1:\($0.port)"], "labels": ["node": $0.node]] },
        ]]
        return configuration
    }

    /// The series names fleet.yml's write_relabel_configs keep: a full match of its regex.
    static func keptByRemoteWrite(_ name: String) throws -> Bool {
        let configuration = try #require(try yamlDocument(OperatorExpressions.fleetConfigurationPath) as? [String: Any])
        let relabel = try #require((configuration["remote_write"] as? [[String: Any]])?.first?["write_relabel_configs"] as? [[String: Any]])
        let keep = try #require(relabel.first { $0["action"] as? String == "keep" }?["regex"] as? String)
        return try Regex("^(?:\(keep))$").wholeMatch(in: name) != nil
    }

    @Test("two agents, one cluster Prometheus, one receiver: per-node and per-cluster series arrive, the top leaking node is the one that leaks, and every fleet dashboard query answers")
    func fleet() async throws {
        // Both agents watch this host; only node-a counts a mount-pinned namespace as orphaned
        // within the test (node-b keeps the default of 120 s), so the nodes differ in leaks.
        let nodeA = try await RunningAgent(arguments: ["--holder-scan-interval", "0.5", "--orphaned-after", "1"])
        let nodeB = try await RunningAgent(arguments: ["--holder-scan-interval", "0.5"])
        let receiver = try await PrometheusServer(configuration: ["global": PrometheusServer.everySecond],
                                                  remoteWriteReceiver: true)
        let cluster = Host.uniqueName("cluster")
        let edge = try await PrometheusServer(configuration: Self.clusterConfiguration(
            cluster: cluster, receiver: receiver.port, nodes: [("node-a", nodeA.port), ("node-b", nodeB.port)]))
        let inCluster = "cluster=\"\(cluster)\""

        try await eventually("the receiver has both nodes up from the cluster's Prometheus", timeout: .seconds(60)) {
            try receiver.value("cluster:netns_tracer_nodes_up:sum{\(inCluster)}") == 2
        }
        let aliveBefore = try #require(try receiver.value("node:netns_alive:sum{\(inCluster), node=\"node-a\"}"))

        for _ in 0..<3 { try Host.must(["unshare", "--net", "true"]) }
        let name = Host.uniqueName("nt-fleet")
        try Host.must(["ip", "netns", "add", name])
        defer { _ = try? Host.run(["ip", "netns", "del", name]) }
        let pinned = try #require(Host.inode("/run/netns/\(name)"))

        try await eventually("the receiver sees node-a's leak and the cluster's creations", timeout: .seconds(60)) {
            try receiver.value("node:netns_leaked:sum{\(inCluster), node=\"node-a\"}") == 1
                && (receiver.value("cluster:netns_created:rate5m{\(inCluster)}") ?? 0) > 0
                && receiver.value("node:netns_alive:sum{\(inCluster), node=\"node-a\"}") == aliveBefore + 1
                && receiver.value("cluster:netns_alive:sum{\(inCluster)}") == 2 * (aliveBefore + 1)
                // The cluster group is evaluated apart from the node group, and may arrive a batch later.
                && receiver.value("cluster_kind:netns_leaked:sum{\(inCluster), kind=\"orphaned\"}") == 1
        }
        // Per node: node-b sees the same namespaces but no leak yet.
        #expect(try receiver.value("node:netns_alive:sum{\(inCluster), node=\"node-b\"}") == aliveBefore + 1)
        #expect(try receiver.value("node:netns_leaked:sum{\(inCluster), node=\"node-b\"}") == 0)
        let top = try receiver.query("topk(1, node:netns_leaked:sum{\(inCluster)})")
        #expect(top.count == 1 && top.first?.labels["node"] == "node-a" && top.first?.value == 1, "\(top)")
        #expect(try receiver.value("cluster:netns_tracer_nodes:count{\(inCluster)}") == 2)
        let versions = try receiver.query("cluster_version:netns_tracer_build_info:count{\(inCluster)}")
        #expect(versions.count == 1 && versions.first?.value == 2, "both agents run one build: \(versions)")

        // The leaking namespace itself, named by node and cluster.
        let leaks = try receiver.query("netns_leak_info{\(inCluster)}")
        #expect(leaks.count == 1, "\(leaks)")
        #expect(leaks.first?.labels["node"] == "node-a")
        #expect(leaks.first?.labels["inum"] == String(pinned))
        #expect(leaks.first?.labels["creator_comm"] == "ip")

        // Only what fleet.yml keeps crossed: no raw per-node series but netns_leak_info.
        let arrived = try receiver.query("count by (__name__) ({\(inCluster)})").compactMap { $0.labels["__name__"] }
        #expect(arrived.contains("node:netns_alive:sum") && arrived.contains("netns_leak_info"), "\(arrived)")
        for name in arrived {
            #expect(try Self.keptByRemoteWrite(name), "\(name) reached the receiver, but fleet.yml does not keep it")
        }
        #expect(try receiver.query("netns_alive").isEmpty, "the raw series stay in the cluster's Prometheus")

        // Every query of the fleet dashboard runs on the receiver and answers, and reads only
        // series that the rules record and remote_write keeps.
        let recorded = try OperatorExpressions.recordedNames(OperatorExpressions.fleetRulesPath)
        let expressions = try OperatorExpressions.dashboard(OperatorExpressions.fleetDashboardPath,
                                                             variables: [("${cluster}", cluster), ("$cluster", cluster)])
        #expect(expressions.count >= 15, "the fleet dashboard has its queries")
        for (place, expression) in expressions {
            let result: [(labels: [String: String], value: Double)]
            do {
                result = try receiver.query(expression)
            } catch {
                Issue.record("\(place) fails on the receiver: \(error): \(expression)")
                continue
            }
            #expect(!result.isEmpty, "\(place) has no data on the receiver: \(expression)")
            for name in OperatorExpressions.seriesNames(in: expression) {
                #expect(recorded.contains(name) || name == "netns_leak_info", "\(place) reads \(name), which no fleet rule records")
                #expect(try Self.keptByRemoteWrite(name), "\(place) reads \(name), which fleet.yml does not send")
            }
        }

        // The fleet rules read only what the agent exports or what they record themselves, and
        // the cluster's Prometheus evaluated each of them without error.
        let exported = PrometheusTests.exportedNames(try nodeA.client.get("/metrics"))
        for (place, expression) in try OperatorExpressions.rules(OperatorExpressions.fleetRulesPath) {
            let unknown = OperatorExpressions.seriesNames(in: expression).subtracting(exported).subtracting(recorded)
            #expect(unknown.isEmpty, "\(place) refers to series nothing exports or records: \(unknown.sorted())")
        }
        let groups = (try edge.api("/api/v1/rules") as? [String: Any])?["groups"] as? [[String: Any]] ?? []
        let fleetRules = groups.filter { ($0["name"] as? String)?.hasPrefix("netns-tracer-fleet") == true }
            .flatMap { $0["rules"] as? [[String: Any]] ?? [] }
        #expect(fleetRules.count == (try OperatorExpressions.ruleDefinitions(OperatorExpressions.fleetRulesPath).count))
        for rule in fleetRules {
            #expect(rule["health"] as? String == "ok", "rule \(rule["name"] ?? "?"): \(rule["lastError"] ?? "")")
        }
        #expect(try edge.query("ALERTS{alertname=\"NetnsTracerTargetWithoutNode\"}").isEmpty, "every target has its node")

        await nodeA.stop()
        await nodeB.stop()
    }

    @Test("the fleet dashboard imports as is: a datasource variable, a cluster variable, every target on both")
    func fleetDashboardShape() throws {
        try PrometheusTests.checkDashboard(OperatorExpressions.fleetDashboardPath, uid: "netns-tracer-fleet", variable: "cluster",
                                           minimumPanels: 15,
                                           topics: ["top nodes by leaking", "created per second", "stuck teardown", "lost", "version", "lifetime"])
    }
}
}
