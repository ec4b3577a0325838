import Foundation
import NetnsAgent
import NetnsClient
import NetnsCore
import NetnsExposition
import NetnsKernel
import Testing

/// A probe set as the agent runs it: the contract tests run once for each one this kernel
/// attaches, found when the tests start (and printed), so they run unchanged on any host and
/// never assume which sets it has.
///
/// `NETNS_TEST_PROBES` (a comma-separated list of `description`s, e.g. `fentry` or
/// `tracepoint+syscall-hooks`) narrows them: the kernel matrix runs the suite once per set.
/// A configuration named there that this kernel does not attach is still run, and fails.
struct ProbeConfiguration: Sendable, Hashable, CustomStringConvertible, CustomTestStringConvertible {
    var kind: ProbeSetKind
    /// `--syscall-hooks` (meaningful for the tracepoint set only).
    var syscallHooks: Bool

    /// The agent's command-line arguments for it.
    var arguments: [String] { ["--probes", kind.rawValue, syscallHooks ? "--syscall-hooks" : "--no-syscall-hooks"] }

    /// Whether it sees unshare (and so each creator and every refused creation): only the
    /// tracepoint set without its syscall hooks does not.
    var seesUnshare: Bool { kind != .tracepoint || syscallHooks }

    var description: String { kind == .tracepoint && syscallHooks ? "tracepoint+syscall-hooks" : kind.rawValue }
    var testDescription: String { description }

    /// The sets this kernel loads and attaches, in the order `--probes auto` tries them.
    static let attachable: [ProbeSetKind] = {
        guard geteuid() == 0 else { return [] }
        let found = ProbeSetKind.allCases.filter { kind in
            guard let set = try? ProbeSet(kind: kind, limits: ProbeLimits(ringBufferBytes: 1 << 16, trackedNamespaces: 64))
            else { return false }
            set.detach()
            return true
        }
        print("probe sets this kernel attaches: \(found.map(\.rawValue).joined(separator: ", "))")
        return found
    }()

    /// The sets the contract tests run on: those `NETNS_TEST_PROBES` names (attached or not:
    /// one that is not fails its tests), or else every attachable one; never none (a test with
    /// no case would pass silently): with nothing attachable, the tracepoint set, whose tests
    /// then fail saying why.
    static let underTest: [ProbeSetKind] = {
        if let names = ProcessInfo.processInfo.environment["NETNS_TEST_PROBES"], !names.isEmpty {
            return names.split(separator: ",").compactMap { ProbeSetKind(rawValue: $0.trimmingCharacters(in: .whitespaces)) }
        }
        return attachable.isEmpty ? [.tracepoint] : attachable
    }()

    /// One configuration per set under test (the tracepoint set with its syscall hooks: it
    /// then sees what the function sets see).
    static var eachSet: [ProbeConfiguration] {
        underTest.map { ProbeConfiguration(kind: $0, syscallHooks: $0 == .tracepoint) }
    }

    /// `eachSet`, and the tracepoint set as it runs by default, without its syscall hooks.
    static var everyConfiguration: [ProbeConfiguration] {
        underTest.flatMap { kind in
            kind == .tracepoint ? [ProbeConfiguration(kind: kind, syscallHooks: true), ProbeConfiguration(kind: kind, syscallHooks: false)]
                                : [ProbeConfiguration(kind: kind, syscallHooks: false)]
        }
    }
}
