import ArgumentParser
import Logging
import NetnsAgent
import ServiceLifecycle

/// `netns-tracer run`: attach the probes and serve metrics until SIGINT or SIGTERM.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attach the probes and serve /metrics and /namespaces until SIGINT or SIGTERM."
    )

    @Option(help: "Address to serve on: HOST:PORT, [IPV6]:PORT or :PORT.")
    var listen = "0.0.0.0:\(AgentConfiguration.defaultPort)"

    @Option(help: "Probe set: auto (first that attaches of fentry, kprobe, tracepoint), fentry, kprobe or tracepoint.")
    var probes: ProbeMode = .auto

    @Option(help: "Seconds between refcount refreshes of every tracked namespace.")
    var refreshInterval: Double = 2

    @Option(help: "Ring buffer size in KiB (a power of two).")
    var ringBufferKiB: UInt32 = 4096

    @Option(help: "Freed namespaces kept in /namespaces as history.")
    var freedHistory = 1024

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard parseHostPort(listen, defaultPort: AgentConfiguration.defaultPort, defaultHost: "0.0.0.0") != nil else {
            throw ValidationError("--listen must be HOST:PORT, [IPV6]:PORT or :PORT (got '\(listen)')")
        }
        guard refreshInterval >= 0.1, refreshInterval <= 3600 else {
            throw ValidationError("--refresh-interval must be between 0.1 and 3600 seconds")
        }
        guard ringBufferKiB >= 4, ringBufferKiB <= 1 << 20, ringBufferKiB & (ringBufferKiB - 1) == 0 else {
            throw ValidationError("--ring-buffer-kib must be a power of two between 4 and 1048576")
        }
        guard freedHistory >= 0 else { throw ValidationError("--freed-history must not be negative") }
    }

    func run() async throws {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "netns-tracer")
        var configuration = AgentConfiguration()
        let (host, port) = parseHostPort(listen, defaultPort: AgentConfiguration.defaultPort, defaultHost: "0.0.0.0")!
        configuration.listenHost = host
        configuration.listenPort = port
        configuration.probeMode = probes
        configuration.refreshInterval = .milliseconds(Int64(refreshInterval * 1000))
        configuration.probeLimits.ringBufferBytes = ringBufferKiB * 1024
        configuration.aggregatorLimits.freedHistory = freedHistory

        let agent = Agent(configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [agent], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch let error as AgentStartError {
            throw fail(error.description)
        } catch {
            throw fail("\(error)")
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
