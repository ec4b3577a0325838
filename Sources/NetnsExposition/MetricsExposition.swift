import CNetnsEvent
import NetnsCore

/// Renders the agent's state as Prometheus text (0.0.4) or OpenMetrics (1.0.0).
public enum MetricsExposition {
    /// Renders every metric family of `snapshot` in `format`; `now` (CLOCK_MONOTONIC ns) is the
    /// time leaks are judged at, and at most `leakSeriesLimit` leaking namespaces get an info series.
    public static func render(_ snapshot: AgentSnapshot, now: UInt64, leakSeriesLimit: Int = 100,
                              format: ExpositionFormat = .prometheusText) -> String {
        var text = TextExposition(format: format)
        let aggregator = snapshot.aggregator
        let counters = aggregator.counters

        text.counter("netns_created_total", "Network namespaces created since the agent started.", counters.created)
        text.counter("netns_setup_failures_total", "Attempts to create a network namespace that failed.", counters.setupFailures)
        text.counter("netns_released_total", "Network namespaces whose last active reference was dropped.", counters.released)
        text.counter("netns_freed_total", "Network namespaces whose memory was released.", counters.freed)
        text.counter("netns_discovered_total", "Network namespaces found at start-up, created before the agent.", counters.discovered)
        text.gauge("netns_alive", "Network namespaces in use, including those found at start-up.", aggregator.count(.alive))
        text.gauge("netns_dying", "Network namespaces released but not yet freed.", aggregator.count(.dying))
        text.histogram("netns_lifetime_seconds", "Seconds from creation to release of a network namespace.", aggregator.lifetimes)
        text.counter("netns_cleanup_batches_total", "cleanup_net batches run by the kernel.", counters.cleanupBatches)
        text.histogram("netns_cleanup_duration_seconds", "Seconds each cleanup_net batch ran.", aggregator.cleanupDurations)

        let leaks = aggregator.leaks(at: now)
        text.family("netns_leaked", "Network namespaces leaking now, by kind (orphaned, stuck_teardown, zombie).", type: "gauge")
        for kind in LeakKind.allCases {
            text.sample("netns_leaked", labels: [("kind", kind.rawValue)], leaks.count { $0.leak.kind == kind })
        }
        text.gauge("netns_untracked", "Alive network namespaces that no task, file or mount held at the last holder scan: pinned only inside the kernel.",
                   aggregator.namespaces.values.count { $0.isKernelOnly })
        text.info("netns_leak_info", "One series per leaking namespace (value 1), oldest leaks first, up to the configured limit.")
        let waits = aggregator.teardownWaits
        for (record, leak) in leaks.prefix(leakSeriesLimit) {
            let creator = record.creator
            let container = creator.flatMap { snapshot.cgroups[$0.cgroupID]?.container }
            let device = leak.kind == .stuckTeardown ? waits[record.cookie]?.device : nil
            text.sample("netns_leak_info", labels: [
                ("cookie", String(record.cookie)), ("inum", String(record.inum)), ("kind", leak.kind.rawValue),
                ("creator_comm", creator?.comm ?? ""), ("container", container?.shortName ?? ""), ("device", device ?? ""),
            ], 1)
        }
        text.gauge("netns_leak_info_dropped", "Leaking namespaces left out of netns_leak_info by the series limit.",
                   max(0, leaks.count - leakSeriesLimit))

        text.counter("netns_teardown_device_waits_total", "Lines 'unregister_netdevice: waiting for DEV to become free' the kernel logged while the agent ran: one per waiting device, every 10 s (net.core.netdev_unregister_timeout_secs) while it waits.",
                     counters.deviceWaits)
        text.counter("netns_teardown_device_waits_unattributed_total", "Of those, the ones logged while no namespace was stuck in teardown (a device unregistered outside a namespace's cleanup).",
                     counters.deviceWaitsUnattributed)

        text.counter("netns_tracer_events_total", "Events received from the kernel.", snapshot.recordsReceived)
        text.counterFamily("netns_tracer_events_by_kind_total", "Events received from the kernel, by kind.")
        for kind in NetnsEvent.Kind.allCases {
            text.sample("netns_tracer_events_by_kind_total", labels: [("kind", kind.description)],
                        counters.eventsByKind[kind])
        }
        text.counter("netns_tracer_events_lost_total", "Events dropped in the kernel because the ring buffer was full.", snapshot.probeStatistics.eventsLost)
        text.counter("netns_tracer_decode_errors_total", "Ring buffer records that could not be decoded.", snapshot.decodeErrors)
        text.counterFamily("netns_tracer_bpf_errors_total", "Failures inside the BPF programs, by reason.")
        let statistics = snapshot.probeStatistics
        for (reason, value) in statistics.errors {
            text.sample("netns_tracer_bpf_errors_total", labels: [("reason", reason)], value)
        }
        text.counter("netns_tracer_reconciled_total", "Namespaces found freed by a reconciliation with the kernel side after lost events.",
                     counters.reconciled)
        text.counter("netns_tracer_unreported_total", "Namespaces that lived and died while the ring buffer was full: counted created, released and freed, without details.",
                     counters.unreported)
        text.counter("netns_tracer_capacity_drops_total", "Events about a new namespace dropped because the agent already held its maximum of alive and dying namespaces.",
                     counters.capacityDrops)
        text.counter("netns_tracer_history_evictions_total", "Freed namespaces dropped from the kept history.", counters.historyEvictions)
        text.counter("netns_tracer_discovery_passes_total", "Discovery and holder scans over existing namespaces.", snapshot.discoveryPasses)
        text.counter("netns_tracer_refreshes_total", "Refreshes of the namespaces the kernel lists (every --refresh-interval while events arrive, every --idle-refresh-interval once none has).", snapshot.refreshes)
        text.counter("netns_tracer_recording_errors_total", "Entries that could not be written to the recording file.", snapshot.recordingErrors)
        text.gauge("netns_tracer_tracked_namespaces", "Namespaces the agent holds records of (alive, dying and freed history).", aggregator.namespaces.count)
        if let probeSet = snapshot.probeSet {
            text.info("netns_tracer_probe_info", "The probe set in use (value is always 1).")
            text.sample("netns_tracer_probe_info", labels: [("mode", probeSet.rawValue)], 1)
        }
        text.counterFamily("netns_tracer_http_refused_total", "HTTP connections and requests the endpoint refused, by reason.")
        for (reason, value) in [("connection_limit", snapshot.httpRefusals.connectionLimit),
                                ("timeout", snapshot.httpRefusals.timeout),
                                ("bad_request", snapshot.httpRefusals.badRequest),
                                ("unauthorized", snapshot.httpRefusals.unauthorized),
                                ("tls_handshake", snapshot.httpRefusals.tlsHandshake)] {
            text.sample("netns_tracer_http_refused_total", labels: [("reason", reason)], value)
        }
        text.gauge("netns_tracer_event_stream_clients", "Connections following GET /events now.", snapshot.eventStream.clients)
        text.counter("netns_tracer_event_stream_cut_off_total", "Followers of GET /events cut off for falling too far behind (the agent never waits for one).",
                     snapshot.eventStream.cutOff)
        text.gauge("netns_tracer_kernel_log_read", "1 while the agent reads the kernel's log (--kernel-log) for device waits.",
                   snapshot.kernelLog == nil ? 0 : 1)
        text.gauge("netns_tracer_listns_used", "1 when the start-up inventory asked listns(2) (6.19 and later, with CAP_SYS_ADMIN) for every active namespace.",
                   snapshot.listnsUsed ? 1 : 0)
        text.counter("netns_tracer_kernel_log_overwritten_total", "Kernel log records overwritten before the agent could read them.",
                     snapshot.kernelLog?.overwritten ?? 0)
        if let file = snapshot.eventsFile {
            text.counter("netns_tracer_events_file_lines_total", "Event lines written to --events-file.", file.written)
            text.counter("netns_tracer_events_file_dropped_total", "Event lines not written to --events-file: its writes fell too far behind, or failed (the agent never waits for them).",
                         file.dropped)
            text.counter("netns_tracer_events_file_errors_total", "Failed writes, rotations or re-opens of --events-file.", file.errors)
            text.counter("netns_tracer_events_file_rotations_total", "Rotations of --events-file.", file.rotations)
        }
        text.gauge("netns_tracer_capabilities_dropped", "1 once the agent has given up every capability but CAP_BPF and CAP_SYS_PTRACE after start-up.",
                   snapshot.capabilities == nil ? 0 : 1)
        text.counter("netns_tracer_web_config_reload_failures_total", "Changes of --web.config.file, or of a file it names, that could not be loaded (the last good configuration stays in force).",
                     snapshot.webConfigReloadFailures)
        text.counter("netns_tracer_textfile_errors_total", "Failed writes of the --textfile output.", snapshot.textfileErrors)
        renderBuildInfo(into: &text)
        if let process = snapshot.process { renderProcess(process, into: &text) }
        return text.finish()
    }
}

extension ContainerIdentity {
    /// The container as people name it: the first 12 digits of its id, or the pod UID.
    var shortName: String {
        if let id = containerID { return String(id.prefix(12)) }
        return podUID.map { "pod:\($0)" } ?? runtime
    }
}

/// Builds exposition text one family at a time, in either format.
///
/// The formats differ only in metadata: OpenMetrics names a counter's family without its
/// `_total` suffix, has an `info` type, a `UNIT` line, canonical floats in `le`, and `# EOF`.
struct TextExposition {
    private(set) var output = ""
    private let format: ExpositionFormat

    init(format: ExpositionFormat = .prometheusText) {
        self.format = format
        output.reserveCapacity(8192)
    }

    /// The finished text.
    consuming func finish() -> String {
        if format == .openMetrics { output += "# EOF\n" }
        return output
    }

    mutating func family(_ name: String, _ help: String, type: String, unit: String? = nil) {
        output += "# HELP \(name) \(escaped(help, quotes: format == .openMetrics))\n# TYPE \(name) \(type)\n"
        if let unit, format == .openMetrics { output += "# UNIT \(name) \(unit)\n" }
    }

    mutating func counter(_ name: String, _ help: String, _ value: some BinaryInteger) {
        counterFamily(name, help)
        sample(name, value)
    }

    /// The metadata of a counter whose samples follow, named `name` (ending in `_total`).
    mutating func counterFamily(_ name: String, _ help: String) {
        precondition(name.hasSuffix("_total"), "counter \(name) must end in _total")
        family(format == .openMetrics ? String(name.dropLast("_total".count)) : name, help, type: "counter")
    }

    mutating func counter(_ name: String, _ help: String, _ value: Double) {
        counterFamily(name, help)
        output += "\(name) \(formatted(value))\n"
    }

    mutating func gauge(_ name: String, _ help: String, _ value: some BinaryInteger) {
        family(name, help, type: "gauge")
        sample(name, value)
    }

    mutating func gauge(_ name: String, _ help: String, _ value: Double) {
        family(name, help, type: "gauge")
        output += "\(name) \(formatted(value))\n"
    }

    /// An info family: constant 1 samples whose labels carry the information.
    mutating func info(_ name: String, _ help: String) {
        precondition(name.hasSuffix("_info"), "info family \(name) must end in _info")
        if format == .openMetrics {
            family(String(name.dropLast("_info".count)), help, type: "info")
        } else {
            family(name, help, type: "gauge")
        }
    }

    mutating func histogram(_ name: String, _ help: String, _ histogram: Histogram) {
        family(name, help, type: "histogram", unit: name.hasSuffix("_seconds") ? "seconds" : nil)
        for (bound, count) in zip(histogram.upperBounds.map(bucketBound) + ["+Inf"], histogram.cumulativeCounts) {
            sample("\(name)_bucket", labels: [("le", bound)], count)
        }
        output += "\(name)_sum \(formatted(histogram.sum))\n"
        sample("\(name)_count", histogram.count)
    }

    mutating func sample(_ name: String, labels: [(String, String)] = [], _ value: some BinaryInteger) {
        output += name
        if !labels.isEmpty {
            output += "{"
            output += labels.map { "\($0.0)=\"\(escaped($0.1, quotes: true))\"" }.joined(separator: ",")
            output += "}"
        }
        output += " \(value)\n"
    }

    private func formatted(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    /// A bucket's upper bound: OpenMetrics wants canonical floats ("1.0", not "1").
    private func bucketBound(_ value: Double) -> String {
        format == .openMetrics ? String(value) : formatted(value)
    }

    private func escaped(_ value: String, quotes: Bool) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\n" || (quotes && $0 == "\"") }) else { return value }
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"" where quotes: escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
