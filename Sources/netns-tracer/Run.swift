import ArgumentParser
import Dispatch
import Logging
import NetnsAgent
import NetnsClient
import NetnsCore
import NetnsKernel
import ServiceLifecycle
import Synchronization

/// Options shared by `run` and `record`: the probes and the scans.
struct ProbeOptions: ParsableArguments {
    @Option(help: "Probe set: auto (first that attaches of fentry, kprobe, tracepoint), fentry, kprobe or tracepoint.")
    var probes: ProbeMode = .auto

    @Option(help: "Seconds between refcount refreshes of every tracked namespace while events arrive.")
    var refreshInterval: Double = 2

    @Option(help: ArgumentHelp("Seconds between refreshes once no event has come for three refreshes, until the next (default: five --refresh-interval; the same as --refresh-interval for one pace).", valueName: "seconds"))
    var idleRefreshInterval: Double?

    @Option(help: "Seconds between scans of what holds each namespace (tasks, mounts, fds, sockets).")
    var holderScanInterval: Double = 10

    @Option(name: .customLong("ring-buffer-kib"), help: "Ring buffer size in KiB (a power of two).")
    var ringBufferKiB: UInt32 = 4096

    @Option(help: "Namespaces the kernel side can follow at once (alive and dying).")
    var maxNamespaces: UInt32 = 16384

    @Flag(inversion: .prefixedNo, help: "Tracepoint set only: also hook unshare/clone/clone3 exits, to count failed creations and to know who made each namespace by unshare, and when. Off by default: every syscall on the host then takes the kernel's tracing path, a few percent on syscall-heavy work. Without, every namespace is still counted (found by walks of the kernel's namespace list), its creator unknown and its creation time bounded.")
    var syscallHooks = false

    @Option(help: ArgumentHelp("The host's cgroup v2 hierarchy, to name creators' cgroups and containers (default: where cgroup2 is mounted; in a container, a bind mount of the host's /sys/fs/cgroup).", valueName: "path"))
    var cgroupRoot: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard refreshInterval >= 0.1, refreshInterval <= 3600 else {
            throw ValidationError("--refresh-interval must be between 0.1 and 3600 seconds")
        }
        if let idleRefreshInterval, !(idleRefreshInterval >= refreshInterval && idleRefreshInterval <= 3600) {
            throw ValidationError("--idle-refresh-interval must be between --refresh-interval (\(refreshInterval)) and 3600 seconds")
        }
        guard holderScanInterval >= 0.1, holderScanInterval <= 86_400 else {
            throw ValidationError("--holder-scan-interval must be between 0.1 and 86400 seconds")
        }
        guard ringBufferKiB >= 4, ringBufferKiB <= 1 << 20, ringBufferKiB & (ringBufferKiB - 1) == 0 else {
            throw ValidationError("--ring-buffer-kib must be a power of two between 4 and 1048576")
        }
        guard maxNamespaces >= 64, maxNamespaces <= 1 << 22 else {
            throw ValidationError("--max-namespaces must be between 64 and 4194304")
        }
        if let cgroupRoot {
            var info = stat()
            guard stat(cgroupRoot, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
                throw ValidationError("--cgroup-root \(cgroupRoot) is not a directory")
            }
        }
    }

    func apply(to configuration: inout AgentConfiguration) {
        configuration.probeMode = probes
        configuration.refreshInterval = .milliseconds(Int64(refreshInterval * 1000))
        configuration.idleRefreshInterval = idleRefreshInterval.map { .milliseconds(Int64($0 * 1000)) }
        configuration.holderScanInterval = .milliseconds(Int64(holderScanInterval * 1000))
        configuration.probeLimits.ringBufferBytes = ringBufferKiB * 1024
        configuration.probeLimits.trackedNamespaces = maxNamespaces
        configuration.probeLimits.syscallHooks = syscallHooks
        configuration.cgroupRoot = cgroupRoot
    }
}

/// Leak thresholds, shared by `run` and `replay`.
struct LeakOptions: ParsableArguments {
    @Option(help: "Seconds an alive namespace may have no task inside before it is reported orphaned.")
    var orphanedAfter: Double = 120

    @Option(help: "Seconds a released namespace may take to be torn down before it is reported stuck.")
    var stuckTeardownAfter: Double = 60

    @Option(help: "Seconds a torn-down namespace's memory may stay held before it is reported a zombie.")
    var zombieAfter: Double = 60

    func validate() throws {
        for (name, value) in [("--orphaned-after", orphanedAfter), ("--stuck-teardown-after", stuckTeardownAfter), ("--zombie-after", zombieAfter)] {
            guard value >= 0, value <= 31_536_000 else { throw ValidationError("\(name) must be between 0 and 31536000 seconds") }
        }
    }

    var thresholds: LeakThresholds {
        LeakThresholds(orphaned: UInt64(orphanedAfter * 1e9), stuckTeardown: UInt64(stuckTeardownAfter * 1e9), zombie: UInt64(zombieAfter * 1e9))
    }
}

/// `netns-tracer run`: attach the probes and serve metrics until SIGINT or SIGTERM.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attach the probes and serve /metrics, /namespaces and /events until SIGINT or SIGTERM."
    )

    @Option(help: "Address to serve on: HOST:PORT, [IPV6]:PORT or :PORT.")
    var listen = "0.0.0.0:\(AgentConfiguration.defaultPort)"

    @OptionGroup var probeOptions: ProbeOptions
    @OptionGroup var leakOptions: LeakOptions

    @Option(help: "Freed namespaces kept in /namespaces as history.")
    var freedHistory = 1024

    @Option(help: "At most this many leaking namespaces get a netns_leak_info series.")
    var leakSeriesLimit = 100

    @Option(help: ArgumentHelp("Also write the metrics to this file for node_exporter's textfile collector (a *.prom file in its --collector.textfile.directory), replaced atomically.", valueName: "path"))
    var textfile: String?

    @Option(help: "Seconds between rewrites of --textfile.")
    var textfileInterval: Double = 15

    @Option(help: "Seconds a client has to send a whole request (after connecting or after the previous response).")
    var httpRequestTimeout: Double = 10

    @Option(help: "HTTP connections served at once; more are closed at once.")
    var httpMaxConnections = 64

    @Option(name: .customLong("events-max-pending-kib"),
            help: "KiB of events a follower of GET /events may fall behind before it is cut off (the agent never waits for one).")
    var eventsMaxPendingKiB = 1024

    @Option(help: ArgumentHelp("Also append every lifecycle event to this file as JSON lines (the GET /events schema), for log shippers; rotated by size, \(EventsFile.keep) older files kept as PATH.1 … PATH.\(EventsFile.keep). Never waits for the disk: lines it cannot keep up with are dropped and counted.", valueName: "path"))
    var eventsFile: String?

    @Option(help: "Bytes at which --events-file is rotated.")
    var eventsFileMaxBytes = EventsFile.defaultMaxBytes

    @Option(help: ArgumentHelp("The kernel's log, read for 'unregister_netdevice: waiting for DEV to become free' to name what a stuck teardown waits for; 'none' to read none.", valueName: "path"))
    var kernelLog = "/dev/kmsg"

    @Flag(help: "Serve no HTTP endpoint (with --textfile, for hosts that allow no other listening port).")
    var noHTTP = false

    @Option(name: .customLong("web.config.file"),
            help: ArgumentHelp("TLS and basic authentication for the HTTP endpoint: a web-config file in the format of Prometheus' exporter toolkit (see the README). Reloaded when it or a file it names changes.", valueName: "path"))
    var webConfigFile: String?

    func validate() throws {
        if noHTTP, textfile == nil, eventsFile == nil {
            throw ValidationError("--no-http leaves nothing to export: add --textfile PATH or --events-file PATH")
        }
        guard eventsFileMaxBytes >= 4096, eventsFileMaxBytes <= 1 << 40 else {
            throw ValidationError("--events-file-max-bytes must be between 4096 and 1099511627776")
        }
        if noHTTP, webConfigFile != nil {
            throw ValidationError("--web.config.file configures the HTTP endpoint, which --no-http turns off")
        }
        guard httpRequestTimeout >= 0.1, httpRequestTimeout <= 3600 else {
            throw ValidationError("--http-request-timeout must be between 0.1 and 3600 seconds")
        }
        guard httpMaxConnections >= 1, httpMaxConnections <= 65536 else {
            throw ValidationError("--http-max-connections must be between 1 and 65536")
        }
        guard textfileInterval >= 1, textfileInterval <= 3600 else {
            throw ValidationError("--textfile-interval must be between 1 and 3600 seconds")
        }
        guard parseHostPort(listen, defaultPort: AgentConfiguration.defaultPort, defaultHost: "0.0.0.0") != nil else {
            throw ValidationError("--listen must be HOST:PORT, [IPV6]:PORT or :PORT (got '\(listen)')")
        }
        guard freedHistory >= 0 else { throw ValidationError("--freed-history must not be negative") }
        guard eventsMaxPendingKiB >= 4, eventsMaxPendingKiB <= 1 << 20 else {
            throw ValidationError("--events-max-pending-kib must be between 4 and 1048576")
        }
        guard leakSeriesLimit >= 0 else { throw ValidationError("--leak-series-limit must not be negative") }
    }

    func run() throws {
        var configuration = AgentConfiguration()
        let (host, port) = parseHostPort(listen, defaultPort: AgentConfiguration.defaultPort, defaultHost: "0.0.0.0")!
        configuration.listenHost = host
        configuration.listenPort = port
        probeOptions.apply(to: &configuration)
        configuration.leakThresholds = leakOptions.thresholds
        configuration.aggregatorLimits.freedHistory = freedHistory
        // Twice what the kernel side follows: room for namespaces seen released or freed
        // without having been followed, bounded all the same.
        configuration.aggregatorLimits.liveNamespaces = 2 * Int(probeOptions.maxNamespaces)
        configuration.leakSeriesLimit = leakSeriesLimit
        configuration.textfilePath = textfile
        configuration.textfileInterval = .milliseconds(Int64(textfileInterval * 1000))
        configuration.serve = !noHTTP
        configuration.httpLimits.requestTimeout = .milliseconds(Int64(httpRequestTimeout * 1000))
        configuration.httpLimits.maxConnections = httpMaxConnections
        configuration.webConfigPath = webConfigFile
        configuration.eventStreamMaxPendingBytes = eventsMaxPendingKiB * 1024
        configuration.eventsFilePath = eventsFile
        configuration.eventsFileMaxBytes = eventsFileMaxBytes
        configuration.kernelLogPath = kernelLog == "none" ? nil : kernelLog
        try runAgent(configuration, logLevel: probeOptions.logLevel)
    }
}

/// Runs the agent: its privileged start-up first, on this thread while it is the process's
/// only one (so the capabilities it then gives up are gone for every thread to come), then the
/// rest under a service group that stops it gracefully on SIGINT and SIGTERM.
func runAgent(_ configuration: AgentConfiguration, logLevel: Logger.Level, stopAfter: Duration? = nil) throws {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = logLevel
        return handler
    }
    let logger = Logger(label: "netns-tracer")
    let agent = Agent(configuration: configuration, logger: logger, onReady: { _ in
        guard let stopAfter else { return }
        Task {
            try? await Task.sleep(for: stopAfter)
            kill(getpid(), SIGTERM)
        }
    })
    do {
        try agent.prepare()
        let group = ServiceGroup(configuration: .init(
            services: [agent], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try waitFor { try await group.run() }
    } catch let error as AgentStartError {
        throw fail(error.description)
    } catch {
        throw fail("\(error)")
    }
}

/// Runs `body` to completion on the concurrency pool and waits for it on this thread.
func waitFor(_ body: @escaping @Sendable () async throws -> Void) throws {
    let outcome = Mutex<Result<Void, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        do {
            try await body()
            outcome.withLock { $0 = .success(()) }
        } catch {
            outcome.withLock { $0 = .failure(error) }
        }
        done.signal()
    }
    done.wait()
    try outcome.withLock { $0 }?.get()
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

#if canImport(Glibc)
import Glibc
#endif
