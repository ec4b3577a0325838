import FoundationEssentials

/// One namespace as `GET /namespaces` describes it (the fields `list` shows).
public struct NamespaceSummary: Decodable, Sendable, Hashable {
    /// A task as the document describes it.
    public struct Task: Decodable, Sendable, Hashable {
        public var pid: UInt32
        public var comm: String
        public var cgroupId: UInt64
    }
    /// Refcounts as the document describes them.
    public struct Refs: Decodable, Sendable, Hashable {
        public var active: Int32
        public var passive: Int32
    }

    public var cookie: UInt64
    public var inum: UInt32
    public var state: String
    public var createdAt: String?
    public var discoveredAt: String?
    public var releasedAt: String?
    public var freedAt: String?
    public var ageSeconds: Double
    public var creator: Task?
    public var holder: Task?
    public var refs: Refs?

    /// Decodes the whole document.
    public static func decodeList(_ json: String) throws -> [NamespaceSummary] {
        try JSONDecoder().decode([NamespaceSummary].self, from: Data(json.utf8))
    }
}

/// Renders namespaces as an aligned text table for people.
public enum NamespaceTable {
    /// The table, with a header line; freed namespaces are left out unless `includeFreed`.
    public static func render(_ namespaces: [NamespaceSummary], includeFreed: Bool = false) -> String {
        let shown = namespaces.filter { includeFreed || $0.state != "freed" }
        var rows = [["INUM", "STATE", "AGE", "ACTIVE", "PASSIVE", "CREATOR"]]
        for namespace in shown {
            let creator: String
            if let task = namespace.creator {
                creator = "\(task.comm)[\(task.pid)]"
            } else if let holder = namespace.holder {
                creator = "(before agent; held by \(holder.comm)[\(holder.pid)])"
            } else {
                creator = "(before agent)"
            }
            rows.append([
                String(namespace.inum), namespace.state, duration(namespace.ageSeconds),
                namespace.refs.map { String($0.active) } ?? "-",
                namespace.refs.map { String($0.passive) } ?? "-",
                creator,
            ])
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        var output = ""
        for row in rows {
            let cells = row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count)
            }
            output += cells.joined(separator: "  ") + "\n"
        }
        return output
    }

    /// A short human duration: 45s, 12m03s, 5h07m, 3d04h.
    public static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded(.down))
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : String(value) }
        switch total {
        case ..<60: return "\(total)s"
        case ..<3600: return "\(total / 60)m\(two(total % 60))s"
        case ..<86_400: return "\(total / 3600)h\(two(total / 60 % 60))m"
        default: return "\(total / 86_400)d\(two(total / 3600 % 24))h"
        }
    }
}
