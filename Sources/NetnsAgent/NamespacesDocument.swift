import NetnsCore

/// Renders the namespaces the agent tracks as the JSON array `GET /namespaces` returns.
///
/// One object per namespace, oldest first: `cookie`, `inum`, `state`, `createdAt`,
/// `discoveredAt`, `releasedAt`, `freedAt` (RFC 3339 or null), `ageSeconds`,
/// `lifetimeSeconds` (creation or discovery to release, or to now), `creator`
/// {`pid`, `comm`, `cgroupId`} or null, `holder` (the task seen holding a discovered
/// namespace) or null, `refs` {`active`, `passive`} or null, and `setupResult`.
public enum NamespacesDocument {
    /// The Content-Type of the rendered document.
    public static let contentType = "application/json"

    /// Renders `aggregator`'s namespaces; `now` is the monotonic time ages are measured to.
    public static func render(_ aggregator: Aggregator, clock: ClockMapping, now: UInt64) -> String {
        let records = aggregator.namespaces.values.sorted {
            ($0.firstSeenAt ?? 0, $0.cookie) < ($1.firstSeenAt ?? 0, $1.cookie)
        }
        var json = JSONWriter()
        json.output.reserveCapacity(records.count * 400 + 2)
        json.output += "["
        for (index, record) in records.enumerated() {
            if index > 0 { json.output += "," }
            json.output += "\n  "
            write(record, to: &json, clock: clock, now: now)
        }
        json.output += records.isEmpty ? "]\n" : "\n]\n"
        return json.output
    }

    private static func write(_ record: NamespaceRecord, to json: inout JSONWriter, clock: ClockMapping, now: UInt64) {
        json.beginObject()
        json.field("cookie", record.cookie)
        json.field("inum", record.inum)
        json.field("state", record.state.rawValue)
        json.field("createdAt", record.createdAt.map { rfc3339(unixNanoseconds: clock.unixNanoseconds($0)) })
        json.field("discoveredAt", record.discoveredAt.map { rfc3339(unixNanoseconds: clock.unixNanoseconds($0)) })
        json.field("releasedAt", record.releasedAt.map { rfc3339(unixNanoseconds: clock.unixNanoseconds($0)) })
        json.field("freedAt", record.freedAt.map { rfc3339(unixNanoseconds: clock.unixNanoseconds($0)) })
        let start = record.firstSeenAt ?? now
        json.field("ageSeconds", seconds(from: start, to: record.freedAt ?? now))
        json.field("lifetimeSeconds", seconds(from: start, to: record.releasedAt ?? now))
        json.key("creator")
        writeTask(record.creator, to: &json)
        json.key("holder")
        writeTask(record.discoveredHolder, to: &json)
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

    mutating func beginObject() { output += "{"; needsComma = false }
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
