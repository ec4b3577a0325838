/// One step in a namespace's life as the agent understands it: what `GET /events`,
/// `netns-tracer trace` and `--events-file` show. Made by the aggregator from the kernel side's
/// events once they have changed what it knows (a repeated or late event makes none).
public struct LifecycleEvent: Sendable, Hashable {
    /// What happened. The raw values are the `event` field of the JSON line.
    public enum Kind: String, Sendable, CaseIterable {
        /// Made while the agent ran (by a creation hook, or found afterwards: then its
        /// creator is unknown and its time is when it was found).
        case created
        /// A creation the kernel refused (setup failed, or a limit was reached).
        case setupFailed = "setup_failed"
        /// Its last active reference went: nothing uses it, teardown is queued.
        case released
        /// Its cleanup batch ended with its memory still held by passive references.
        case tornDown = "torn_down"
        /// Its memory is released: its life is over.
        case freed
        /// Older than the agent, found by its inventory.
        case discovered
        /// It has met a leak's condition for longer than the threshold (`leak` says which).
        case leakStarted = "leak_started"
        /// The leak `leak` is over: the namespace was used again, moved on (then a
        /// `leak_started` of the next kind may follow), or was freed.
        case leakEnded = "leak_ended"
        /// Its teardown is seen waiting for a device's last references (`device`,
        /// `usageCount`): sent when a namespace is first seen waiting, and when the device changes.
        case teardownWaiting = "teardown_waiting"
    }

    public var kind: Kind
    /// When it happened (CLOCK_MONOTONIC nanoseconds).
    public var timestamp: UInt64
    /// The namespace's identity (0 for a failed creation: there is none).
    public var cookie: UInt64
    public var inum: UInt32
    /// Who made it (or, for `setupFailed`, who tried), when a creation hook saw it.
    public var creator: TaskIdentity?
    /// For an event that ends a stage, how long the stage lasted, in nanoseconds: `released`,
    /// creation to release (only when the creation was seen); `tornDown` and `freed`, release
    /// to then; `leakEnded`, from when the leaking condition began (the leak's `since`) to
    /// when it ended; `teardownWaiting`, from the release to then.
    public var duration: UInt64?
    /// For `setupFailed`, the error (a negative errno).
    public var result: Int32?
    /// For `leakStarted` and `leakEnded`, the leak's kind.
    public var leak: LeakKind?
    /// For `teardownWaiting`, the device waited for and its usage count as the kernel printed them.
    public var device: String?
    public var usageCount: Int32?

    public init(kind: Kind, timestamp: UInt64, cookie: UInt64, inum: UInt32, creator: TaskIdentity? = nil,
                duration: UInt64? = nil, result: Int32? = nil, leak: LeakKind? = nil, device: String? = nil,
                usageCount: Int32? = nil) {
        self.kind = kind
        self.timestamp = timestamp
        self.cookie = cookie
        self.inum = inum
        self.creator = creator
        self.duration = duration
        self.result = result
        self.leak = leak
        self.device = device
        self.usageCount = usageCount
    }
}
