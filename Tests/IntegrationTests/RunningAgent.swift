import Foundation
import NetnsAgent
import NetnsClient
import NetnsCore
import NetnsExposition
import NetnsKernel
import Testing

/// The real `netns-tracer` executable, started as a child process on a free loopback port.
final class RunningAgent {
    let process = Process()
    let port: Int
    private let errorPipe = Pipe()
    private var stoppedOutput: String?

    /// The executable built beside this test bundle.
    static var executable: URL {
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return testBinary.deletingLastPathComponent().appending(path: "netns-tracer")
    }

    /// Starts the agent, under `wrapper` (a command that runs the rest of its arguments) if
    /// given, and waits until it serves. It runs `probes`; without it, the set `--probes auto`
    /// picks, seeing everything the tracepoint set can report, syscall hooks included, unless
    /// `syscallHooks` says otherwise (nil: the default).
    init(probes: ProbeConfiguration? = nil, arguments: [String] = [], wrapper: [String] = [], syscallHooks: Bool? = true,
         sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try requireRoot(sourceLocation: sourceLocation)
        port = try freeLoopbackPort()
        let hooks = probes?.arguments ?? syscallHooks.map { [$0 ? "--syscall-hooks" : "--no-syscall-hooks"] } ?? []
        let command = ["run", "--listen", "127.0.0.1:\(port)", "--refresh-interval", "0.5"] + hooks + arguments
        if wrapper.isEmpty {
            process.executableURL = Self.executable
            process.arguments = command
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = wrapper + [Self.executable.path] + command
        }
        process.standardError = errorPipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let client = try AgentClient(url: "http://127.0.0.1:\(port)")
        try await eventually("the agent at port \(port) serves /metrics", timeout: .seconds(30), sourceLocation: sourceLocation) {
            guard process.isRunning else { return true }  // reported below
            return (try? client.get("/metrics")) != nil
        }
        guard process.isRunning else {
            let output = await stop()
            Issue.record("the agent exited at start-up: \(output)", sourceLocation: sourceLocation)
            throw AgentFailure.exited(output)
        }
    }

    deinit {
        if process.isRunning { process.terminate() }
    }

    var client: AgentClient { try! AgentClient(url: "http://127.0.0.1:\(port)") }

    /// Every unlabelled or labelled sample of `/metrics`, by series.
    func metrics() throws -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in try client.get("/metrics").split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    func namespaces() throws -> [NamespaceSummary] {
        try NamespaceSummary.decodeList(client.get("/namespaces"))
    }

    /// Sends SIGTERM, waits for the exit, and returns what the agent wrote to stderr.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) async -> String {
        if let stoppedOutput { return stoppedOutput }
        if process.isRunning { kill(process.processIdentifier, signal) }
        let deadline = ContinuousClock.now + .seconds(20)
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if process.isRunning { process.interrupt(); kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let output = String(decoding: errorPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        stoppedOutput = output
        return output
    }
}

enum AgentFailure: Error {
    case exited(String)
}

/// Fails loudly, never skips, when the tests cannot do what they need.
func requireRoot(sourceLocation: SourceLocation = #_sourceLocation) throws {
    try #require(geteuid() == 0, "integration tests load BPF programs and create namespaces: run them as root (sudo scripts/test)", sourceLocation: sourceLocation)
}

/// How much longer than here every wait may take: `NETNS_TEST_TIME_SCALE` (default 1), which
/// scripts/guest-tests sets for kernels emulated by QEMU (TCG runs tens of times slower).
let timeScale: Double = ProcessInfo.processInfo.environment["NETNS_TEST_TIME_SCALE"].flatMap(Double.init).map { max($0, 1) } ?? 1

/// Polls `condition` until it holds or `timeout` (times `timeScale`) passes (then records a
/// failure).
func eventually(
    _ what: String, timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () throws -> Bool
) async throws {
    let timeout = timeout * timeScale
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    if try condition() { return }
    Issue.record("timed out after \(timeout) waiting until \(what)", sourceLocation: sourceLocation)
    throw TimedOut()
}

struct TimedOut: Error {}

func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let result = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 ? getsockname(fd, pointer, &length) : -1
        }
    }
    try #require(result == 0, "cannot find a free port")
    return Int(UInt16(bigEndian: address.sin_port))
}
