/// When the agent's periodic refresh re-reads every followed namespace, and when it reconciles
/// its view with the kernel side's after lost events.
public struct RefreshSchedule: Sendable, Equatable {
    /// One refresh in this many re-reads every followed namespace, not only those the kernel
    /// lists (30 s at the default interval): a safety net under the kernel side's shortcuts.
    public static let refreshesPerFullRefresh = 15

    private var refreshes = 0
    private var reconciledThroughLosses: UInt64 = 0

    /// A schedule before the first refresh.
    public init() {}

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
