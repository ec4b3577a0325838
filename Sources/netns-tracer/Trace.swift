import ArgumentParser
import Glibc
import NetnsAgent
import NetnsClient
import NetnsExposition

/// `netns-tracer trace`: follows a running agent's event stream, a line per event.
struct Trace: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow a running agent's namespace events as they happen (until interrupted).",
        discussion: """
            Prints one line per event: the time (UTC), the event (created, setup_failed, released, \
            torn_down, freed, discovered, leak_started, leak_ended, teardown_waiting), the \
            namespace's inode number, its creator's pid and command, how long the stage it ends \
            lasted, and the creator's container and pod (or the leak, or the device waited for). \
            --json prints the agent's JSON lines as they are (GET /events). --ns follows one \
            namespace (or a few) by its nsId, cookie or inode number.
            """
    )

    @Option(help: "The agent's URL.")
    var agent = "http://127.0.0.1:\(AgentConfiguration.defaultPort)"

    @Flag(help: "Print the agent's JSON lines as they are.")
    var json = false

    @Option(name: .customLong("ns"), help: ArgumentHelp(
        "Follow only the namespace with this id: its nsId (the kernel's id, 6.18 and later), cookie or inode number (/proc/PID/ns/net, lsns). Repeatable.",
        valueName: "id"))
    var namespaces: [UInt64] = []

    func run() throws {
        let client: AgentClient
        do {
            client = try AgentClient(url: agent)
        } catch {
            throw fail(error.description)
        }
        let (json, namespaces) = (self.json, self.namespaces)
        do {
            try client.follow("/events", onStart: { if !json { emit(EventLines.header) } }) { line in
                guard !json || !namespaces.isEmpty else { return emit(line) }
                do {
                    let event = try EventSummary.decode(line: line)
                    guard namespaces.isEmpty || namespaces.contains(where: event.isNamed(by:)) else { return }
                    emit(json ? line : EventLines.readable(event))
                } catch {
                    emit("netns-tracer: an event that cannot be read: \(line.prefix(200))")
                }
            }
        } catch {
            throw fail(error.description)
        }
        throw fail("the agent at \(agent) ended the stream")
    }
}

/// Writes a line to standard output at once (not buffered: into a pipe too, each event goes
/// out as it comes). Exits quietly when the reader has gone.
private func emit(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(STDOUT_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                exit(errno == EPIPE ? 0 : 1)
            }
            offset += written
        }
    }
}
