import FoundationEssentials

/// One namespace as `GET /namespaces` describes it (the fields `list` shows).
public struct NamespaceSummary: Decodable, Sendable, Hashable {
    /// A task as the document describes it.
    public struct Task: Decodable, Sendable, Hashable {
        public var pid: UInt32
        public var comm: String
        public var cgroupId: UInt64
        public var uid: UInt32?
        public var cgroupPath: String?
        public var container: Container?
    }
    /// A creator's container.
    public struct Container: Decodable, Sendable, Hashable {
        public var runtime: String
        public var id: String?
        public var podUid: String?
    }
    /// A holder as the document describes it.
    public struct HolderSummary: Decodable, Sendable, Hashable {
        public var kind: String
        public var pid: UInt32
        public var comm: String
        public var path: String?
        public var fd: Int32?
    }
    /// A leak as the document describes it.
    public struct LeakSummary: Decodable, Sendable, Hashable {
        public var kind: String
        public var since: String?
    }
    /// Refcounts as the document describes them.
    public struct Refs: Decodable, Sendable, Hashable {
        public var active: Int32
        public var passive: Int32
    }

    /// What a teardown was seen waiting for.
    public struct TeardownSummary: Decodable, Sendable, Hashable {
        public struct WaitingFor: Decodable, Sendable, Hashable {
            public var device: String
            public var usageCount: Int32
            public var since: String?
            public var lastSeen: String?
            public var source: String
        }

        public var waitingFor: WaitingFor?
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
    public var holders: [HolderSummary]?
    public var leak: LeakSummary?
    public var discoveredBy: String?
    public var refs: Refs?
    public var createdAtEstimated: Bool?
    public var createdAfter: String?
    public var teardown: TeardownSummary?
    public var nsId: UInt64?

    /// Whether `id` names this namespace: its nsId, cookie or inode number.
    public func isNamed(by id: UInt64) -> Bool {
        nsId == id || cookie == id || UInt64(inum) == id
    }

    /// Decodes the whole document.
    public static func decodeList(_ json: String) throws -> [NamespaceSummary] {
        try JSONDecoder().decode([NamespaceSummary].self, from: Data(json.utf8))
    }
}

/// Renders namespaces as an aligned text table for people.
public enum NamespaceTable {
    /// The table, with a header line; freed namespaces are left out unless `includeFreed`,
    /// and only leaking ones are shown with `leakedOnly`.
    public static func render(_ namespaces: [NamespaceSummary], includeFreed: Bool = false, leakedOnly: Bool = false) -> String {
        let shown = namespaces.filter { (includeFreed || $0.state != "freed") && (!leakedOnly || $0.leak != nil) }
        var rows = [["INUM", "STATE", "AGE", "ACTIVE", "PASSIVE", "LEAK", "HOLDERS", "CREATOR"]]
        for namespace in shown {
            let creator: String
            if let task = namespace.creator {
                let container = task.container.map { " " + ($0.id.map { String($0.prefix(12)) } ?? $0.podUid.map { "pod \($0)" } ?? $0.runtime) } ?? ""
                creator = "\(task.comm)[\(task.pid)]\(container)"
            } else if namespace.createdAt != nil {
                // Made while the agent ran, but no creation hook saw it: how it was found, and
                // the task found holding it, if any (not guessed to be the creator).
                let holder = namespace.holder.map { " \($0.comm)[\($0.pid)]" } ?? ""
                creator = "(unseen; found by \(namespace.discoveredBy ?? "a scan")\(holder))"
            } else if namespace.discoveredBy == "kernel-list" {
                creator = "(before agent; kernel only)"
            } else if namespace.discoveredBy == "listns" {
                creator = "(before agent; held out of sight)"
            } else {
                creator = "(before agent)"
            }
            rows.append([
                String(namespace.inum), namespace.state, duration(namespace.ageSeconds),
                namespace.refs.map { String($0.active) } ?? "-",
                namespace.refs.map { String($0.passive) } ?? "-",
                namespace.leak.map { leak in
                    // A stuck teardown names the device it waits for: `stuck_teardown:lo`.
                    let device = leak.kind == "stuck_teardown" ? namespace.teardown?.waitingFor?.device : nil
                    return leak.kind + (device.map { ":\($0)" } ?? "")
                } ?? "-",
                holderSummary(namespace.holders ?? []),
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

    /// Holders in a few words: `task:sleep[42] mount:/run/netns/blue +2`.
    static func holderSummary(_ holders: [NamespaceSummary.HolderSummary]) -> String {
        guard !holders.isEmpty else { return "-" }
        let described = holders.prefix(2).map { holder in
            switch holder.kind {
            case "mount": "mount:\(holder.path ?? "?")"
            default: "\(holder.kind):\(holder.comm)[\(holder.pid)]"
            }
        }
        return described.joined(separator: ",") + (holders.count > 2 ? " +\(holders.count - 2)" : "")
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
