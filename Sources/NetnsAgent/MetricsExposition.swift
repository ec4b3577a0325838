import NetnsCore

/// Renders the agent's state as Prometheus text exposition format 0.0.4.
public enum MetricsExposition {
    /// The Content-Type of the rendered text.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Renders every metric family of `snapshot`.
    public static func render(_ snapshot: AgentState.Snapshot) -> String {
        var text = TextExposition()
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

        text.counter("netns_tracer_events_total", "Events received from the kernel.", snapshot.recordsReceived)
        text.family("netns_tracer_events_by_kind_total", "Events received from the kernel, by kind.", type: "counter")
        for kind in NetnsEvent.Kind.allCases {
            text.sample("netns_tracer_events_by_kind_total", labels: [("kind", kind.description)],
                        counters.eventsByKind[kind, default: 0])
        }
        text.counter("netns_tracer_events_lost_total", "Events dropped in the kernel because the ring buffer was full.", snapshot.probeStatistics.eventsLost)
        text.counter("netns_tracer_decode_errors_total", "Ring buffer records that could not be decoded.", snapshot.decodeErrors)
        text.family("netns_tracer_bpf_errors_total", "Failures inside the BPF programs, by reason.", type: "counter")
        let statistics = snapshot.probeStatistics
        for (reason, value) in [("tracked_map_full", statistics.trackedMapFull),
                                ("pending_map_full", statistics.pendingMapFull),
                                ("read_failed", statistics.readFailures)] {
            text.sample("netns_tracer_bpf_errors_total", labels: [("reason", reason)], value)
        }
        text.counter("netns_tracer_history_evictions_total", "Freed namespaces dropped from the kept history.", counters.historyEvictions)
        text.counter("netns_tracer_discovery_passes_total", "Discovery passes over existing namespaces.", snapshot.discoveryPasses)
        text.gauge("netns_tracer_tracked_namespaces", "Namespaces the agent holds records of (alive, dying and freed history).", aggregator.namespaces.count)
        if let probeSet = snapshot.probeSet {
            text.family("netns_tracer_probe_info", "The probe set in use (value is always 1).", type: "gauge")
            text.sample("netns_tracer_probe_info", labels: [("mode", probeSet.rawValue)], 1)
        }
        return text.output
    }
}

/// Builds exposition text one family at a time.
struct TextExposition {
    private(set) var output = ""

    init() { output.reserveCapacity(8192) }

    mutating func family(_ name: String, _ help: String, type: String) {
        output += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    mutating func counter(_ name: String, _ help: String, _ value: some BinaryInteger) {
        family(name, help, type: "counter")
        sample(name, value)
    }

    mutating func gauge(_ name: String, _ help: String, _ value: some BinaryInteger) {
        family(name, help, type: "gauge")
        sample(name, value)
    }

    mutating func histogram(_ name: String, _ help: String, _ histogram: Histogram) {
        family(name, help, type: "histogram")
        for (bound, count) in zip(histogram.upperBounds.map(formatted) + ["+Inf"], histogram.cumulativeCounts) {
            sample("\(name)_bucket", labels: [("le", bound)], count)
        }
        output += "\(name)_sum \(formatted(histogram.sum))\n"
        sample("\(name)_count", histogram.count)
    }

    mutating func sample(_ name: String, labels: [(String, String)] = [], _ value: some BinaryInteger) {
        output += name
        if !labels.isEmpty {
            output += "{"
            output += labels.map { "\($0.0)=\"\(escapedLabelValue($0.1))\"" }.joined(separator: ",")
            output += "}"
        }
        output += " \(value)\n"
    }

    private func formatted(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    private func escapedLabelValue(_ value: String) -> String {
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
