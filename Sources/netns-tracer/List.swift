import ArgumentParser
import NetnsAgent
import NetnsClient
import NetnsExposition

/// `netns-tracer list`: the namespaces a running agent tracks, as a table or JSON.
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the namespaces a running agent tracks."
    )

    @Option(help: "The agent's URL.")
    var agent = "http://127.0.0.1:\(AgentConfiguration.defaultPort)"

    @Flag(help: "Print the agent's JSON as is.")
    var json = false

    @Flag(help: "Include freed namespaces kept as history.")
    var all = false

    @Flag(help: "Show only leaking namespaces (orphaned, stuck in teardown, zombie).")
    var leaked = false

    @Option(name: .customLong("ns"), help: ArgumentHelp(
        "Show only the namespace with this id: its nsId (the kernel's id, 6.18 and later), cookie or inode number (/proc/PID/ns/net, lsns). Repeatable; with --json too.",
        valueName: "id"))
    var namespaces: [UInt64] = []

    func run() throws {
        let body: String
        do {
            body = try AgentClient(url: agent).get("/namespaces")
        } catch {
            throw fail(error.description)
        }
        if json, namespaces.isEmpty {
            print(body, terminator: "")
            return
        }
        let list: [NamespaceSummary]
        do {
            list = try NamespaceSummary.decodeList(body)
        } catch {
            throw fail("the agent at \(agent) sent a namespace list that cannot be read: \(error)")
        }
        let shown = namespaces.isEmpty ? list : list.filter { namespace in namespaces.contains(where: namespace.isNamed(by:)) }
        if json {
            // The agent's objects as they are, only those asked for.
            print(Self.objects(of: body, keeping: Set(shown.map(\.cookie))), terminator: "")
            return
        }
        print(NamespaceTable.render(shown, includeFreed: all || !namespaces.isEmpty, leakedOnly: leaked), terminator: "")
    }

    /// The document with only the objects of `cookies`, each as the agent wrote it: the agent
    /// writes one object per line (`NamespacesDocument`).
    static func objects(of document: String, keeping cookies: Set<UInt64>) -> String {
        let kept = document.split(separator: "\n").compactMap { line -> Substring? in
            var object = line.drop { $0 == " " }
            if object.hasSuffix(",") { object = object.dropLast() }
            guard object.hasPrefix("{"), let summary = try? NamespaceSummary.decodeList("[\(object)]").first,
                  cookies.contains(summary.cookie) else { return nil }
            return object
        }
        return kept.isEmpty ? "[]\n" : "[\n  " + kept.joined(separator: ",\n  ") + "\n]\n"
    }
}
