/// A kind of namespace leak.
public enum LeakKind: String, Sendable, CaseIterable, Hashable {
    /// Alive, but no task has had it as its namespace for longer than the threshold: held only
    /// by a bind mount, a descriptor, a socket, or the kernel.
    case orphaned
    /// Released, but its teardown has not finished for longer than the threshold (the
    /// "unregister_netdevice: waiting for lo to become free" outage).
    case stuckTeardown = "stuck_teardown"
    /// Torn down, but passive references have kept its memory for longer than the threshold.
    case zombie
}

/// A namespace found leaking: what kind, and since when (CLOCK_MONOTONIC nanoseconds).
public struct Leak: Sendable, Hashable {
    /// The kind.
    public var kind: LeakKind
    /// When the leaking condition began (the threshold counts from here).
    public var since: UInt64

    /// Creates a leak.
    public init(kind: LeakKind, since: UInt64) {
        self.kind = kind
        self.since = since
    }
}

/// How long each condition must last before it is a leak.
public struct LeakThresholds: Sendable, Hashable {
    /// Alive with no task inside, in nanoseconds.
    public var orphaned: UInt64
    /// Released without its teardown finishing, in nanoseconds.
    public var stuckTeardown: UInt64
    /// Torn down without its memory being freed, in nanoseconds.
    public var zombie: UInt64

    /// Creates thresholds; the defaults suit container hosts, where a pod's namespace is
    /// normally gone within seconds of its last process.
    public init(orphaned: UInt64 = 120_000_000_000, stuckTeardown: UInt64 = 60_000_000_000, zombie: UInt64 = 60_000_000_000) {
        self.orphaned = orphaned
        self.stuckTeardown = stuckTeardown
        self.zombie = zombie
    }

    /// How long a condition of `kind` must last.
    public func threshold(_ kind: LeakKind) -> UInt64 {
        switch kind {
        case .orphaned: orphaned
        case .stuckTeardown: stuckTeardown
        case .zombie: zombie
        }
    }
}

extension NamespaceRecord {
    /// The leak this namespace shows at `now`, if any.
    public func leak(at now: UInt64, thresholds: LeakThresholds) -> Leak? {
        switch state {
        case .freed:
            return nil
        case .alive:
            guard !isHost, let since = tasklessSince, now >= since, now - since >= thresholds.orphaned else { return nil }
            return Leak(kind: .orphaned, since: since)
        case .dying:
            if let tornDown = tornDownAt {
                guard now >= tornDown, now - tornDown >= thresholds.zombie else { return nil }
                return Leak(kind: .zombie, since: tornDown)
            }
            guard let released = releasedAt, now >= released, now - released >= thresholds.stuckTeardown else { return nil }
            return Leak(kind: .stuckTeardown, since: released)
        }
    }
}
