import BPFKit
import Glibc
import Logging
import NetnsCore
import NetnsExposition
import NetnsKernel
import NetnsServer
import NIOCore
import ServiceLifecycle
import Synchronization

/// Why the agent cannot start, in one sentence a user can act on.
public enum AgentStartError: Error, CustomStringConvertible {
    case preflight(PreflightError)
    case listen(address: String, reason: String)
    case noProbeSet(NoProbeSetError)
    case discovery(String)
    case textfile(String)
    case webConfig(String)
    case eventsFile(String)

    public var description: String {
        switch self {
        case .preflight(let error):
            error.description
        case .listen(let address, let reason):
            "cannot listen on \(address): \(reason)"
        case .noProbeSet(let error):
            error.description
        case .discovery(let reason):
            "discovery of existing namespaces failed: \(reason)"
        case .textfile(let reason), .webConfig(let reason), .eventsFile(let reason):
            reason
        }
    }
}

/// How the agent runs.
public struct AgentConfiguration: Sendable {
    /// The default port of the HTTP endpoint.
    public static let defaultPort = AgentEndpoint.defaultPort

    /// Address to serve `/metrics` and `/namespaces` on.
    public var listenHost: String = "0.0.0.0"
    /// Port to serve on (0 picks a free one).
    public var listenPort: Int = AgentConfiguration.defaultPort
    /// Which probe sets to try.
    public var probeMode: ProbeMode = .auto
    /// Kernel-side buffer and map sizes.
    public var probeLimits = ProbeLimits()
    /// How much history the aggregator keeps.
    public var aggregatorLimits = Aggregator.Limits()
    /// How often every tracked namespace's refcounts are re-read while events arrive.
    public var refreshInterval: Duration = .seconds(2)
    /// How often once no event has come for a few refreshes (`RefreshSchedule`); nil: five
    /// refresh intervals, at most an hour.
    public var idleRefreshInterval: Duration?
    /// How often the holders of every namespace are scanned (tasks, mounts, fds, sockets).
    public var holderScanInterval: Duration = .seconds(10)
    /// How long each leaking condition must last to be reported.
    public var leakThresholds = LeakThresholds()
    /// At most this many leaking namespaces get a `netns_leak_info` series.
    public var leakSeriesLimit = 100
    /// Serve HTTP (false for `netns-tracer record`).
    public var serve = true
    /// Write every input to this file (`netns-tracer record`).
    public var recordPath: String?
    /// Also write the metrics to this `*.prom` file for node_exporter's textfile collector.
    public var textfilePath: String?
    /// The cgroup v2 hierarchy creators' cgroup ids are resolved in (nil: where it is mounted;
    /// in a container with its own cgroup namespace, a bind mount of the host's).
    public var cgroupRoot: String?
    /// What any one HTTP client may take.
    public var httpLimits = HTTPExporter.Limits()
    /// How often the textfile is rewritten.
    public var textfileInterval: Duration = .seconds(15)
    /// TLS and basic authentication for the HTTP endpoint (the exporter toolkit's format).
    public var webConfigPath: String?
    /// How far a follower of `GET /events` may fall behind before it is cut off.
    public var eventStreamMaxPendingBytes = EventHub.defaultMaxPendingBytes
    /// Also append every lifecycle event to this file, as JSON lines.
    public var eventsFilePath: String?
    /// The size at which the events file is rotated.
    public var eventsFileMaxBytes = EventsFile.defaultMaxBytes
    /// The kernel log read for device waits (nil: none).
    public var kernelLogPath: String? = "/dev/kmsg"
    /// How often the kernel log is read.
    public var kernelLogInterval: Duration = .seconds(1)

    /// Creates the default configuration.
    public init() {}
}

/// The agent: probes attached to the kernel, events flowing into the aggregator, metrics and
/// namespaces served over HTTP until a graceful shutdown, then everything detached.
public final class Agent: Service {
    private let configuration: AgentConfiguration
    private let logger: Logger
    private let onReady: @Sendable (SocketAddress?) -> Void
    /// Set once discovery is applied: until then the endpoints answer 503.
    private let ready = Atomic<Bool>(false)

    /// Creates an agent; `onReady` is called once it serves, with the bound address.
    public init(configuration: AgentConfiguration, logger: Logger,
                onReady: @escaping @Sendable (SocketAddress?) -> Void = { _ in }) {
        self.configuration = configuration
        self.logger = logger
        self.onReady = onReady
    }

    /// What `prepare()` set up: the probes attached and the first inventory taken.
    private struct Prepared: Sendable {
        var probes: ProbeSet
        var state: AgentState
        var scanner: HolderScanner
        var clock: ClockMapping
        var textfile: TextfileWriter?
        var security: WebSecurity?
        var kernelLog: KernelLog?
    }

    private let prepared = Mutex<Prepared?>(nil)

    /// The privileged part of start-up: checks the host, attaches the probes, takes the first
    /// inventory of existing namespaces, then gives up every capability no longer needed.
    ///
    /// Call it while the process has a single thread (before anything starts a task, an
    /// event loop or a dispatch queue), so that the capabilities dropped are dropped for every
    /// thread to come; `run()` calls it if it was not, and the drop is then skipped (and said).
    public func prepare() throws {
        guard prepared.withLock({ $0 == nil }) else { return }
        // The configuration's own mistakes first, before anything about the host.
        let security: WebSecurity?
        do {
            security = try configuration.webConfigPath.map { path throws(WebConfigError) in try WebSecurity(path: path) }
        } catch {
            throw AgentStartError.webConfig(error.description)
        }
        do {
            try Preflight.check()
        } catch {
            throw AgentStartError.preflight(error)
        }
        for limitation in Preflight.reducedVisibility() { logger.warning("\(limitation)") }
        if !Preflight.ensureTracefs() {
            logger.warning("tracefs is not mounted at /sys/kernel/tracing and could not be mounted; tracepoints will not attach")
        }
        let logger = self.logger
        // libbpf's messages are logged at debug level: below it, only its few warnings are
        // even formatted.
        LibBPFLog.install(minimum: logger.logLevel <= .debug ? .debug : .warning) { level, message in
            logger.debug("\(message)", metadata: ["level": "\(level)"])
        }

        let clock = ClockMapping.now()
        let textfile: TextfileWriter?
        do {
            textfile = try configuration.textfilePath.map { path throws(TextfileWriter.Failure) in try TextfileWriter(path: path) }
        } catch {
            throw AgentStartError.textfile(error.description)
        }
        let eventsFile: EventsFile?
        do {
            eventsFile = try configuration.eventsFilePath.map { path throws(EventsFile.Failure) in
                try EventsFile(path: path, maxBytes: configuration.eventsFileMaxBytes)
            }
        } catch {
            throw AgentStartError.eventsFile(error.description)
        }
        let recorder = try configuration.recordPath.map { path throws in try Recorder(path: path, clock: clock) }
        let hub = configuration.serve || eventsFile != nil
            ? EventHub(clock: clock, maxPendingBytes: configuration.eventStreamMaxPendingBytes, file: eventsFile) : nil
        let state = AgentState(
            aggregator: Aggregator(limits: configuration.aggregatorLimits, leakThresholds: configuration.leakThresholds),
            recorder: recorder, events: hub)

        let limits = configuration.probeLimits
        let probes: ProbeSet
        do {
            probes = try ProbeSet.attachFirst(of: configuration.probeMode, limits: limits) { failure in
                logger.notice("skipping probe set", metadata: ["reason": "\(failure)"])
            }
        } catch {
            throw AgentStartError.noProbeSet(error)
        }
        logger.info("probes attached", metadata: ["mode": "\(probes.kind)"])
        let nsIdsAreCookies = NamespaceID.matchesCookies(ownCookie: probes.hostCookie)
        if nsIdsAreCookies {
            state.update { $0.nsIdsAreCookies = true }
            state.events?.nsIds.store(true, ordering: .relaxed)
            logger.info("namespace cookies are the kernel's namespace ids: shown as nsId")
        }
        if probes.kind == .tracepoint, !limits.syscallHooks {
            logger.notice("tracepoint set without syscall hooks: every namespace is counted, but failed creations are not, and namespaces made by unshare show no creator (found by walks of the kernel's namespace list, their creation time bounded); --syscall-hooks adds both, for a few percent of syscall-heavy work")
        }
        for limitation in probes.variants.limitations { logger.notice("\(probes.kind) probe set: \(limitation)") }
        state.update { $0.probeSet = probes.kind }

        // The inventory's events wait in the ring buffer until `run()` starts reading it.
        let scanner = HolderScanner(probes: probes, state: state)
        do {
            let listing = nsIdsAreCookies ? NamespaceID.listNetworkNamespaces() : nil
            let held = try scanner.scan(openingPins: true)
            if let listing { useListing(listing, heldAsScanned: held, probes: probes, state: state) }
            try probes.refresh(full: true)
            try probes.finishBaseline()
        } catch {
            probes.detach()
            throw AgentStartError.discovery("\(error)")
        }
        // Opened while the agent may (CAP_SYSLOG where kernel.dmesg_restrict is set); without
        // it the agent still sees stuck teardowns, but not what they wait for.
        var kernelLog: KernelLog?
        if let path = configuration.kernelLogPath {
            do {
                kernelLog = try KernelLog(path: path)
                state.update { $0.kernelLog = KernelLogStatistics() }
            } catch {
                logger.notice("stuck teardowns will not name the device they wait for", metadata: ["reason": "\(error)"])
            }
        }
        dropPrivileges(state: state)
        prepared.withLock { $0 = Prepared(probes: probes, state: state, scanner: scanner, clock: clock, textfile: textfile,
                                                 security: security, kernelLog: kernelLog) }
    }

    /// `listns(2)`'s answer, asked just before the start-up holder scan: the namespaces it
    /// lists as active that the scan found no task or descriptor holding (nor a bind mount the
    /// agent could reach and open) are held out of its sight. The full refresh's walk (or a
    /// cleanup batch) follows them, and their discovery is shown as by `listns`, not as on
    /// the kernel's list alone.
    private func useListing(_ listing: NamespaceID.Listing, heldAsScanned held: Set<UInt64>, probes: ProbeSet,
                            state: AgentState) {
        switch listing {
        case .unavailable(let reason):
            logger.info("start-up inventory without listns(2)", metadata: ["reason": "\(reason)"])
        case .listed(let ids):
            let unseen = Set(ids).subtracting(held).subtracting([probes.hostCookie])
            state.update {
                $0.listnsUsed = true
                $0.listedOnlyByListns = unseen
            }
            logger.info("start-up inventory checked against listns(2)", metadata: [
                "listed": "\(ids.count)", "heldOutOfSight": "\(unseen.count)",
            ])
        }
    }

    private func dropPrivileges(state: AgentState) {
        let lowPort = configuration.serve && configuration.listenPort > 0 && configuration.listenPort < 1024
        do {
            let outcome = try PrivilegeDrop.apply(alsoKeeping: lowPort ? [.netBindService] : [])
            state.update { $0.capabilities = outcome.effective.mask }
            logger.info("capabilities dropped", metadata: [
                "kept": "\(outcome.effective.names.joined(separator: ","))",
                "boundingSetReduced": "\(outcome.boundingSetReduced)",
            ])
        } catch {
            logger.warning("capabilities not dropped", metadata: ["reason": "\(error)"])
        }
    }

    public func run() async throws {
        try prepare()
        guard let prepared = prepared.withLock({ $0 }) else { return }
        let (probes, state, scanner, clock, textfile) = (prepared.probes, prepared.state, prepared.scanner, prepared.clock, prepared.textfile)
        let logger = self.logger
        let exporter: HTTPExporter?
        let pump: EventPump
        do {
            exporter = configuration.serve ? try await startExporter(state: state, clock: clock, security: prepared.security) : nil
            do {
                pump = try EventPump(probes: probes, state: state, cgroupRoot: configuration.cgroupRoot) { error in
                    logger.error("ring buffer reader stopped", metadata: ["error": "\(error)"])
                }
            } catch {
                await exporter?.stop()
                throw AgentStartError.discovery("cannot read the ring buffer: \(error)")
            }
        } catch {
            probes.detach()
            throw error
        }
        await pump.catchUp()
        // The inventory's events are applied: a namespace listns listed that the walk did not
        // find after all was freed meanwhile.
        state.update { $0.listedOnlyByListns = [] }
        // Loading the probes parsed the kernel's BTF and the embedded objects: ~12 MB of heap,
        // freed but kept by malloc, a quarter of the agent's resident memory. Hand it back.
        _ = releaseFreedHeap(0)
        ready.store(true, ordering: .releasing)
        let snapshot = state.snapshot()
        logger.info(configuration.serve ? "serving" : "recording", metadata: [
            "tls": "\(prepared.security?.config.tls != nil)",
            "basicAuth": "\(!(prepared.security?.config.users.isEmpty ?? true))",
            "address": "\(exporter?.localAddress.flatMap { address in address.ipAddress.map { "\($0):\(address.port ?? 0)" } } ?? "-")",
            "alive": "\(snapshot.aggregator.count(.alive))",
            "dying": "\(snapshot.aggregator.count(.dying))",
        ])
        if let textfile { Self.write(textfile, state: state, configuration: configuration, logger: logger) }
        onReady(exporter?.localAddress)

        let periodic = PeriodicThread(label: "netns-tracer.periodic") { [configuration, kernelLog = prepared.kernelLog] thread in
            Self.runPeriodicWork(on: thread, configuration: configuration, probes: probes, state: state, pump: pump,
                                 scanner: scanner, kernelLog: kernelLog, textfile: textfile, logger: logger)
        }
        try? await gracefulShutdown()
        await periodic.stop()

        logger.info("shutting down")
        state.events?.finish()
        await exporter?.stop()
        textfile?.remove()
        probes.detach()
        await pump.stop()
        logger.info("probes detached")
        if let path = configuration.recordPath {
            try state.finishRecording(at: ClockMapping.monotonicNow())
            logger.info("recording written", metadata: ["path": "\(path)"])
        }
    }

    /// The agent's periodic work, on one timer and a thread of its own: the kernel log, the
    /// refresh ticks, the holder scans and the textfile, each at its own interval, in that
    /// order when several are due. Returns when the thread is stopped.
    private static func runPeriodicWork(on thread: PeriodicThread, configuration: AgentConfiguration, probes: ProbeSet,
                                        state: AgentState, pump: EventPump, scanner: HolderScanner, kernelLog: KernelLog?,
                                        textfile: TextfileWriter?, logger: Logger) {
        enum Job: Sendable { case kernelLog, refresh, holderScan, textfile }
        var jobs: [(job: Job, interval: Duration)] = [
            (.refresh, configuration.refreshInterval), (.holderScan, configuration.holderScanInterval),
        ]
        if kernelLog != nil { jobs.insert((.kernelLog, configuration.kernelLogInterval), at: 0) }
        if textfile != nil { jobs.append((.textfile, configuration.textfileInterval)) }
        var timetable = Timetable(jobs)
        var schedule = RefreshSchedule(ticksPerIdleRefresh: RefreshSchedule.ticks(
            idle: configuration.idleRefreshInterval ?? min(configuration.refreshInterval * 5, .seconds(3600)),
            interval: configuration.refreshInterval))
        let start = ContinuousClock.now
        while let next = timetable.nextDue, thread.sleep(until: start + next) {
            for job in timetable.due(at: .now - start) where !thread.isStopping {
                switch job {
                case .kernelLog:
                    guard let kernelLog else { continue }
                    state.apply(kernelLog.read(at: ClockMapping.monotonicNow()))
                    let overwritten = kernelLog.overwritten
                    state.update { $0.kernelLog?.overwritten = overwritten }
                case .refresh:
                    let activity = state.refreshActivity
                    if schedule.tick(eventsReceived: activity.lifecycleRecords, namespacesDying: activity.namespacesDying),
                       let statistics = refresh(probes: probes, state: state, full: schedule.nextRefreshIsFull(), logger: logger),
                       schedule.needsReconciliation(statistics) {
                        pump.catchUpBlocking()
                        if reconcile(probes: probes, state: state, statistics: statistics, logger: logger) {
                            schedule.reconciled(through: statistics)
                        }
                    }
                    state.trackLeaks(at: ClockMapping.monotonicNow())
                case .holderScan:
                    do {
                        try scanner.scan()
                        state.trackLeaks(at: ClockMapping.monotonicNow())
                    } catch {
                        logger.warning("holder scan failed", metadata: ["error": "\(error)"])
                    }
                case .textfile:
                    if let textfile { write(textfile, state: state, configuration: configuration, logger: logger) }
                }
            }
        }
    }

    private func startExporter(state: AgentState, clock: ClockMapping, security: WebSecurity?) async throws -> HTTPExporter {
        let address = "\(configuration.listenHost):\(configuration.listenPort)"
        let statistics = HTTPExporter.Statistics()
        let router: HTTPExporter.Router = { [self] path, headers in
            guard ready.load(ordering: .acquiring) else {
                return HTTPReply(status: .serviceUnavailable, contentType: "text/plain", body: "starting\n")
            }
            switch path {
            case "/metrics":
                let format = ExpositionFormat.negotiate(accept: headers.first(name: "Accept"))
                var snapshot = state.snapshot()
                snapshot.httpRefusals = statistics.refusals
                snapshot.eventStream = state.events?.statistics ?? EventStreamStatistics()
                snapshot.eventsFile = state.events?.file?.statistics
                snapshot.webConfigReloadFailures = security?.reloadFailures.load(ordering: .relaxed) ?? 0
                snapshot.process = ProcessStatistics.current()
                return HTTPReply(status: .ok, contentType: format.contentType,
                                 body: MetricsExposition.render(snapshot, now: ClockMapping.monotonicNow(),
                                                                leakSeriesLimit: configuration.leakSeriesLimit, format: format),
                                 headers: [("Vary", "Accept")])
            case "/namespaces":
                return HTTPReply(status: .ok, contentType: NamespacesDocument.contentType,
                                 stream: NamespacesDocument.chunks(state.snapshot(), clock: clock, now: ClockMapping.monotonicNow()))
            case "/events":
                guard let events = state.events else { return nil }
                return HTTPReply(status: .ok, contentType: EventLines.contentType, live: events.body)
            case "/":
                // A browser gets the page; anything else the list of endpoints, as before.
                if DashboardPage.wanted(accept: headers.first(name: "Accept")) {
                    return HTTPReply(status: .ok, contentType: DashboardPage.contentType, body: DashboardPage.html)
                }
                return HTTPReply(status: .ok, contentType: "text/plain",
                                 body: "netns-tracer: GET /metrics (Prometheus), /namespaces (JSON) or /events (JSON lines, live); a browser gets a page\n")
            default:
                return nil
            }
        }
        do {
            return try await HTTPExporter.start(host: configuration.listenHost, port: configuration.listenPort,
                                                limits: configuration.httpLimits, statistics: statistics, security: security,
                                                router: router)
        } catch let error as IOError {
            let reason = error.errnoCode == EADDRINUSE
                ? "the address is already in use (is another netns-tracer running? choose another with --listen)"
                : "\(error)"
            throw AgentStartError.listen(address: address, reason: reason)
        } catch {
            throw AgentStartError.listen(address: address, reason: "\(error)")
        }
    }

    private static func write(_ textfile: TextfileWriter, state: AgentState, configuration: AgentConfiguration, logger: Logger) {
        var snapshot = state.snapshot()
        snapshot.eventsFile = state.events?.file?.statistics
        let text = MetricsExposition.render(snapshot, now: ClockMapping.monotonicNow(), leakSeriesLimit: configuration.leakSeriesLimit)
        do {
            try textfile.write(text)
        } catch {
            state.update { $0.textfileErrors += 1 }
            logger.warning("textfile not written", metadata: ["error": "\(error)"])
        }
    }

    /// Re-reads refcounts and the kernel side's counters; nil if that failed.
    private static func refresh(probes: ProbeSet, state: AgentState, full: Bool, logger: Logger) -> ProbeStatistics? {
        do {
            try probes.refresh(full: full)
            let statistics = try probes.statistics()
            state.update {
                $0.probeStatistics = statistics
                $0.refreshes += 1
            }
            state.countUnreported(total: statistics.unreported)
            return statistics
        } catch {
            logger.warning("refresh failed", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// After lost events: every namespace the agent holds alive or dying that the kernel side
    /// no longer follows was freed unseen. Returns false if it could not be done now, or
    /// left namespaces too new to judge: the next refresh tries again.
    private static func reconcile(probes: ProbeSet, state: AgentState, statistics: ProbeStatistics, logger: Logger) -> Bool {
        // Sound with a full map too: a namespace the kernel side could not follow was never
        // reported, so the agent holds none that the map lacks for that reason.
        do {
            // Every namespace the kernel side followed before this moment is in the map read
            // below (its creation is stamped after it enters the map) unless freed since.
            let readAt = ClockMapping.monotonicNow()
            let followed = try probes.followedCookies()
            let result = state.snapshot().aggregator.reconciliation(
                followed: followed, at: ClockMapping.monotonicNow(), settledBefore: readAt)
            state.ingest(result.events, decodeErrors: 0)
            logger.warning("events were lost; reconciled with the kernel side", metadata: [
                "lost": "\(statistics.eventsLost)", "freedUnseen": "\(result.events.count { $0.kind == .freed })",
                "undecided": "\(result.undecided)",
            ])
            return result.undecided == 0
        } catch {
            logger.warning("reconciliation failed", metadata: ["error": "\(error)"])
            return false
        }
    }
}

/// glibc's malloc_trim(3): returns the heap's free memory to the kernel. Swift's Glibc module
/// does not declare it (malloc.h is not in it).
@_silgen_name("malloc_trim")
private func releaseFreedHeap(_ pad: Int) -> Int32
