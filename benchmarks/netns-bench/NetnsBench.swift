import BPFKit
import CLibBPF
import Foundation
import Glibc
import NetnsAgent
import NetnsExposition
import NetnsKernel
import NetnsServer
import NetnsCore

/// Micro-benchmarks of the agent's hot paths, run by `benchmarks/run`.
///
///     netns-bench ingest EVENTS                  decode + aggregate, events/s
///     netns-bench dump EVENTS FILE               the same records, for the C consumer
///     netns-bench render NAMESPACES              /metrics and /namespaces rendered, ms
///     netns-bench http NAMESPACES                the same over HTTP, request to last byte, ms
///     netns-bench memory NAMESPACES              resident bytes per tracked namespace
///     netns-bench bpf-stats PID                  run_time_ns / run_cnt of PID's BPF programs
///     netns-bench verdict LIMIT <=|>= SAMPLE...  judges samples against a budget (Verdict)
///     netns-bench attach OBJECT                  loads and attaches a BPF object's programs,
///                                                prints "attached", holds them until killed
///
/// Each prints `name value unit` lines; timings are the best of several runs. `verdict`
/// prints `MEDIAN LOW HIGH OUTCOME` and fails on no samples or a sample that is no number.
@main
enum NetnsBench {
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "verdict" { verdict(Array(arguments.dropFirst())) }
        if arguments.first == "attach", arguments.count == 2 { attach(object: arguments[1]) }
        guard let command = arguments.first, arguments.count >= 2, let count = Int(arguments[1]) else {
            usage()
        }
        switch command {
        case "ingest": ingest(events: count)
        case "dump" where arguments.count == 3: dump(events: count, to: arguments[2])
        case "render": render(namespaces: count)
        case "http": await http(namespaces: count)
        case "memory": memory(namespaces: count)
        case "bpf-stats": bpfStats(pid: Int32(count))
        default: usage()
        }
    }

    static func usage() -> Never {
        print("usage: netns-bench ingest N | dump N FILE | render N | http N | memory N | bpf-stats PID | verdict LIMIT <=|>= SAMPLE...")
        exit(2)
    }

    static func attach(object path: String) -> Never {
        guard let elf = FileManager.default.contents(atPath: path) else {
            complain("netns-bench attach: cannot read \(path)")
            exit(1)
        }
        do throws(BPFError) {
            let object = try BPFObject(name: "empty", elf: elf)
            try object.load()
            let links = try object.programs.map { program throws(BPFError) in try program.attach() }
            print("attached \(links.count)")
            fflush(nil)
            while true { pause() }
        } catch {
            complain("netns-bench attach: \(error)")
            exit(1)
        }
    }

    /// One line on stderr.
    static func complain(_ message: String) {
        var bytes = Array((message + "\n").utf8)
        _ = write(2, &bytes, bytes.count)
    }

    static func verdict(_ arguments: [String]) -> Never {
        guard arguments.count >= 2, let limit = Double(arguments[0]), let direction = Verdict.Direction(rawValue: arguments[1]) else {
            usage()
        }
        do {
            let samples = try arguments.dropFirst(2).map { text throws(MeasurementError) in
                guard let value = Double(text) else { throw .notANumber }
                return value
            }
            let verdict = try Verdict(samples: samples, limit: limit, direction: direction)
            print(format(verdict.median), format(verdict.low), format(verdict.high), verdict.outcome.rawValue)
            exit(0)
        } catch {
            complain("netns-bench verdict: \(error) (samples: \(arguments.dropFirst(2)))")
            exit(1)
        }
    }

    /// A realistic stream: each namespace is created, read twice, released and freed, with
    /// lifecycles interleaved as on a busy host, and cleanup batches around the releases.
    static func events(count: Int) -> [NetnsEvent] {
        var result: [NetnsEvent] = []
        result.reserveCapacity(count)
        var time: UInt64 = 1_000_000
        let creator = TaskIdentity(pid: 4242, tid: 4242, comm: "containerd-shim", cgroupID: 77, uid: 0, ppid: 1)
        var cookie: UInt64 = 100
        while result.count < count {
            let batch = UInt64(8)
            for offset in 0..<batch {
                time += 1000
                result.append(NetnsEvent(kind: .created, timestamp: time, cookie: cookie + offset, inum: UInt32(truncatingIfNeeded: 4_026_532_000 + cookie + offset),
                                         refs: RefCounts(active: 1, passive: 2), task: creator, source: 4))
            }
            for offset in 0..<batch {
                time += 1000
                result.append(NetnsEvent(kind: .refs, timestamp: time, cookie: cookie + offset, inum: 0, refs: RefCounts(active: 2, passive: 3)))
            }
            time += 1000
            result.append(NetnsEvent(kind: .cleanupStart, timestamp: time))
            for offset in 0..<batch {
                result.append(NetnsEvent(kind: .released, timestamp: time, cookie: cookie + offset, inum: 0, refs: RefCounts(active: 0, passive: 2)))
            }
            for offset in 0..<batch {
                time += 1000
                result.append(NetnsEvent(kind: .freed, timestamp: time, cookie: cookie + offset, inum: 0, refs: RefCounts(active: 0, passive: 0)))
            }
            result.append(NetnsEvent(kind: .cleanupEnd, timestamp: time))
            cookie += batch
        }
        return Array(result.prefix(count))
    }

    static func wire(count: Int) -> [UInt8] {
        events(count: count).flatMap(\.wire)
    }

    static func ingest(events count: Int) {
        let bytes = wire(count: count)
        let size = NetnsEvent.wireSize
        var best = Double.infinity
        var checksum: UInt64 = 0
        for _ in 0..<5 {
            let start = now()
            var aggregator = Aggregator()
            bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset + size <= raw.count {
                    if let event = try? NetnsEvent(wire: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + size)])) {
                        aggregator.apply(event)
                    }
                    offset += size
                }
            }
            best = min(best, now() - start)
            checksum &+= aggregator.counters.freed
        }
        print("ingest_events_per_second \(Int(Double(count) / best)) events/s")
        print("ingest_checksum \(checksum) freed")
    }

    static func dump(events count: Int, to path: String) {
        let bytes = wire(count: count)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        precondition(fd >= 0, "cannot create \(path)")
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    /// An aggregator holding `count` alive namespaces, each with a task and a mount holder.
    static func populated(_ count: Int) -> AgentSnapshot {
        var aggregator = Aggregator(limits: .init(freedHistory: 1024))
        var scan = HolderScan(timestamp: 2_000_000_000)
        let creator = TaskIdentity(pid: 4242, tid: 4242, comm: "containerd-shim", cgroupID: 77, uid: 0, ppid: 1)
        for index in 0..<count {
            let cookie = UInt64(index + 10)
            let inum = UInt32(4_026_532_000 + index)
            aggregator.apply(NetnsEvent(kind: .created, timestamp: 1_000_000_000 + UInt64(index), cookie: cookie, inum: inum,
                                        refs: RefCounts(active: 1, passive: 3), task: creator))
            scan.byCookie[cookie] = [Holder(kind: .task, pid: UInt32(10_000 + index % 30_000), comm: "pause")]
            scan.byInum[inum] = [Holder(kind: .mount, pid: 1, comm: "systemd", path: "/run/netns/cni-\(index)")]
        }
        aggregator.apply(scan)
        var snapshot = AgentSnapshot(aggregator: aggregator, probeSet: .tracepoint)
        snapshot.cgroups[77] = CgroupInfo(path: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1a2b3c4d_0000_1111_2222_333344445555.slice")
        return snapshot
    }

    static func render(namespaces count: Int) {
        let snapshot = populated(count)
        let clock = ClockMapping(realtimeOffset: 1_700_000_000_000_000_000)
        var metricsBest = Double.infinity, namespacesBest = Double.infinity
        var bytes = 0
        for _ in 0..<5 {
            var start = now()
            bytes = MetricsExposition.render(snapshot, now: 10_000_000_000).utf8.count
            metricsBest = min(metricsBest, now() - start)
            start = now()
            bytes += NamespacesDocument.renderParts(snapshot, clock: clock, now: 10_000_000_000).reduce(0) { $0 + $1.readableBytes }
            namespacesBest = min(namespacesBest, now() - start)
        }
        // The baseline the hand-written writer is kept over: the same document through
        // Codable and Foundation's JSONEncoder (the records mapped to Encodable values first).
        var oneThreadBest = Double.infinity
        for _ in 0..<3 {
            let start = now()
            let document = NamespacesDocument.chunks(snapshot, clock: clock, now: 10_000_000_000)
            _ = (0..<document.count).reduce(0) { $0 + document.render($1).readableBytes }
            oneThreadBest = min(oneThreadBest, now() - start)
        }
        var encoderBest = Double.infinity
        var encoderBytes = 0
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        for _ in 0..<3 {
            let start = now()
            let document = EncodableNamespace.document(snapshot, clock: clock, now: 10_000_000_000)
            encoderBytes = (try? encoder.encode(document).count) ?? 0
            encoderBest = min(encoderBest, now() - start)
        }
        print("render_metrics_ms \(format(metricsBest * 1000)) ms")
        print("render_namespaces_ms \(format(namespacesBest * 1000)) ms")
        print("render_namespaces_one_thread_ms \(format(oneThreadBest * 1000)) ms")
        print("render_namespaces_jsonencoder_ms \(format(encoderBest * 1000)) ms")
        print("render_namespaces_jsonencoder_bytes \(encoderBytes) bytes")
        print("render_bytes \(bytes) bytes")
    }

    /// `/metrics` and `/namespaces` as a client gets them: the agent's HTTP server on loopback
    /// renders from a snapshot of `count` namespaces; a plain socket client sends the request
    /// and reads to the last byte.
    static func http(namespaces count: Int) async {
        let snapshot = populated(count)
        let clock = ClockMapping(realtimeOffset: 1_700_000_000_000_000_000)
        let exporter: HTTPExporter
        do {
            exporter = try await HTTPExporter.start(host: "127.0.0.1", port: 0) { path, _ in
                switch path {
                case "/metrics":
                    HTTPReply(status: .ok, contentType: "text/plain", body: MetricsExposition.render(snapshot, now: 10_000_000_000))
                case "/namespaces":
                    HTTPReply(status: .ok, contentType: NamespacesDocument.contentType,
                              stream: NamespacesDocument.chunks(snapshot, clock: clock, now: 10_000_000_000))
                default: nil
                }
            }
        } catch {
            print("cannot serve: \(error)")
            exit(1)
        }
        let port = UInt16(exporter.localAddress?.port ?? 0)
        for path in ["/metrics", "/namespaces"] {
            var best = Double.infinity
            var bytes = 0
            for _ in 0..<5 {
                let start = now()
                bytes = get(path, port: port)
                best = min(best, now() - start)
            }
            let name = path.dropFirst()
            print("http_\(name)_ms \(format(best * 1000)) ms")
            print("http_\(name)_bytes \(bytes) bytes")
        }
        await exporter.stop()
    }

    /// GETs `path` from 127.0.0.1:`port` and reads the response to its end; its size.
    static func get(_ path: String, port: UInt16) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { print("cannot connect: errno \(errno)"); exit(1) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".utf8)
        guard write(fd, request, request.count) == request.count else { print("cannot send"); exit(1) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var total = 0
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            total += count
        }
        return total
    }

    static func memory(namespaces count: Int) {
        let before = residentBytes()
        let snapshot = populated(count)
        let after = residentBytes()
        withExtendedLifetime(snapshot) {
            print("memory_bytes_per_namespace \(Int(Double(after - before) / Double(count))) bytes")
        }
    }

    /// Every BPF program whose descriptor process `pid` holds: name, runs, ns per run.
    static func bpfStats(pid: Int32) {
        guard let directory = opendir("/proc/\(pid)/fdinfo") else { print("no process \(pid)"); exit(1) }
        defer { closedir(directory) }
        var seen: Set<UInt32> = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let text = try? readText("/proc/\(pid)/fdinfo/\(name)"),
                  let line = text.split(separator: "\n").first(where: { $0.hasPrefix("prog_id:") }),
                  let id = UInt32(line.dropFirst("prog_id:".count).trimmingPrefix(while: \.isWhitespace)),
                  seen.insert(id).inserted else { continue }
            let fd = bpf_prog_get_fd_by_id(id)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var info = bpf_prog_info()
            var length = UInt32(MemoryLayout<bpf_prog_info>.size)
            guard bpf_obj_get_info_by_fd(fd, &info, &length) == 0 else { continue }
            let program = withUnsafeBytes(of: info.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            let perRun = info.run_cnt > 0 ? Double(info.run_time_ns) / Double(info.run_cnt) : 0
            print("bpf_prog \(program) \(info.run_cnt) runs \(format(perRun)) ns/run \(info.run_time_ns) ns")
        }
    }

    static func readText(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw Errno() }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(fd, &buffer, buffer.count)
        guard count >= 0 else { throw Errno() }
        return String(decoding: buffer.prefix(count), as: UTF8.self)
    }

    struct Errno: Error {}

    static func residentBytes() -> Int {
        guard let text = try? readText("/proc/self/statm") else { return 0 }
        let fields = text.split(separator: " ")
        return (Int(fields.count > 1 ? fields[1] : "0") ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    static func format(_ value: Double) -> String {
        let scaled = (value * 100).rounded() / 100
        return String(scaled)
    }
}

/// One namespace of `/namespaces` as Codable would have it: the baseline `render` measures
/// the hand-written `JSONWriter` against (same fields; times as ISO 8601 by the encoder).
struct EncodableNamespace: Encodable {
    struct Task: Encodable {
        var pid: UInt32, comm: String, cgroupId: UInt64, uid: UInt32?, ppid: UInt32?, cgroupPath: String?
    }
    struct HolderEntry: Encodable {
        var kind: String, pid: UInt32, comm: String, path: String?, fd: Int32?
    }
    struct LeakEntry: Encodable { var kind: String, since: Date }
    struct Refs: Encodable { var active: Int32, passive: Int32 }

    var cookie: UInt64, inum: UInt32, state: String
    var createdAt, discoveredAt, releasedAt, tornDownAt, freedAt: Date?
    var ageSeconds, lifetimeSeconds: Double
    var discoveredBy: String?
    var creator, holder: Task?
    var holders: [HolderEntry]
    var leak: LeakEntry?
    var refs: Refs?
    var setupResult: Int32?
    var createdAtEstimated: Bool
    var createdAfter: Date?

    static func document(_ snapshot: AgentSnapshot, clock: ClockMapping, now: UInt64) -> [EncodableNamespace] {
        let thresholds = snapshot.aggregator.leakThresholds
        func date(_ monotonic: UInt64?) -> Date? {
            monotonic.map { Date(timeIntervalSince1970: Double(clock.unixNanoseconds($0)) / 1e9) }
        }
        func task(_ task: TaskIdentity?) -> Task? {
            task.map { Task(pid: $0.pid, comm: $0.comm, cgroupId: $0.cgroupID, uid: $0.uid, ppid: $0.ppid,
                            cgroupPath: snapshot.cgroups[$0.cgroupID]?.path) }
        }
        return snapshot.aggregator.namespaces.values.sorted { ($0.firstSeenAt ?? 0, $0.cookie) < ($1.firstSeenAt ?? 0, $1.cookie) }.map { record in
            let start = record.firstSeenAt ?? now
            return EncodableNamespace(
                cookie: record.cookie, inum: record.inum, state: record.state.rawValue,
                createdAt: date(record.createdAt), discoveredAt: date(record.discoveredAt), releasedAt: date(record.releasedAt),
                tornDownAt: date(record.tornDownAt), freedAt: date(record.freedAt),
                ageSeconds: Double((record.freedAt ?? now) &- start) / 1e9, lifetimeSeconds: Double((record.releasedAt ?? now) &- start) / 1e9,
                discoveredBy: record.discoveredBy, creator: task(record.creator), holder: task(record.shownHolder),
                holders: record.holders.map { HolderEntry(kind: $0.kind.rawValue, pid: $0.pid, comm: $0.comm, path: $0.path, fd: $0.fd) },
                leak: record.leak(at: now, thresholds: thresholds).map { LeakEntry(kind: $0.kind.rawValue, since: date($0.since)!) },
                refs: record.refs.map { Refs(active: $0.active, passive: $0.passive) },
                setupResult: record.setupResult, createdAtEstimated: record.createdAtIsEstimate, createdAfter: date(record.createdAfter))
        }
    }
}
