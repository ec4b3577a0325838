import CNetnsEvent
import NetnsCore

/// Renders the namespaces the agent tracks as the JSON array `GET /namespaces` returns.
///
/// One object per namespace, oldest first: `cookie`, `inum`, `state`, `createdAt`,
/// `discoveredAt`, `releasedAt`, `tornDownAt`, `freedAt` (RFC 3339 or null), `ageSeconds`,
/// `lifetimeSeconds` (creation or discovery to release, or to now), `discoveredBy`,
/// `creator` {`pid`, `comm`, `cgroupId`, `uid`, `ppid`, `cgroupPath`, `container`} or null,
/// `holder` (the task seen holding a discovered namespace) or null, `holders` (array of
/// {`kind`, `pid`, `comm`, `path`?, `fd`?}), `leak` ({`kind`, `since`} or null),
/// `refs` {`active`, `passive`} or null, and `setupResult`.
public enum NamespacesDocument {
    /// The Content-Type of the rendered document.
    public static let contentType = "application/json"

    /// Renders the namespaces of `snapshot`; `now` is the monotonic time ages and leaks are
    /// measured at.
    public static func render(_ snapshot: AgentState.Snapshot, clock: ClockMapping, now: UInt64, leakedOnly: Bool = false) -> String {
        let aggregator = snapshot.aggregator
        let records = aggregator.namespaces.values.filter {
            !leakedOnly || $0.leak(at: now, thresholds: aggregator.leakThresholds) != nil
        }.sorted {
            ($0.firstSeenAt ?? 0, $0.cookie) < ($1.firstSeenAt ?? 0, $1.cookie)
        }
        var output = "["
        output.reserveCapacity(records.count * 600 + 4)
        for (index, record) in records.enumerated() {
            var json = JSONWriter()
            write(record, to: &json, snapshot: snapshot, clock: clock, now: now)
            output += (index > 0 ? ",\n  " : "\n  ") + json.output
        }
        output += records.isEmpty ? "]\n" : "\n]\n"
        return output
    }

    private static func write(_ record: NamespaceRecord, to json: inout JSONWriter, snapshot: AgentState.Snapshot,
                              clock: ClockMapping, now: UInt64) {
        let time = { (monotonic: UInt64?) in monotonic.map { rfc3339(unixNanoseconds: clock.unixNanoseconds($0)) } }
        json.beginObject()
        json.field("cookie", record.cookie)
        json.field("inum", record.inum)
        json.field("state", record.state.rawValue)
        json.field("createdAt", time(record.createdAt))
        json.field("discoveredAt", time(record.discoveredAt))
        json.field("releasedAt", time(record.releasedAt))
        json.field("tornDownAt", time(record.tornDownAt))
        json.field("freedAt", time(record.freedAt))
        let start = record.firstSeenAt ?? now
        json.field("ageSeconds", seconds(from: start, to: record.freedAt ?? now))
        json.field("lifetimeSeconds", seconds(from: start, to: record.releasedAt ?? now))
        json.field("discoveredBy", discoveredBy(record))
        json.key("creator")
        writeCreator(record.creator, cgroupPath: record.creator.flatMap { snapshot.cgroupPaths[$0.cgroupID] }, to: &json)
        json.key("holder")
        writeTask(record.discoverySource == NETNS_SRC_DISCOVERY_LIST.rawValue ? nil : record.discoveredHolder, to: &json)
        json.key("holders")
        json.beginArray()
        for holder in record.holders {
            json.beginObject()
            json.field("kind", holder.kind.rawValue)
            json.field("pid", holder.pid)
            json.field("comm", holder.comm)
            if let path = holder.path { json.field("path", path) }
            if let fd = holder.fd { json.field("fd", fd) }
            json.endObject()
        }
        json.endArray()
        json.key("leak")
        if let leak = record.leak(at: now, thresholds: snapshot.aggregator.leakThresholds) {
            json.beginObject()
            json.field("kind", leak.kind.rawValue)
            json.field("since", time(leak.since))
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
        json.endObject()
    }

    private static func discoveredBy(_ record: NamespaceRecord) -> String? {
        guard record.createdAt == nil, let source = record.discoverySource else { return nil }
        switch source {
        case NETNS_SRC_DISCOVERY_TASK.rawValue: return "task"
        case NETNS_SRC_DISCOVERY_FILE.rawValue: return "file"
        case NETNS_SRC_DISCOVERY_LIST.rawValue: return "kernel-list"
        default: return "other"
        }
    }

    private static func writeCreator(_ task: TaskIdentity?, cgroupPath: String?, to json: inout JSONWriter) {
        guard let task else { return json.null() }
        json.beginObject()
        json.field("pid", task.pid)
        json.field("comm", task.comm)
        json.field("cgroupId", task.cgroupID)
        json.field("uid", task.uid)
        json.field("ppid", task.ppid)
        json.field("cgroupPath", cgroupPath)
        json.key("container")
        if let container = cgroupPath.flatMap(ContainerIdentity.parse(cgroupPath:)) {
            json.beginObject()
            json.field("runtime", container.runtime)
            json.field("id", container.containerID)
            json.field("podUid", container.podUID)
            json.endObject()
        } else {
            json.null()
        }
        json.endObject()
    }

    private static func writeTask(_ task: TaskIdentity?, to json: inout JSONWriter) {
        guard let task else { return json.null() }
        json.beginObject()
        json.field("pid", task.pid)
        json.field("comm", task.comm)
        json.field("cgroupId", task.cgroupID)
        json.endObject()
    }

    private static func seconds(from start: UInt64, to end: UInt64) -> Double {
        end > start ? Double(end - start) / 1_000_000_000 : 0
    }
}

/// A minimal, fast JSON writer: objects are written field by field, commas handled here.
struct JSONWriter {
    var output = ""
    private var needsComma = false

    mutating func beginObject() {
        if needsComma { output += "," }
        output += "{"
        needsComma = false
    }
    mutating func beginArray() { output += "["; needsComma = false }
    mutating func endArray() { output += "]"; needsComma = true }
    mutating func endObject() { output += "}"; needsComma = true }
    mutating func null() { output += "null"; needsComma = true }

    mutating func key(_ name: String) {
        if needsComma { output += "," }
        output += "\"\(name)\":"
        needsComma = false
    }

    mutating func field(_ name: String, _ value: (some BinaryInteger)?) {
        key(name)
        if let value { output += String(value) } else { output += "null" }
        needsComma = true
    }

    mutating func field(_ name: String, _ value: Double) {
        key(name)
        output += value.isFinite ? String((value * 1000).rounded() / 1000) : "null"
        needsComma = true
    }

    mutating func field(_ name: String, _ value: String?) {
        key(name)
        if let value { appendString(value) } else { output += "null" }
        needsComma = true
    }

    private mutating func appendString(_ value: String) {
        output += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }
}
