import Foundation
import TestKit
import Testing

/// The targets' dependencies point one way (docs/architecture.md), as SwiftPM resolves them:
/// a renderer builds without libbpf or BoringSSL, the kernel side without HTTP, and only the
/// composition root sees everything.
@Suite("Architecture")
struct ArchitectureTests {
    /// Every target's direct dependencies, targets and products alike, from `swift package describe`.
    static let graph: [String: Set<String>] = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        // A scratch path of its own: `swift test` holds the lock on `.build` while tests run.
        // Describing reads only the manifest and writes nothing there, but SwiftPM leaves a
        // lock file named after the path in /tmp.
        let scratch = "/tmp/netns-describe-\(getpid())"
        let result = try? Command.run(["swift", "package", "--scratch-path", scratch, "describe", "--type", "json"],
                                      in: root, timeout: .seconds(120))
        try? FileManager.default.removeItem(atPath: "/tmp/" + scratch.replacingOccurrences(of: "/", with: "_") + ".lock")
        guard let result, result.status == 0,
              let json = try? JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any],
              let targets = json["targets"] as? [[String: Any]]
        else { return [:] }
        var graph: [String: Set<String>] = [:]
        for target in targets {
            guard let name = target["name"] as? String else { continue }
            graph[name] = Set((target["target_dependencies"] as? [String] ?? []) + (target["product_dependencies"] as? [String] ?? []))
        }
        return graph
    }()

    /// Everything `target` builds with, directly or not.
    static func closure(of target: String) -> Set<String> {
        var seen: Set<String> = []
        var queue = [target]
        while let next = queue.popLast() {
            for dependency in graph[next, default: []] where seen.insert(dependency).inserted { queue.append(dependency) }
        }
        return seen
    }

    static let kernel: Set<String> = ["CLibBPF", "BPFKit", "BPFObjects", "CPrivileges", "NetnsKernel"]
    /// What serving takes: sockets and event loops, TLS, the web config, the server itself.
    static let http: Set<String> = ["NIOPosix", "NIOSSL", "Yams", "HummingbirdBcrypt", "NetnsServer"]

    @Test("the package describes its targets")
    func described() {
        #expect(Self.graph.count >= 10, "swift package describe failed or changed its format")
    }

    @Test("the core depends on nothing but the event layout")
    func core() {
        #expect(Self.closure(of: "NetnsCore") == ["CNetnsEvent"])
    }

    @Test("the renderers and their tests build without libbpf, BoringSSL or an HTTP server", arguments: ["NetnsExposition", "NetnsExpositionTests"])
    func exposition(target: String) {
        let closure = Self.closure(of: target)
        #expect(closure.isDisjoint(with: Self.kernel.union(Self.http)), "\(closure.intersection(Self.kernel.union(Self.http)))")
    }

    @Test("the kernel side knows nothing of HTTP or rendering")
    func kernelSide() {
        let closure = Self.closure(of: "NetnsKernel")
        #expect(closure.isDisjoint(with: Self.http.union(["NIOCore", "NIOHTTP1", "NetnsExposition", "NetnsAgent"])), "\(closure)")
    }

    @Test("the server and the client know nothing of BPF", arguments: ["NetnsServer", "NetnsClient"])
    func server(target: String) {
        #expect(Self.closure(of: target).isDisjoint(with: Self.kernel), "\(Self.closure(of: target))")
    }

    @Test("only the command line, the benchmarks and tests build on the composition root")
    func compositionRoot() {
        let dependents = Self.graph.filter { $0.value.contains("NetnsAgent") }.keys
        #expect(Set(dependents) == ["netns-tracer", "netns-bench", "NetnsAgentTests", "IntegrationTests"], "\(dependents)")
    }
}
