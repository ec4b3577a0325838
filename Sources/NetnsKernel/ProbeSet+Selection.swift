/// No probe set of those a mode allows could be loaded and attached.
public struct NoProbeSetError: Error, CustomStringConvertible {
    /// The mode asked for.
    public var mode: ProbeMode
    /// Why each candidate failed, in the order tried.
    public var failures: [ProbeSetError]

    public var description: String {
        let reasons = failures.map(\.description).joined(separator: "; ")
        return "no probe set could be attached (--probes \(mode)): \(reasons)"
    }
}

extension ProbeSet {
    /// Loads the first probe set of `mode` that loads and attaches, telling `skipped` why
    /// each earlier one was passed over.
    public static func attachFirst(
        of mode: ProbeMode, limits: ProbeLimits, skipped: (ProbeSetError) -> Void
    ) throws(NoProbeSetError) -> ProbeSet {
        var failures: [ProbeSetError] = []
        for kind in mode.candidates {
            do {
                return try ProbeSet(kind: kind, limits: limits)
            } catch {
                failures.append(error)
                skipped(error)
            }
        }
        throw NoProbeSetError(mode: mode, failures: failures)
    }
}
