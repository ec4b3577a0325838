import Glibc
import NetnsExposition
import NetnsSystem

extension ProcessStatistics {
    /// This process now; nil if `/proc` cannot be read or parsed.
    public static func current() -> ProcessStatistics? {
        guard let host = Self.host, let stat = readFileBytes("/proc/self/stat", limit: 4096) else { return nil }
        var limit = rlimit()
        let maxFDs = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 ? UInt64(limit.rlim_cur) : 0
        return parse(stat: stat, bootTime: host.bootTime, ticksPerSecond: host.ticksPerSecond, pageSize: host.pageSize,
                     openFDs: openDescriptors(), maxFDs: maxFDs)
    }

    /// What does not change while the agent runs, read at the first scrape: `/proc/stat` is
    /// a line per CPU and more, long on a large host, for the one boot time in it.
    private static let host: (bootTime: Double, ticksPerSecond: Double, pageSize: UInt64)? = {
        guard let system = readFileBytes("/proc/stat", limit: 1 << 20), let bootTime = bootTime(fromProcStat: system) else { return nil }
        return (bootTime, Double(sysconf(Int32(_SC_CLK_TCK))), UInt64(sysconf(Int32(_SC_PAGESIZE))))
    }()

    private static func openDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0.first == UInt8(ascii: ".") }
            if !isDot { count += 1 }
        }
        return max(0, count - 1)    // the descriptor opendir holds
    }
}
