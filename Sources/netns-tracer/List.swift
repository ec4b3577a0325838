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

    func run() throws {
        let body: String
        do {
            body = try AgentClient(url: agent).get("/namespaces")
        } catch {
            throw fail(error.description)
        }
        if json {
            print(body, terminator: "")
            return
        }
        do {
            print(NamespaceTable.render(try NamespaceSummary.decodeList(body), includeFreed: all, leakedOnly: leaked), terminator: "")
        } catch {
            throw fail("the agent at \(agent) sent a namespace list that cannot be read: \(error)")
        }
    }
}
