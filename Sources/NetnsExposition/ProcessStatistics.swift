#if canImport(Glibc)
import Glibc
#endif
import NetnsCore

/// The agent's own cost as every exporter reports it (`process_*`, the Prometheus client
/// libraries' names), read from `/proc/self` when `/metrics` is served (`current()`, in the
/// agent).
public struct ProcessStatistics: Equatable, Sendable {
    /// User and system CPU time.
    public var cpuSeconds: Double
    public var residentBytes: UInt64
    public var virtualBytes: UInt64
    /// Seconds since the Unix epoch.
    public var startTimeSeconds: Double
    public var openFDs: Int
    public var maxFDs: UInt64
    public var threads: Int

    /// Parses `/proc/PID/stat` (proc(5)). The command name, field 2, may hold spaces and
    /// parentheses: the fields are counted from after its last `)`.
    public static func parse(stat: [UInt8], bootTime: Double, ticksPerSecond: Double, pageSize: UInt64,
                      openFDs: Int, maxFDs: UInt64) -> ProcessStatistics? {
        guard let close = stat.lastIndex(of: UInt8(ascii: ")")), ticksPerSecond > 0 else { return nil }
        // Fields from 3 (state) on; field N is at index N - 3.
        let fields = stat[(close + 1)...].split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") })
        func field(_ number: Int) -> UInt64? {
            guard number - 3 < fields.count else { return nil }
            return UInt64(String(decoding: fields[number - 3], as: UTF8.self))
        }
        guard let utime = field(14), let stime = field(15), let threads = field(20), let start = field(22),
              let vsize = field(23), let rss = field(24)
        else { return nil }
        return ProcessStatistics(cpuSeconds: Double(utime + stime) / ticksPerSecond, residentBytes: rss * pageSize,
                                 virtualBytes: vsize, startTimeSeconds: bootTime + Double(start) / ticksPerSecond,
                                 openFDs: openFDs, maxFDs: maxFDs, threads: Int(threads))
    }

    /// The boot time (`btime`, seconds since the epoch) from `/proc/stat`.
    public static func bootTime(fromProcStat text: [UInt8]) -> Double? {
        for line in text.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("btime ".utf8)) {
            return Double(String(decoding: line.dropFirst(6), as: UTF8.self))
        }
        return nil
    }
}

extension MetricsExposition {
    /// The version this agent was built from, and the git commit where known.
    static func renderBuildInfo(into text: inout TextExposition) {
        text.info("netns_tracer_build_info", "The version and git revision the agent was built from (value is always 1).")
        text.sample("netns_tracer_build_info", labels: [("version", BuildInfo.version), ("revision", BuildInfo.revision)], 1)
    }

    /// The standard `process_*` families, as the Prometheus client libraries name them.
    static func renderProcess(_ process: ProcessStatistics, into text: inout TextExposition) {
        text.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", process.cpuSeconds)
        text.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", process.residentBytes)
        text.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", process.virtualBytes)
        text.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", process.startTimeSeconds)
        text.gauge("process_open_fds", "Number of open file descriptors.", process.openFDs)
        text.gauge("process_max_fds", "Maximum number of open file descriptors.", process.maxFDs)
        text.gauge("process_threads", "Number of OS threads in the process.", process.threads)
    }
}
