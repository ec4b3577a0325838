/// When the agent's periodic refresh runs, when it re-reads every followed namespace, and when
/// it reconciles its view with the kernel side's after lost events.
///
/// The agent wakes every refresh interval (a tick). While events arrive it refreshes at every
/// tick; once `quietRefreshesBeforeIdle` refreshes in a row came after no new event (no
/// namespace made, found, released, torn down or freed: the agent does not count refcount
/// changes, which every socket makes), it refreshes only every `ticksPerIdleRefresh`th tick,
/// until the next event. Never while a namespace is dying: a zombie's free (torn down, its
/// memory held by passive references) is seen only by a refresh re-reading it. A refresh costs what the host has (each namespace on the kernel's
/// list re-read), and a host whose namespaces neither come nor go gains little from
/// re-reading their counts every tick.
public struct RefreshSchedule: Sendable, Equatable {
    /// One refresh in this many re-reads every followed namespace, not only those the kernel
    /// lists (30 s at the default interval, while events arrive; five times that when idle):
    /// a safety net under the kernel side's shortcuts.
    public static let refreshesPerFullRefresh = 15
    /// Refreshes after the one that followed the last event, before the schedule slows to the
    /// idle pace.
    public static let quietRefreshesBeforeIdle = 3

    /// Ticks between refreshes at the idle pace (1: every tick, always).
    public let ticksPerIdleRefresh: Int
    private var refreshes = 0
    private var quietRefreshes = 0
    private var ticksSinceRefresh = 0
    private var eventsSeen: UInt64 = 0
    private var reconciledThroughLosses: UInt64 = 0

    /// A schedule before the first tick, slowing to one refresh in `ticksPerIdleRefresh` ticks
    /// when idle.
    public init(ticksPerIdleRefresh: Int = 1) {
        self.ticksPerIdleRefresh = max(1, ticksPerIdleRefresh)
    }

    /// The ticks per idle refresh for these intervals: their ratio, rounded up (an idle
    /// refresh never comes sooner than asked), at least 1.
    public static func ticks(idle: Duration, interval: Duration) -> Int {
        guard interval > .zero else { return 1 }
        return max(1, Int(min((idle / interval).rounded(.up), 1e9)))
    }

    /// Counts a tick, given the events the agent has received since it started and whether
    /// any namespace is dying; true if a refresh is due now.
    public mutating func tick(eventsReceived: UInt64, namespacesDying: Bool = false) -> Bool {
        ticksSinceRefresh += 1
        if eventsReceived != eventsSeen || namespacesDying {
            eventsSeen = eventsReceived
            quietRefreshes = 0
            ticksSinceRefresh = 0
            return true
        }
        guard quietRefreshes < Self.quietRefreshesBeforeIdle || ticksSinceRefresh >= ticksPerIdleRefresh else {
            return false
        }
        quietRefreshes += 1
        ticksSinceRefresh = 0
        return true
    }

    /// Counts a refresh; true if this one is full.
    public mutating func nextRefreshIsFull() -> Bool {
        refreshes += 1
        return refreshes % Self.refreshesPerFullRefresh == 0
    }

    /// Whether events were lost since the last reconciliation that settled every namespace.
    /// (Lost creations need none: the kernel side reports them at its next scan.)
    public func needsReconciliation(_ statistics: ProbeStatistics) -> Bool {
        statistics.eventsLost > reconciledThroughLosses
    }

    /// Records a reconciliation that settled every namespace the agent held when `statistics`
    /// were read; one that left some undecided is not recorded, and the next refresh retries.
    public mutating func reconciled(through statistics: ProbeStatistics) {
        reconciledThroughLosses = max(reconciledThroughLosses, statistics.eventsLost)
    }
}
