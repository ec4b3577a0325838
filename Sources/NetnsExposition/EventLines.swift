import FoundationEssentials
import NetnsCore
import NIOCore

/// Renders lifecycle events as the newline-delimited JSON of `GET /events` and
/// `--events-file`: one object per line, in the order the agent learnt them.
///
/// Fields: `time` (RFC 3339, when it happened), `event` (`created`, `setup_failed`,
/// `released`, `torn_down`, `freed`, `discovered`, `leak_started`, `leak_ended`,
/// `teardown_waiting`), `cookie`
/// and `inum` (0 for `setup_failed`: no namespace was made), `creator` ({`pid`, `comm`,
/// `cgroupId`, `uid`, `ppid`, `cgroupPath`, `container`} as in `/namespaces`, or null when no
/// creation hook saw it), `durationSeconds` (how long the stage it ends lasted: creation to
/// release for `released`, release to then for `torn_down` and `freed`, the leaking
/// condition for `leak_ended`; null otherwise or when unknown), `result` (the error of a
/// `setup_failed`, a negative errno; null otherwise), `leak` (the kind of a
/// `leak_started` or `leak_ended`: `orphaned`, `stuck_teardown` or `zombie`; null otherwise),
/// `device` and `usageCount` (what a `teardown_waiting` namespace waits for; null otherwise),
/// and `nsId` (the kernel's id of the namespace where its ids are the cookies, 6.18 and later;
/// null before, and for `setup_failed`).
public enum EventLines {
    /// The Content-Type of the stream.
    public static let contentType = "application/x-ndjson"

    /// The lines of `events`, each ending in a newline; `cgroups` names creators' cgroups.
    public static func render(_ events: [LifecycleEvent], cgroups: [UInt64: CgroupInfo], clock: ClockMapping,
                              nsIds: Bool = false) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(events.count * 384)
        for event in events { buffer.writeBytes(line(event, cgroups: cgroups, clock: clock, nsIds: nsIds)) }
        return buffer
    }

    /// One event's line, newline included.
    public static func line(_ event: LifecycleEvent, cgroups: [UInt64: CgroupInfo], clock: ClockMapping,
                            nsIds: Bool = false) -> [UInt8] {
        var capacity = 512
        while true {
            var fits = false
            let bytes = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                var json = JSONWriter(into: UnsafeMutableRawBufferPointer(buffer))
                write(event, cgroups: cgroups, clock: clock, nsIds: nsIds, to: &json)
                json.raw("\n")
                fits = !json.overflowed
                count = fits ? json.count : 0
            }
            if fits { return bytes }
            capacity *= 2
        }
    }

    private static func write(_ event: LifecycleEvent, cgroups: [UInt64: CgroupInfo], clock: ClockMapping, nsIds: Bool,
                              to json: inout JSONWriter) {
        json.beginObject()
        json.time("time", event.timestamp, clock: clock)
        json.field("event", event.kind.rawValue)
        json.field("cookie", event.cookie)
        json.field("inum", event.inum)
        json.key("creator")
        if let task = event.creator {
            json.beginObject()
            NamespacesDocument.writeCreatorFields(task, to: &json)
            NamespacesDocument.writeCgroup(cgroups[task.cgroupID], to: &json)
            json.endObject()
        } else {
            json.null()
        }
        if let duration = event.duration {
            json.field("durationSeconds", Double(duration) / 1_000_000_000)
        } else {
            json.key("durationSeconds")
            json.null()
        }
        json.field("result", event.result)
        json.field("leak", event.leak?.rawValue)
        json.field("device", event.device)
        json.field("usageCount", event.usageCount)
        json.field("nsId", nsIds && event.cookie != 0 ? event.cookie : nil)
        json.endObject()
    }
}

/// One line of the event stream, as `netns-tracer trace` reads it.
public struct EventSummary: Decodable, Sendable, Hashable {
    public var time: String?
    public var event: String
    public var cookie: UInt64
    public var inum: UInt32
    public var creator: NamespaceSummary.Task?
    public var durationSeconds: Double?
    public var result: Int32?
    public var leak: String?
    public var device: String?
    public var usageCount: Int32?
    public var nsId: UInt64?

    /// Whether `id` names the namespace of this event: its nsId, cookie or inode number.
    public func isNamed(by id: UInt64) -> Bool {
        id != 0 && (nsId == id || cookie == id || UInt64(inum) == id)
    }

    /// Reads one line of the stream.
    public static func decode(line: String) throws -> EventSummary {
        try JSONDecoder().decode(EventSummary.self, from: Data(line.utf8))
    }
}

extension EventLines {
    /// The column titles of `trace`'s lines.
    public static let header = columns("TIME", "EVENT", "INUM", "PID", "COMM", "DURATION", "CONTAINER")

    /// One event as `trace` prints it, in the columns of `header`: the time of day (UTC), what
    /// happened, the namespace's inode number, its creator's pid and command (`-` when no
    /// creation hook saw it), how long the stage it ends lasted, and the creator's container
    /// and pod (or, for a failed creation, the error), after the kind of a leak event's leak.
    public static func readable(_ event: EventSummary) -> String {
        let time = event.time.map { time in
            let clock = time.split(separator: "T").last.map(String.init) ?? time
            return clock.hasSuffix("Z") ? String(clock.dropLast()) : clock
        } ?? "-"
        let duration = event.durationSeconds.map(Self.duration) ?? "-"
        var context = "-"
        if let result = event.result {
            context = "error \(result)"
        } else if let container = event.creator?.container {
            context = "\(container.runtime)" + (container.id.map { ":\($0.prefix(12))" } ?? "")
                + (container.podUid.map { " pod \($0)" } ?? "")
        }
        if let leak = event.leak { context = context == "-" ? leak : "\(leak) \(context)" }
        if let device = event.device {
            let wait = "waiting for \(device) (usage count \(event.usageCount.map(String.init) ?? "?"))"
            context = context == "-" ? wait : "\(wait) \(context)"
        }
        return columns(time, event.event, event.inum == 0 ? "-" : "\(event.inum)",
                       event.creator.map { "\($0.pid)" } ?? "-", event.creator?.comm ?? "-", duration, context)
    }

    private static func columns(_ time: String, _ event: String, _ inum: String, _ pid: String, _ comm: String,
                                _ duration: String, _ context: String) -> String {
        pad(time, 13) + pad(event, 13) + pad(inum, 11) + pad(pid, 8) + pad(comm, 17) + pad(duration, 11) + context
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    /// Seconds as `850ms`, `12.345s` or `3h25m`.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "-" }
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        if seconds < 3600 {
            let milliseconds = Int((seconds * 1000).rounded())
            let fraction = String(milliseconds % 1000)
            return "\(milliseconds / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)s"
        }
        let minutes = Int(seconds / 60)
        return "\(minutes / 60)h\(minutes % 60)m"
    }
}
