import CPrivileges

/// One Linux capability the agent names, numbered as in `<linux/capability.h>`.
public struct Capability: Hashable, Sendable, CustomStringConvertible {
    /// Its number: bit N of a capability set.
    public let number: Int
    /// `CAP_…`.
    public let name: String

    public static let netBindService = Capability(number: Int(CAP_NET_BIND_SERVICE), name: "CAP_NET_BIND_SERVICE")
    public static let sysPtrace = Capability(number: Int(CAP_SYS_PTRACE), name: "CAP_SYS_PTRACE")
    public static let sysAdmin = Capability(number: Int(CAP_SYS_ADMIN), name: "CAP_SYS_ADMIN")
    public static let perfmon = Capability(number: Int(CAP_PERFMON), name: "CAP_PERFMON")
    public static let bpf = Capability(number: Int(CAP_BPF), name: "CAP_BPF")

    /// Every capability the agent names.
    public static let named: [Capability] = [.netBindService, .sysPtrace, .sysAdmin, .perfmon, .bpf]

    public var description: String { name }
}

/// A set of capabilities as the kernel keeps one: bit N for capability N.
public struct CapabilitySet: Hashable, Sendable {
    /// The bits.
    public var mask: UInt64

    /// A set from its bits.
    public init(mask: UInt64) { self.mask = mask }

    /// The set of these capabilities.
    public init(_ capabilities: [Capability]) {
        mask = capabilities.reduce(0) { $0 | 1 << UInt64($1.number) }
    }

    /// The set a `/proc/PID/status` field holds (`CapEff:	0000008000200001`), or nil.
    public init?(statusHex field: Substring) {
        guard let mask = UInt64(field, radix: 16) else { return nil }
        self.mask = mask
    }

    /// Whether capability number `number` is in the set.
    public func contains(number: Int) -> Bool { (0..<64).contains(number) && mask & 1 << UInt64(number) != 0 }

    /// Whether `capability` is in the set.
    public func contains(_ capability: Capability) -> Bool { contains(number: capability.number) }

    /// The numbers in the set, lowest first.
    public var numbers: [Int] { (0..<64).filter { contains(number: $0) } }

    /// The set's capabilities by name (`cap_N` for one the agent does not name), lowest first.
    public var names: [String] {
        numbers.map { number in Capability.named.first { $0.number == number }?.name ?? "cap_\(number)" }
    }
}
