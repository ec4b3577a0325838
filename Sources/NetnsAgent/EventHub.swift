import NetnsCore
import NetnsExposition
import NetnsServer
import NIOCore
import Synchronization

/// The followers of the event stream (`GET /events`), and the `--events-file`: each gets every
/// lifecycle event from the moment it attached, as JSON lines. Publishing never waits for a
/// follower: one that falls too far behind is cut off and counted (`LiveWriter`); the file
/// drops and counts what its writes cannot keep up with (`EventsFile`).
public final class EventHub: Sendable {
    /// How far behind a follower may fall before it is cut off: about 4,000 events.
    public static let defaultMaxPendingBytes = 1 << 20

    private let followers = Mutex<[ObjectIdentifier: LiveWriter]>([:])
    private let followerCount = Atomic<Int>(0)
    private let cutOff = Atomic<UInt64>(0)
    private let clock: ClockMapping
    public let maxPendingBytes: Int
    /// Where every event is also written, if anywhere.
    public let file: EventsFile?
    /// Whether the lines carry `nsId` (the kernel's namespace ids are the cookies).
    public let nsIds = Atomic<Bool>(false)

    public init(clock: ClockMapping, maxPendingBytes: Int = EventHub.defaultMaxPendingBytes, file: EventsFile? = nil) {
        self.clock = clock
        self.maxPendingBytes = maxPendingBytes
        self.file = file
    }

    /// Whether anyone follows: the agent makes lifecycle events only then.
    public var isFollowed: Bool { file != nil || followerCount.load(ordering: .relaxed) > 0 }

    /// The body of a `GET /events` reply: it attaches the connection as a follower.
    public var body: LiveBody {
        LiveBody(maxPendingBytes: maxPendingBytes) { [self] writer in
            followers.withLock { followers in
                followers[ObjectIdentifier(writer)] = writer
                followerCount.store(followers.count, ordering: .relaxed)
            }
        }
    }

    /// Sends `events` to every follower, as one chunk of JSON lines.
    public func publish(_ events: [LifecycleEvent], cgroups: [UInt64: CgroupInfo]) {
        guard !events.isEmpty, isFollowed else { return }
        let chunk = EventLines.render(events, cgroups: cgroups, clock: clock, nsIds: nsIds.load(ordering: .relaxed))
        file?.append(chunk, lines: events.count)
        guard followerCount.load(ordering: .relaxed) > 0 else { return }
        followers.withLock { followers in
            for (id, writer) in followers {
                switch writer.send(chunk) {
                case .sent: break
                case .closed: followers[id] = nil
                case .cutOff:
                    followers[id] = nil
                    cutOff.add(1, ordering: .relaxed)
                }
            }
            followerCount.store(followers.count, ordering: .relaxed)
        }
    }

    /// Ends every follower's stream, as the agent stops: each sees the stream end whole. The
    /// file gets every line queued for it, and is synced and closed.
    public func finish() {
        file?.finish()
        followers.withLock { followers in
            for writer in followers.values { writer.finish() }
            followers.removeAll()
            followerCount.store(0, ordering: .relaxed)
        }
    }

    /// The followers now (those gone since the last event are dropped first), and how many
    /// were cut off for falling behind.
    public var statistics: EventStreamStatistics {
        let clients = followers.withLock { followers in
            followers = followers.filter { $0.value.isOpen }
            followerCount.store(followers.count, ordering: .relaxed)
            return followers.count
        }
        return EventStreamStatistics(clients: clients, cutOff: cutOff.load(ordering: .relaxed))
    }
}
