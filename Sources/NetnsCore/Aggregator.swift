import CNetnsEvent

/// Reconstructs namespace lifetimes from the kernel's events.
///
/// A pure, deterministic state machine: events in, records and counters out; it reads no
/// clock and does no I/O. Events may arrive out of order (the ring buffer is filled from
/// every CPU), may be about namespaces created before the agent started, and may repeat;
/// each fact is counted once, when first seen, whatever the order.
public struct Aggregator: Sendable {
    /// Limits that keep memory bounded however long the agent runs.
    public struct Limits: Sendable, Hashable {
        /// How many freed namespaces to keep as history (oldest dropped first).
        public var freedHistory: Int
        /// How many setup results to hold for namespaces whose creation is not seen yet.
        public var pendingSetups: Int
        /// How many alive and dying namespaces to hold; events about a new one beyond that are
        /// dropped and counted (the kernel side follows at most as many, so this is reached
        /// only through namespaces it could not follow).
        public var liveNamespaces: Int

        /// Creates limits.
        public init(freedHistory: Int = 1024, pendingSetups: Int = 1024, liveNamespaces: Int = 1 << 20) {
            self.freedHistory = freedHistory
            self.pendingSetups = pendingSetups
            self.liveNamespaces = liveNamespaces
        }
    }

    /// Totals since the agent started.
    public struct Counters: Sendable, Hashable {
        /// Namespaces whose creation was seen.
        public var created: UInt64 = 0
        /// Attempts to create a namespace that failed.
        public var setupFailures: UInt64 = 0
        /// Namespaces whose last active reference was seen dropped.
        public var released: UInt64 = 0
        /// Namespaces whose memory was seen released.
        public var freed: UInt64 = 0
        /// Namespaces found by discovery (older than the agent).
        public var discovered: UInt64 = 0
        /// cleanup_net batches seen to end.
        public var cleanupBatches: UInt64 = 0
        /// Events by kind.
        public var eventsByKind = KindCounts()
        /// Events that named no namespace although their kind needs one (cookie 0).
        public var invalidEvents: UInt64 = 0
        /// Freed namespaces dropped from the history to respect `Limits.freedHistory`.
        public var historyEvictions: UInt64 = 0
        /// Holder scans applied.
        public var holderScans: UInt64 = 0
        /// Namespaces reported freed by a reconciliation, their own events having been lost.
        public var reconciled: UInt64 = 0
        /// Events about a new namespace dropped because `Limits.liveNamespaces` were held.
        public var capacityDrops: UInt64 = 0
        /// Namespaces the kernel side saw live and die while it could send nothing (the ring
        /// buffer full): included in `created`, `released` and `freed`, with no record.
        public var unreported: UInt64 = 0
        /// Device waits seen ("unregister_netdevice: waiting for DEV to become free").
        public var deviceWaits: UInt64 = 0
        /// Of those, the ones seen while no namespace was stuck in teardown: a device
        /// unregistered outside a namespace's cleanup (`ip link del`), or a teardown already over.
        public var deviceWaitsUnattributed: UInt64 = 0
    }

    /// The limits this aggregator keeps to.
    public let limits: Limits
    /// How long each leaking condition must last to count as a leak.
    public let leakThresholds: LeakThresholds
    /// Every namespace known, alive, dying or recently freed, by cookie.
    public private(set) var namespaces = NamespaceTable()
    /// Totals since the agent started.
    public private(set) var counters = Counters()
    /// Number of namespaces in each state, kept as records change.
    private var stateCounts = (alive: 0, dying: 0, freed: 0)
    /// Seconds from creation to release, for namespaces whose creation was seen.
    public private(set) var lifetimes = Histogram(upperBounds: Histogram.lifetimeBounds)
    /// Seconds each cleanup_net batch ran.
    public private(set) var cleanupDurations = Histogram(upperBounds: Histogram.cleanupBounds)
    /// The newest event timestamp seen: the aggregator's notion of "now".
    public private(set) var latestTimestamp: UInt64 = 0

    /// The lifecycle events made while `applyCapturingLifecycle` runs.
    private var lifecycle: [LifecycleEvent] = []
    /// The leaks `leakTransitions(at:)` last found, by cookie.
    private var knownLeaks: [UInt64: Leak] = [:]
    /// What each stuck namespace's teardown was seen waiting for (`apply(_: DeviceWait)`).
    private var waitingFor: [UInt64: TeardownWaitingFor] = [:]

    private var freedOrder = FIFOQueue<UInt64>()
    private var pendingSetups: [UInt64: Int32] = [:]
    private var pendingSetupOrder = FIFOQueue<UInt64>()
    private var cleanupStartedAt: UInt64?

    /// Creates an empty aggregator.
    public init(limits: Limits = Limits(), leakThresholds: LeakThresholds = LeakThresholds()) {
        self.limits = limits
        self.leakThresholds = leakThresholds
    }

    /// Event counts by kind, in a fixed array (the ingest path touches it for every event).
    /// Inline storage, not an array: no uniqueness check and no indirection per event.
    public struct KindCounts: Sendable, Hashable {
        private var counts = InlineArray<16, UInt64>(repeating: 0)

        /// The count for `kind`.
        public subscript(kind: NetnsEvent.Kind) -> UInt64 {
            get { counts[Int(kind.rawValue) & 15] }
            set { counts[Int(kind.rawValue) & 15] = newValue }
        }

        public static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.counts.indices.allSatisfy { lhs.counts[$0] == rhs.counts[$0] }
        }

        public func hash(into hasher: inout Hasher) {
            for index in counts.indices { hasher.combine(counts[index]) }
        }
    }

    /// The number of namespaces in `state`.
    public func count(_ state: NamespaceState) -> Int {
        switch state {
        case .alive: stateCounts.alive
        case .dying: stateCounts.dying
        case .freed: stateCounts.freed
        }
    }

    /// Adds `delta` to the count of `state` (a fixed tuple: no hashing on the ingest path).
    private mutating func adjustCount(_ state: NamespaceState, by delta: Int) {
        switch state {
        case .alive: stateCounts.alive += delta
        case .dying: stateCounts.dying += delta
        case .freed: stateCounts.freed += delta
        }
    }

    /// What brings this aggregator in line with the kernel side after events were lost (see
    /// `reconciliation(followed:at:settledBefore:)`).
    public struct Reconciliation: Sendable {
        /// A release (if it was alive) and a free for every namespace freed unseen.
        public var events: [NetnsEvent] = []
        /// Namespaces the kernel side does not follow but that were first seen too recently
        /// to judge: a later reconciliation must look at them again.
        public var undecided = 0
    }

    /// Brings this aggregator in line with the kernel side after events were lost: every
    /// namespace it holds alive or dying that the kernel no longer follows (`followed`, by
    /// cookie) was freed unseen, and gets a release (if it was alive) and a free at
    /// `timestamp`. Namespaces first seen at or after `settledBefore` (the moment the kernel
    /// side's map was read) are left undecided: the map may not have held them yet.
    public func reconciliation(followed: Set<UInt64>, at timestamp: UInt64, settledBefore: UInt64) -> Reconciliation {
        var result = Reconciliation()
        for record in namespaces.values where record.state != .freed && !followed.contains(record.cookie) {
            guard (record.firstSeenAt ?? record.releasedAt ?? 0) < settledBefore else {
                result.undecided += 1
                continue
            }
            if record.state == .alive {
                result.events.append(NetnsEvent(kind: .released, timestamp: timestamp, cookie: record.cookie,
                                                inum: record.inum, source: NETNS_SRC_RECONCILE.rawValue))
            }
            result.events.append(NetnsEvent(kind: .freed, timestamp: timestamp, cookie: record.cookie,
                                            inum: record.inum, source: NETNS_SRC_RECONCILE.rawValue))
        }
        return result
    }

    /// Takes in the kernel side's running count of namespaces that lived and died while it
    /// could send nothing about them: each new one counts as created, released and freed (its
    /// creator and lifetime unknown). A count lower than the last one (a restarted kernel
    /// side) is ignored.
    public mutating func countUnreported(total: UInt64) {
        guard total > counters.unreported else { return }
        let new = total - counters.unreported
        counters.unreported = total
        counters.created += new
        counters.released += new
        counters.freed += new
    }

    /// Applies a batch of events in order.
    public mutating func apply<Events: Sequence<NetnsEvent>>(_ events: Events) {
        for event in events { apply(event) }
    }

    /// Applies a batch of events in order, and returns the lifecycle events they made: each
    /// step of a namespace's life that changed what the aggregator knows, once (the agent does
    /// this while anyone follows the event stream).
    public mutating func applyCapturingLifecycle<Events: Sequence<NetnsEvent>>(_ events: Events) -> [LifecycleEvent] {
        for event in events { apply(event, capturing: true) }
        defer { lifecycle = [] }
        return lifecycle
    }

    /// Applies one event.
    public mutating func apply(_ event: NetnsEvent) {
        apply(event, capturing: false)
    }

    /// Applies one event, making its lifecycle events if `capturing`. Always inlined, so the
    /// ingest path (`capturing` false) carries no trace of the capture.
    @inline(__always)
    private mutating func apply(_ event: NetnsEvent, capturing: Bool) {
        counters.eventsByKind[event.kind] += 1
        latestTimestamp = max(latestTimestamp, event.timestamp)
        switch event.kind {
        case .createFailed:
            counters.setupFailures += 1
            if capturing {
                lifecycle.append(LifecycleEvent(kind: .setupFailed, timestamp: event.timestamp, cookie: 0, inum: 0,
                                                creator: event.task.pid == 0 ? nil : event.task, result: event.result))
            }
        case .cleanupStart:
            cleanupStartedAt = event.timestamp
        case .cleanupEnd:
            counters.cleanupBatches += 1
            if let start = cleanupStartedAt, event.timestamp >= start {
                cleanupDurations.observe(seconds(event.timestamp - start))
            }
            cleanupStartedAt = nil
        case .created, .setup, .released, .freed, .discovered, .refs, .tornDown:
            guard event.cookie != 0 else {
                counters.invalidEvents += 1
                return
            }
            applyNamespaceEvent(event, capturing: capturing)
        }
    }

    @inline(__always)
    private mutating func applyNamespaceEvent(_ event: NetnsEvent, capturing: Bool) {
        // One lookup: the record is changed where it lies (inserted first if new).
        let position = namespaces.position(of: event.cookie)
        if position == nil {
            switch event.kind {
            case .setup:
                holdSetupResult(event)
                return
            case .refs:
                return  // a reading of a namespace already dropped from history
            default:
                break
            }
            if stateCounts.alive + stateCounts.dying >= limits.liveNamespaces {
                counters.capacityDrops += 1
                return
            }
        }
        let pendingSetup = pendingSetups.isEmpty ? nil : pendingSetups.removeValue(forKey: event.cookie)
        let change = namespaces.modify(at: position, inserting: { NamespaceRecord(cookie: event.cookie, inum: event.inum) }) {
            Self.update(&$0, with: event, pendingSetup: pendingSetup)
        }
        counters.created += change.created ? 1 : 0
        counters.discovered += change.discovered ? 1 : 0
        counters.released += change.released ? 1 : 0
        counters.freed += change.freed ? 1 : 0
        counters.reconciled += change.freed && event.source == NETNS_SRC_RECONCILE.rawValue ? 1 : 0
        if let lifetime = change.lifetime { lifetimes.observe(lifetime) }
        if capturing { recordLifecycle(change, cookie: event.cookie) }
        guard change.before != change.after else { return }
        if let before = change.before { adjustCount(before, by: -1) }
        adjustCount(change.after, by: 1)
        if change.after == .freed { rememberFreed(event.cookie) }
    }

    /// What applying one event changed, for the totals kept beside the records.
    private struct Change {
        var before: NamespaceState?
        var after: NamespaceState = .alive
        var created = false, discovered = false, released = false, tornDown = false, freed = false
        /// Seconds from creation to release, when this event completed the pair.
        var lifetime: Double?
    }

    /// Applies one event to one record (new if it has no time of any kind yet).
    private static func update(_ record: inout NamespaceRecord, with event: NetnsEvent, pendingSetup: Int32?) -> Change {
        let isNew = record.createdAt == nil && record.discoveredAt == nil && record.releasedAt == nil
        var change = Change(before: isNew ? nil : record.state)
        let lifetimeKnown = record.lifetimeKnown
        if record.inum == 0 { record.inum = event.inum }
        if let pendingSetup { record.setupResult = pendingSetup }
        if let refs = event.refs, event.timestamp >= record.refsReadAt ?? 0 {
            record.refs = refs
            record.refsReadAt = event.timestamp
        }
        switch event.kind {
        case .created where event.seesCreation && (record.createdAt == nil || record.createdAtIsEstimate):
            // The creation hook's report: when and by whom, even if a walk found it first.
            change.created = record.createdAt == nil && record.discoveredAt == nil
            record.createdAt = event.timestamp
            record.createdAfter = nil
            record.createdAtIsEstimate = false
            record.creator = event.task
            if record.discoveredAt == nil {
                record.discoverySource = nil
                record.discoveredHolder = nil
            }
        case .created where record.createdAt == nil && record.discoveredAt == nil:
            // Found after it was made, its creation unseen: no creator is guessed, and the
            // time is bounded, not known.
            change.created = true
            record.createdAt = event.timestamp
            record.createdAfter = event.createdAfter == 0 ? nil : min(event.createdAfter, event.timestamp)
            record.createdAtIsEstimate = true
            record.discoverySource = event.source
            record.discoveredHolder = NetnsEvent.namesHolder(event.source) ? event.task : nil
        case .discovered where record.createdAt == nil && record.discoveredAt == nil:
            change.discovered = true
            record.discoveredAt = event.timestamp
            record.discoveredHolder = event.task
            record.discoverySource = event.source
            if event.refs?.active == 0 { change.released = markReleased(&record, at: event.timestamp) }
        case .setup:
            record.setupResult = event.result
        case .released:
            change.released = markReleased(&record, at: event.timestamp)
        case .tornDown:
            change.released = markReleased(&record, at: event.timestamp)
            change.tornDown = record.tornDownAt == nil
            record.tornDownAt = min(record.tornDownAt ?? event.timestamp, event.timestamp)
        case .freed:
            change.released = markReleased(&record, at: event.timestamp)  // a free implies the release
            if record.freedAt == nil {
                change.freed = true
                record.freedAt = event.timestamp
            }
        default:
            break
        }
        if !lifetimeKnown, record.lifetimeKnown, let created = record.createdAt, let released = record.releasedAt {
            // Both ends known for the first time, whichever event arrived second.
            change.lifetime = released >= created ? seconds(released - created) : 0
        }
        change.after = record.state
        return change
    }

    /// The lifecycle events of one change to the record of `cookie`, in the order they happened.
    /// Kept out of line, so the capturing path stays small too.
    @inline(never)
    private mutating func recordLifecycle(_ change: Change, cookie: UInt64) {
        guard change.created || change.discovered || change.released || change.tornDown || change.freed,
              let record = namespaces[cookie] else { return }
        func add(_ kind: LifecycleEvent.Kind, _ time: UInt64?, since start: UInt64? = nil) {
            guard let time else { return }
            let duration = start.map { time >= $0 ? time - $0 : 0 }
            lifecycle.append(LifecycleEvent(kind: kind, timestamp: time, cookie: cookie, inum: record.inum,
                                             creator: record.creator, duration: duration))
        }
        if change.created { add(.created, record.createdAt) }
        if change.discovered { add(.discovered, record.discoveredAt) }
        if change.released { add(.released, record.releasedAt, since: record.lifetimeKnown ? record.createdAt : nil) }
        if change.tornDown { add(.tornDown, record.tornDownAt, since: record.releasedAt) }
        if change.freed { add(.freed, record.freedAt, since: record.releasedAt) }
    }

    /// Records a release (or a fact that implies one); the earliest time seen wins, so a
    /// free that overtook its release on another CPU does not move the release later.
    /// Returns whether this is the first release seen.
    private static func markReleased(_ record: inout NamespaceRecord, at time: UInt64) -> Bool {
        guard let known = record.releasedAt else {
            record.releasedAt = time
            return true
        }
        record.releasedAt = min(known, time)
        return false
    }

    /// Applies a holder scan: each live namespace's holders, and since when none of them is a
    /// task. A namespace first seen after the scan began is left for the next scan.
    public mutating func apply(_ scan: HolderScan) {
        latestTimestamp = max(latestTimestamp, scan.timestamp)
        counters.holderScans += 1
        namespaces.modifyEach { record in
            guard record.state != .freed, (record.firstSeenAt ?? 0) <= scan.timestamp else { return }
            let mounts = scan.byInum[record.inum]
            let others = scan.byCookie[record.cookie]
            record.holders = mounts.map { (others ?? []) + $0 } ?? others ?? []  // shared, not copied, without mounts
            record.holdersScannedAt = scan.timestamp
            record.isHost = record.cookie == scan.hostCookie
            let hasTask = record.isHost || record.holders.contains { $0.kind == .task }
            record.tasklessSince = hasTask ? nil : (record.tasklessSince ?? scan.timestamp)
        }
    }

    /// Every namespace leaking at `now`, with its leak, oldest leak first.
    public func leaks(at now: UInt64) -> [(record: NamespaceRecord, leak: Leak)] {
        var leaks: [(record: NamespaceRecord, leak: Leak)] = []
        forEachLeak(at: now) { record, leak in leaks.append((record, leak)) }
        return leaks.sorted { ($0.leak.since, $0.record.cookie) < ($1.leak.since, $1.record.cookie) }
    }

    /// Calls `body` with every namespace leaking at `now`, in table order; records are read in
    /// place, and only those leaking are handed out.
    private func forEachLeak(at now: UInt64, _ body: (borrowing NamespaceRecord, Leak) -> Void) {
        let thresholds = leakThresholds
        namespaces.forEachRecord { record in
            if let leak = record.leak(at: now, thresholds: thresholds) { body(record, leak) }
        }
    }

    /// Whether the namespaces leaking at `now`, and how, are those of the last
    /// `leakTransitions`: what nearly every periodic call finds, checked without copying a
    /// record or building anything.
    private func leaksUnchanged(at now: UInt64) -> Bool {
        var leaking = 0, unchanged = true
        forEachLeak(at: now) { record, leak in
            leaking += 1
            if unchanged, knownLeaks[record.cookie] != leak { unchanged = false }
        }
        return unchanged && leaking == knownLeaks.count
    }

    /// The leaks begun and ended since the last call, as `leak_started` and `leak_ended`
    /// events, oldest first. Leaks depend on time as well as events, so the agent calls this
    /// periodically; each event carries when it happened, not when it was noticed:
    /// - a leak starts when its condition has lasted the threshold (`since` + threshold);
    /// - it ends when its condition did: at the release of an orphan, the teardown or free of
    ///   a stuck teardown, the free of a zombie, or the holder scan that found a task inside.
    ///
    /// A namespace whose leak changes kind (an orphan released and stuck in teardown) gets
    /// the end of one and the start of the other.
    public mutating func leakTransitions(at now: UInt64) -> [LifecycleEvent] {
        if leaksUnchanged(at: now) { return [] }
        var events: [LifecycleEvent] = []
        var current: [UInt64: Leak] = [:]
        current.reserveCapacity(knownLeaks.count)
        for (record, leak) in leaks(at: now) {
            current[record.cookie] = leak
            guard knownLeaks[record.cookie] != leak else { continue }
            let start = leak.since &+ leakThresholds.threshold(leak.kind)
            events.append(LifecycleEvent(kind: .leakStarted, timestamp: min(start, now), cookie: record.cookie,
                                         inum: record.inum, creator: record.creator, leak: leak.kind))
        }
        for (cookie, leak) in knownLeaks where current[cookie] != leak {
            let record = namespaces[cookie]
            let end = min(record.flatMap { Self.end(of: leak.kind, in: $0) } ?? now, now)
            events.append(LifecycleEvent(kind: .leakEnded, timestamp: end, cookie: cookie, inum: record?.inum ?? 0,
                                         creator: record?.creator, duration: end >= leak.since ? end - leak.since : 0,
                                         leak: leak.kind))
        }
        knownLeaks = current
        return events.sorted { ($0.timestamp, $0.kind == .leakStarted ? 1 : 0) < ($1.timestamp, $1.kind == .leakStarted ? 1 : 0) }
    }

    /// When `record` stopped meeting the condition of a leak of `kind`, as far as it shows.
    private static func end(of kind: LeakKind, in record: NamespaceRecord) -> UInt64? {
        switch kind {
        case .orphaned: record.releasedAt ?? (record.tasklessSince == nil ? record.holdersScannedAt : nil)
        case .stuckTeardown: record.tornDownAt ?? record.freedAt
        case .zombie: record.freedAt
        }
    }

    /// Applies a device wait: every namespace whose teardown was under way when the kernel
    /// logged it is in the cleanup batch that waits, or queued behind it, so each is stuck on
    /// this device. The line was logged between the agent's previous look at the log and this
    /// one, so that is each namespace released by the look that found it, and not through its
    /// teardown (torn down or freed) before the previous look. The kernel's line names no
    /// namespace (every namespace has a `lo`), so this is the finest attribution it allows.
    /// Returns a `teardown_waiting` event for each namespace newly waiting, or waiting for
    /// another device than before.
    public mutating func apply(_ wait: DeviceWait) -> [LifecycleEvent] {
        counters.deviceWaits += 1
        var events: [LifecycleEvent] = []
        var attributed = false
        for record in namespaces.values where record.state != .alive {
            guard let released = record.releasedAt, released <= wait.timestamp else { continue }
            if let ended = record.tornDownAt ?? record.freedAt, ended <= wait.loggedAfter { continue }
            attributed = true
            let known = waitingFor[record.cookie]
            let same = known?.device == wait.device
            waitingFor[record.cookie] = TeardownWaitingFor(
                device: wait.device, usageCount: wait.usageCount, since: same ? known!.since : wait.timestamp,
                lastSeen: wait.timestamp, source: wait.source)
            if !same {
                events.append(LifecycleEvent(kind: .teardownWaiting, timestamp: wait.timestamp, cookie: record.cookie,
                                             inum: record.inum, creator: record.creator,
                                             duration: wait.timestamp - released,
                                             device: wait.device, usageCount: wait.usageCount))
            }
        }
        if !attributed { counters.deviceWaitsUnattributed += 1 }
        // Namespaces no longer held (freed history evicted) take their waits with them.
        if waitingFor.count > 0 { waitingFor = waitingFor.filter { namespaces[$0.key] != nil } }
        return events
    }

    /// What each namespace's teardown waits (or, once torn down, waited) for, by cookie: only
    /// those seen waiting.
    public var teardownWaits: [UInt64: TeardownWaitingFor] { waitingFor }

    private mutating func rememberFreed(_ cookie: UInt64) {
        freedOrder.append(cookie)
        while freedOrder.count > limits.freedHistory, let oldest = freedOrder.popFirst() {
            if namespaces.remove(oldest) {
                adjustCount(.freed, by: -1)
                counters.historyEvictions += 1
                if !waitingFor.isEmpty { waitingFor[oldest] = nil }
            }
        }
    }

    private mutating func holdSetupResult(_ event: NetnsEvent) {
        guard event.result == 0 else { return }  // a failed setup never becomes a namespace
        if pendingSetups.updateValue(event.result, forKey: event.cookie) == nil {
            pendingSetupOrder.append(event.cookie)
        }
        while pendingSetupOrder.count > limits.pendingSetups, let oldest = pendingSetupOrder.popFirst() {
            pendingSetups[oldest] = nil
        }
    }
}

/// Nanoseconds to seconds.
@inline(__always)
func seconds(_ nanoseconds: UInt64) -> Double {
    Double(nanoseconds) / 1_000_000_000
}
