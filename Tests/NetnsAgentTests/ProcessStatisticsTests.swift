import Foundation
import Testing
@testable import NetnsAgent
@testable import NetnsClient
@testable import NetnsExposition
@testable import NetnsKernel
import TestKit

@Suite("The agent's own process metrics and build info")
struct ProcessStatisticsTests {
    /// A real line of /proc/PID/stat, whose command name holds a space and parentheses.
    static let stat = Array("4242 (netns (tra) cer) S 1 4242 4242 0 -1 4194560 5000 0 12 0 250 130 0 0 20 0 9 0 123400 212000000 12800 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n".utf8)

    @Test("/proc/self/stat is read from after the command name's last parenthesis")
    func parse() throws {
        let process = try #require(ProcessStatistics.parse(stat: Self.stat, bootTime: 1_700_000_000, ticksPerSecond: 100,
                                                           pageSize: 4096, openFDs: 11, maxFDs: 1024))
        #expect(process.cpuSeconds == 3.8)                       // (250 + 130) ticks
        #expect(process.threads == 9)
        #expect(process.startTimeSeconds == 1_700_001_234)       // boot + 123400 ticks
        #expect(process.virtualBytes == 212_000_000)
        #expect(process.residentBytes == 12_800 * 4096)
        #expect(process.openFDs == 11 && process.maxFDs == 1024)
    }

    @Test("truncated or garbled stat lines give nil, not a crash", arguments: [
        "", "4242 (netns", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 4194560 5000 0 12 0 ab 130 0 0 20 0 9 0 123400 212000000 12800",
    ])
    func garbled(line: String) {
        #expect(ProcessStatistics.parse(stat: Array(line.utf8), bootTime: 0, ticksPerSecond: 100, pageSize: 4096, openFDs: 0, maxFDs: 0) == nil)
    }

    @Test("the boot time comes from /proc/stat's btime line")
    func bootTime() {
        #expect(ProcessStatistics.bootTime(fromProcStat: Array("cpu  1 2 3\nintr 5\nbtime 1764700000\nprocesses 9\n".utf8)) == 1_764_700_000)
        #expect(ProcessStatistics.bootTime(fromProcStat: Array("cpu  1 2 3\n".utf8)) == nil)
    }

    @Test("this process reads as itself: CPU used, memory resident, started before now, descriptors open")
    func current() throws {
        let process = try #require(ProcessStatistics.current())
        #expect(process.cpuSeconds > 0)
        #expect(process.residentBytes > 1 << 20)
        #expect(process.virtualBytes >= process.residentBytes)
        #expect(process.startTimeSeconds > Date().timeIntervalSince1970 - 86_400 * 30)
        #expect(process.startTimeSeconds <= Date().timeIntervalSince1970 + 1)
        #expect(process.openFDs >= 3 && UInt64(process.openFDs) <= process.maxFDs)
        #expect(process.threads >= 1)
    }

    @Test("/metrics carries process_* and build_info; the text without a process reading has none")
    func exposition() throws {
        var snapshot = AgentSnapshot(aggregator: .init())
        let without = MetricsExposition.render(snapshot, now: 1)
        #expect(!without.contains("process_"))
        #expect(sampleValue("netns_tracer_build_info{version=\"\(BuildInfo.version)\",revision=\"\(BuildInfo.revision)\"}", in: without) == 1)
        let process = try #require(ProcessStatistics.parse(stat: Self.stat, bootTime: 1_700_000_000, ticksPerSecond: 100,
                                                           pageSize: 4096, openFDs: 11, maxFDs: 1024))
        snapshot.process = process
        let text = MetricsExposition.render(snapshot, now: 1)
        #expect(sampleValue("process_cpu_seconds_total", in: text) == 3.8)
        #expect(sampleValue("process_resident_memory_bytes", in: text) == 52_428_800)
        #expect(sampleValue("process_virtual_memory_bytes", in: text) == 212_000_000)
        #expect(sampleValue("process_start_time_seconds", in: text) == 1_700_001_234)
        #expect(sampleValue("process_open_fds", in: text) == 11)
        #expect(sampleValue("process_max_fds", in: text) == 1024)
        #expect(sampleValue("process_threads", in: text) == 9)
        #expect(text.contains("# TYPE process_cpu_seconds_total counter\n"))
        let openMetrics = MetricsExposition.render(snapshot, now: 1, format: .openMetrics)
        #expect(openMetrics.contains("# TYPE process_cpu_seconds counter\n"))
        #expect(openMetrics.contains("# TYPE netns_tracer_build info\n"))
    }

    @Test("the revision is a git commit in a checkout, and --version names it")
    func revision() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        guard FileManager.default.fileExists(atPath: root.appending(path: ".git").path) else {
            #expect(BuildInfo.revision == "unknown")
            return
        }
        #expect(BuildInfo.revision.count == 40 && BuildInfo.revision.allSatisfy(\.isHexDigit), "\(BuildInfo.revision)")
        #expect(BuildInfo.description == "netns-tracer \(BuildInfo.version) (revision \(BuildInfo.revision.prefix(12)))")
    }
}
