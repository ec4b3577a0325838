import CNetnsEvent
import Dispatch
import NetnsCore
import NIOCore

/// Renders the namespaces the agent tracks as the JSON array `GET /namespaces` returns.
///
/// One object per namespace, oldest first: `cookie`, `inum`, `state`, `createdAt`,
/// `discoveredAt`, `releasedAt`, `tornDownAt`, `freedAt` (RFC 3339 or null), `ageSeconds`,
/// `lifetimeSeconds` (creation or discovery to release, or to now), `discoveredBy`,
/// `creator` {`pid`, `comm`, `cgroupId`, `uid`, `ppid`, `cgroupPath`, `container`} or null,
/// `holder` (the task seen holding a discovered namespace, or one whose creation was not seen)
/// or null, `createdAtEstimated` and `createdAfter` (a creation not seen: `createdAt` is when
/// it was found, `createdAfter` the earliest it can have been), `holders` (array of
/// {`kind`, `pid`, `comm`, `path`?, `fd`?}), `leak` ({`kind`, `since`} or null),
/// `refs` {`active`, `passive`} or null, `setupResult`, `teardown` ({`waitingFor`:
/// {`device`, `usageCount`, `since`, `lastSeen`, `source`}} once its teardown was seen
/// waiting for a device, or null), and `nsId` (the kernel's id of the namespace, where the
/// kernel's ids are the cookies: 6.18 and later; null before).
public enum NamespacesDocument {
    /// The Content-Type of the rendered document.
    public static let contentType = "application/json"

    /// Renders the namespaces of `snapshot`; `now` is the monotonic time ages and leaks are
    /// measured at.
    public static func render(_ snapshot: AgentSnapshot, clock: ClockMapping, now: UInt64, leakedOnly: Bool = false) -> String {
        String(decoding: renderBytes(snapshot, clock: clock, now: now, leakedOnly: leakedOnly), as: UTF8.self)
    }

    /// The same document as bytes.
    public static func renderBytes(_ snapshot: AgentSnapshot, clock: ClockMapping, now: UInt64, leakedOnly: Bool = false) -> [UInt8] {
        let parts = renderParts(snapshot, clock: clock, now: now, leakedOnly: leakedOnly)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(parts.reduce(0) { $0 + $1.readableBytes })
        for part in parts { bytes += part.readableBytesView }
        return bytes
    }

    /// The same document in consecutive parts, its chunks rendered in parallel.
    public static func renderParts(_ snapshot: AgentSnapshot, clock: ClockMapping, now: UInt64,
                                   leakedOnly: Bool = false) -> [ByteBuffer] {
        let document = chunks(snapshot, clock: clock, now: now, leakedOnly: leakedOnly)
        let rendered = RenderedChunks(count: document.count)
        DispatchQueue.concurrentPerform(iterations: document.count) { index in
            rendered.parts[index] = document.render(index)
        }
        return Array(rendered.parts)
    }

    /// The document as consecutive chunks of `namespacesPerChunk` namespaces, each rendered on
    /// demand, on any thread: the HTTP server streams them, so a large document is never held
    /// whole (100 k namespaces are about 70 MB of JSON).
    public static func chunks(_ snapshot: AgentSnapshot, clock: ClockMapping, now: UInt64,
                              leakedOnly: Bool = false, namespacesPerChunk: Int = 4096) -> ChunkedBody {
        let aggregator = snapshot.aggregator
        let records = aggregator.namespaces.storage   // vacant places have cookie 0
        var order = records.indices.filter {
            records[$0].cookie != 0 && (!leakedOnly || records[$0].leak(at: now, thresholds: aggregator.leakThresholds) != nil)
        }
        // Sort small keys, not the records: each record is hundreds of bytes.
        let keys = records.withUnsafeBufferPointer { records in
            records.indices.map { (records[$0].firstSeenAt ?? 0, records[$0].cookie) }
        }
        order.sort { keys[$0] < keys[$1] }
        let sorted = order
        guard !sorted.isEmpty else { return ChunkedBody(count: 1) { _ in ByteBuffer(string: "[]\n") } }
        let perChunk = max(1, namespacesPerChunk)
        let count = (sorted.count + perChunk - 1) / perChunk
        return ChunkedBody(count: count) { index in
            let range = (index * perChunk)..<min(sorted.count, (index + 1) * perChunk)
            return render(range, of: sorted, records: records, snapshot: snapshot, clock: clock, now: now)
        }
    }

    /// Renders the namespaces at `range` of `sorted` (indices into `records`), with the
    /// document's opening bracket before the first and its closing one after the last.
    private static func render(_ range: Range<Int>, of sorted: [Int], records: [NamespaceRecord], snapshot: AgentSnapshot,
                               clock: ClockMapping, now: UInt64) -> ByteBuffer {
        // Rendered straight into the buffer that is sent, by as many passes as it takes: a
        // pass stops at the first record that does not fit, and the next one starts there
        // with twice the room.
        var room = range.count * 800 + 16
        var part = ByteBufferAllocator().buffer(capacity: room + 1)
        var next = range.lowerBound
        if next == 0 { part.writeStaticString("[") }
        repeat {
            part.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { free in
                var json = JSONWriter(into: free)
                // Through a buffer pointer, each record is borrowed, not copied (and retained).
                records.withUnsafeBufferPointer { records in
                    var cgroups = CgroupLookup(snapshot.cgroups)
                    let thresholds = snapshot.aggregator.leakThresholds
                    let waits = snapshot.aggregator.teardownWaits
                    let nsIds = snapshot.nsIdsAreCookies
                    while next < range.upperBound {
                        let checkpoint = json.count
                        json.raw(next > 0 ? ",\n  " : "\n  ")
                        json.resetComma()
                        write(records[sorted[next]], to: &json, cgroups: &cgroups, thresholds: thresholds, waits: waits,
                              nsIds: nsIds, clock: clock, now: now)
                        if next == sorted.count - 1 { json.raw("\n]\n") }
                        if json.overflowed {
                            json.rewind(to: checkpoint)
                            break
                        }
                        next += 1
                    }
                }
                return json.count
            }
            room = max(room, part.writableBytes) * 2
        } while next < range.upperBound
        return part
    }

    private static func write(_ record: borrowing NamespaceRecord, to json: inout JSONWriter, cgroups: inout CgroupLookup,
                              thresholds: LeakThresholds, waits: [UInt64: TeardownWaitingFor], nsIds: Bool,
                              clock: ClockMapping, now: UInt64) {
        json.beginObject()
        json.field("cookie", record.cookie)
        json.field("inum", record.inum)
        json.field("state", record.state.rawValue)
        json.time("createdAt", record.createdAt, clock: clock)
        json.time("discoveredAt", record.discoveredAt, clock: clock)
        json.time("releasedAt", record.releasedAt, clock: clock)
        json.time("tornDownAt", record.tornDownAt, clock: clock)
        json.time("freedAt", record.freedAt, clock: clock)
        let start = record.firstSeenAt ?? now
        json.field("ageSeconds", seconds(from: start, to: record.freedAt ?? now))
        json.field("lifetimeSeconds", seconds(from: start, to: record.releasedAt ?? now))
        json.field("discoveredBy", record.discoveredBy)
        json.key("creator")
        if let creator = record.creator { cgroups.select(creator.cgroupID) }
        writeCreator(record.creator, cgroups: cgroups, to: &json)
        json.key("holder")
        writeTask(record.shownHolder, to: &json)
        json.key("holders")
        json.beginArray()
        // By index through a buffer pointer: each holder is read in place, its strings not retained.
        record.holders.withUnsafeBufferPointer { holders in
            for index in holders.indices {
                json.beginObject()
                json.field("kind", holders[index].kind.rawValue)
                json.field("pid", holders[index].pid)
                json.field("comm", holders[index].comm)
                if holders[index].path != nil { json.field("path", holders[index].path) }
                if holders[index].fd != nil { json.field("fd", holders[index].fd) }
                json.endObject()
            }
        }
        json.endArray()
        json.key("leak")
        if let leak = record.leak(at: now, thresholds: thresholds) {
            json.beginObject()
            json.field("kind", leak.kind.rawValue)
            json.time("since", leak.since, clock: clock)
            json.endObject()
        } else {
            json.null()
        }
        json.key("refs")
        if let refs = record.refs {
            json.beginObject()
            json.field("active", refs.active)
            json.field("passive", refs.passive)
            json.endObject()
        } else {
            json.null()
        }
        json.field("setupResult", record.setupResult)
        json.field("createdAtEstimated", record.createdAtIsEstimate)
        json.time("createdAfter", record.createdAfter, clock: clock)
        json.key("teardown")
        if !waits.isEmpty, let wait = waits[record.cookie] {
            json.beginObject()
            json.key("waitingFor")
            json.beginObject()
            json.field("device", wait.device)
            json.field("usageCount", wait.usageCount)
            json.time("since", wait.since, clock: clock)
            json.time("lastSeen", wait.lastSeen, clock: clock)
            json.field("source", wait.source.name)
            json.endObject()
            json.endObject()
        } else {
            json.null()
        }
        json.field("nsId", nsIds ? record.cookie : nil)
        json.endObject()
    }

    private static func writeCreator(_ task: TaskIdentity?, cgroups: borrowing CgroupLookup, to json: inout JSONWriter) {
        guard let task else { return json.null() }
        json.beginObject()
        writeCreatorFields(task, to: &json)
        json.fields(cgroups.fragment)   // cgroupPath, container
        json.endObject()
    }

    /// A creator's own fields, before its cgroup's: `pid`, `comm`, `cgroupId`, `uid`, `ppid`.
    static func writeCreatorFields(_ task: TaskIdentity, to json: inout JSONWriter) {
        json.field("pid", task.pid)
        json.field("comm", task.commBytes)
        json.field("cgroupId", task.cgroupID)
        json.field("uid", task.uid)
        json.field("ppid", task.ppid)
    }

    /// The fields a creator's cgroup adds: `cgroupPath` and `container` (null if unknown).
    static func writeCgroup(_ cgroup: CgroupInfo?, to json: inout JSONWriter) {
        json.field("cgroupPath", cgroup?.path)
        json.key("container")
        if let container = cgroup?.container {
            json.beginObject()
            json.field("runtime", container.runtime)
            json.field("id", container.containerID)
            json.field("podUid", container.podUID)
            json.endObject()
        } else {
            json.null()
        }
    }

    private static func writeTask(_ task: TaskIdentity?, to json: inout JSONWriter) {
        guard let task else { return json.null() }
        json.beginObject()
        json.field("pid", task.pid)
        json.field("comm", task.commBytes)
        json.field("cgroupId", task.cgroupID)
        json.endObject()
    }

    private static func seconds(from start: UInt64, to end: UInt64) -> Double {
        end > start ? Double(end - start) / 1_000_000_000 : 0
    }
}

/// The buffers of a parallel render, one per chunk.
private final class RenderedChunks: @unchecked Sendable {
    // Each chunk writes only its own element, and they are read only after every chunk has
    // finished (`concurrentPerform` returns then): no two threads touch one element.
    let parts: UnsafeMutableBufferPointer<ByteBuffer>

    init(count: Int) {
        parts = .allocate(capacity: count)
        parts.initialize(repeating: ByteBuffer())
    }

    deinit {
        parts.deinitialize()
        parts.deallocate()
    }
}

/// The cgroup fields of each creator, rendered once per run of creators in the same cgroup
/// (a runtime's namespaces often come from one), not looked up, copied out of a dictionary
/// and escaped again for every namespace.
private struct CgroupLookup {
    private let table: [UInt64: CgroupInfo]
    private var selectedID: UInt64?
    /// `"cgroupPath":…,"container":…` of the last `select`.
    private(set) var fragment: [UInt8] = []

    init(_ table: [UInt64: CgroupInfo]) { self.table = table }

    mutating func select(_ id: UInt64) {
        guard id != selectedID else { return }
        selectedID = id
        let cgroup = table[id]
        var capacity = 512
        while true {
            var fits = false
            fragment = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                var json = JSONWriter(into: UnsafeMutableRawBufferPointer(buffer))
                NamespacesDocument.writeCgroup(cgroup, to: &json)
                fits = !json.overflowed
                count = fits ? json.count : 0
            }
            if fits { return }
            capacity *= 2
        }
    }
}

/// A minimal, fast JSON writer into a region of memory it does not own: objects are written
/// field by field, commas are handled here, and strings are escaped only where JSON requires
/// it. (`/namespaces` of 100 k namespaces is about 70 MB: every append is a bounds check and a
/// copy, nothing more.) What does not fit is not written: the writer is then `overflowed`, and
/// its owner rewinds to a checkpoint and continues in a larger region.
struct JSONWriter: ~Copyable {
    private let storage: UnsafeMutableRawPointer
    private let capacity: Int
    /// The bytes written so far.
    private(set) var count = 0
    /// Whether something did not fit (and was dropped).
    private(set) var overflowed = false
    private var needsComma = false

    init(into region: UnsafeMutableRawBufferPointer) {
        storage = region.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 1)!
        capacity = region.baseAddress == nil ? 0 : region.count
    }

    /// Forgets what was written after `checkpoint`, and an overflow.
    mutating func rewind(to checkpoint: Int) {
        count = checkpoint
        overflowed = false
    }

    /// Whether `extra` more bytes fit; if not, the writer is overflowed from now on.
    @inline(__always)
    private mutating func reserve(_ extra: Int) -> Bool {
        if _fastPath(!overflowed && count + extra <= capacity) { return true }
        overflowed = true
        return false
    }

    @inline(__always)
    private mutating func append(_ buffer: UnsafeRawBufferPointer) {
        guard reserve(buffer.count), let base = buffer.baseAddress else { return }
        (storage + count).copyMemory(from: base, byteCount: buffer.count)
        count += buffer.count
    }

    /// Appends bytes already reserved.
    @inline(__always)
    private mutating func appendReserved(_ byte: UInt8) {
        storage.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    @inline(__always)
    private mutating func append(_ byte: UInt8) {
        guard reserve(1) else { return }
        appendReserved(byte)
    }

    /// Appends text as is (structure between values, written by the caller).
    @inline(__always)
    mutating func raw(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Appends fields rendered by another writer (`"key":value,…`) to the object being written.
    mutating func fields(_ rendered: [UInt8]) {
        if needsComma { append(UInt8(ascii: ",")) }
        rendered.withUnsafeBytes { append($0) }
        needsComma = true
    }

    /// Starts a new value sequence (no comma before the next value).
    mutating func resetComma() { needsComma = false }

    mutating func beginObject() {
        if needsComma { append(UInt8(ascii: ",")) }
        append(UInt8(ascii: "{"))
        needsComma = false
    }
    mutating func endObject() { append(UInt8(ascii: "}")); needsComma = true }
    mutating func beginArray() { append(UInt8(ascii: "[")); needsComma = false }
    mutating func endArray() { append(UInt8(ascii: "]")); needsComma = true }
    mutating func null() { raw("null"); needsComma = true }

    @inline(__always)
    mutating func key(_ name: StaticString) {
        guard reserve(name.utf8CodeUnitCount + 4) else { return }
        if needsComma { appendReserved(UInt8(ascii: ",")) }
        appendReserved(UInt8(ascii: "\""))
        (storage + count).copyMemory(from: name.utf8Start, byteCount: name.utf8CodeUnitCount)
        count += name.utf8CodeUnitCount
        appendReserved(UInt8(ascii: "\""))
        appendReserved(UInt8(ascii: ":"))
        needsComma = false
    }

    mutating func field(_ name: StaticString, _ value: Bool) {
        key(name)
        if value { raw("true") } else { raw("false") }
        needsComma = true
    }

    @inline(__always)
    mutating func field(_ name: StaticString, _ value: (some BinaryInteger)?) {
        key(name)
        if let value { integer(value) } else { raw("null") }
        needsComma = true
    }

    /// A non-negative number with millisecond precision.
    mutating func field(_ name: StaticString, _ value: Double) {
        key(name)
        if value.isFinite, value >= 0, value < 1e15 {
            let milliseconds = UInt64((value * 1000).rounded())
            integer(milliseconds / 1000)
            var fraction = milliseconds % 1000
            if fraction != 0 {
                append(UInt8(ascii: "."))
                var divisor: UInt64 = 100
                while fraction > 0 {
                    append(UInt8(fraction / divisor) + UInt8(ascii: "0"))
                    fraction %= divisor
                    divisor /= 10
                }
            }
        } else {
            raw("null")
        }
        needsComma = true
    }

    /// A monotonic timestamp as an RFC 3339 string, or null.
    @inline(__always)
    mutating func time(_ name: StaticString, _ monotonic: UInt64?, clock: ClockMapping) {
        key(name)
        if let monotonic {
            guard reserve(CivilTime.rfc3339Length + 2) else { return }
            appendReserved(UInt8(ascii: "\""))
            CivilTime(unixNanoseconds: clock.unixNanoseconds(monotonic)).writeRFC3339(to: storage + count)
            count += CivilTime.rfc3339Length
            appendReserved(UInt8(ascii: "\""))
        } else {
            raw("null")
        }
        needsComma = true
    }

    @inline(__always)
    mutating func field(_ name: StaticString, _ value: String?) {
        key(name)
        if let value { appendString(value) } else { raw("null") }
        needsComma = true
    }

    @inline(__always)
    mutating func field(_ name: StaticString, _ value: String) {
        key(name)
        appendString(value)
        needsComma = true
    }

    /// A task's name: its bytes as they are when all ASCII (nearly always), else decoded as
    /// UTF-8 with invalid bytes replaced, as `CommBytes.string` does.
    mutating func field(_ name: StaticString, _ comm: CommBytes) {
        key(name)
        if (comm.low | comm.high) & 0x8080_8080_8080_8080 == 0 {
            withUnsafeBytes(of: (comm.low, comm.high)) { raw in
                let bytes = raw.bindMemory(to: UInt8.self)
                appendQuoted(UnsafeBufferPointer(rebasing: bytes[..<(bytes.firstIndex(of: 0) ?? bytes.count)]))
            }
        } else {
            appendString(comm.string)
        }
        needsComma = true
    }

    private mutating func integer(_ value: some BinaryInteger) {
        if value < 0 { append(UInt8(ascii: "-")) }
        var magnitude = UInt64(value.magnitude)
        guard reserve(20) else { return }
        var digits = 0
        var probe = magnitude
        repeat { digits += 1; probe /= 10 } while probe > 0
        for index in stride(from: digits - 1, through: 0, by: -1) {
            storage.storeBytes(of: UInt8(magnitude % 10) + UInt8(ascii: "0"), toByteOffset: count + index, as: UInt8.self)
            magnitude /= 10
        }
        count += digits
    }

    private mutating func appendString(_ value: String) {
        // Native strings (all of them on Linux) are read in place; others through a copy.
        if value.utf8.withContiguousStorageIfAvailable({ appendQuoted($0) }) == nil {
            Array(value.utf8).withUnsafeBufferPointer { appendQuoted($0) }
        }
    }

    /// Appends UTF-8 as a JSON string: quoted, escaped where JSON requires it.
    private mutating func appendQuoted(_ utf8: UnsafeBufferPointer<UInt8>) {
        guard reserve(utf8.count + 2) else { return }
        appendReserved(UInt8(ascii: "\""))
        var start = 0
        while let special = Self.firstEscaped(in: utf8, from: start) {
            append(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: utf8[start..<special])))
            escape(utf8[special])
            start = special + 1
        }
        append(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: utf8[start...])))
        append(UInt8(ascii: "\""))
    }

    private mutating func escape(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): raw("\\\"")
        case UInt8(ascii: "\\"): raw("\\\\")
        case UInt8(ascii: "\n"): raw("\\n")
        case UInt8(ascii: "\r"): raw("\\r")
        case UInt8(ascii: "\t"): raw("\\t")
        default:
            raw("\\u00")
            let hex: StaticString = "0123456789abcdef"
            append(hex.utf8Start[Int(byte >> 4)])
            append(hex.utf8Start[Int(byte & 0xF)])
        }
    }

    /// The index of the first byte at or after `start` that JSON requires escaped (a control
    /// character, `"` or `\\`), testing eight bytes per step.
    @inline(__always)
    private static func firstEscaped(in utf8: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        var index = start
        guard let raw = UnsafeRawPointer(utf8.baseAddress) else { return nil }
        while index + 8 <= utf8.count {
            let word = raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            // A byte is flagged if it is below 0x20, or equals '"' or '\\' (zero after XOR).
            let control = (word &- ones &* 0x20) & ~word
            let quote = word ^ (ones &* 0x22), backslash = word ^ (ones &* 0x5C)
            let flagged = (control | ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)) & highs
            if flagged != 0 { break }
            index += 8
        }
        while index < utf8.count {
            let byte = utf8[index]
            if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return index }
            index += 1
        }
        return nil
    }
}
