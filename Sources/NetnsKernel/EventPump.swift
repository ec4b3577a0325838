import BPFKit
import Dispatch
import Glibc
import NetnsCore
import NetnsSystem
import Synchronization

/// Moves events from the ring buffer into the agent's state (a `NamespaceEventSink`), on a
/// thread of its own (waiting blocks, and the cooperative pool has only as many threads as
/// cores).
///
/// While events flow, the reader takes them every `activeInterval`: the kernel side wakes it
/// early only when the buffer is an eighth full, since every wake-up is an interrupt. Once a
/// poll finds nothing, the reader asks the kernel side to wake it at the next event and sleeps,
/// so that an idle host costs one wake-up every `idleInterval` (a safety net) instead of ten a
/// second.
public final class EventPump: Sendable {
    /// How often the reader takes what arrived while events flow.
    public static let activeInterval: Int32 = 100
    /// The longest the reader sleeps when idle, should a wake-up be missed (the kernel side
    /// decides to wake before it commits an event, so one committed while the reader was
    /// going to sleep can wait this long).
    public static let idleInterval: Int32 = 5_000

    private let stopRequested = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    /// Completed polls; `catchUp` waits for it to move.
    private let polls = Atomic<UInt64>(0)
    private let interrupter: RingBufferReader.Interrupter

    /// Starts reading `probes`' ring buffer into `state`, resolving creators' cgroup ids
    /// against the cgroup v2 hierarchy at `cgroupRoot` (by default where it is mounted).
    public init(probes: ProbeSet, state: any NamespaceEventSink, cgroupRoot: String? = nil,
                onError: @escaping @Sendable (BPFError) -> Void) throws(BPFError) {
        let batch = EventBatch(cgroups: CgroupResolver(root: cgroupRoot ?? CgroupResolver.unifiedHierarchy()))
        let reader = try RingBufferReader(map: probes.events) { bytes in batch.add(bytes) }
        interrupter = reader.interrupter
        let thread = DispatchQueue(label: "netns-tracer.ring-buffer")
        // The queue owns `reader` and `batch` from here on: only its closure touches them.
        let ownedReader = reader
        thread.async { [self] in
            var asleep = false
            while !stopRequested.load(ordering: .relaxed) {
                do throws(BPFError) {
                    let consumed = try ownedReader.wait(timeoutMilliseconds: asleep ? Self.idleInterval : Self.activeInterval)
                    if consumed > 0 {
                        asleep = false  // the event that woke the reader cleared the flag
                    } else if !asleep {
                        // Whatever is committed from here on is seen by the next wait at once
                        // (epoll reports a ring with data readable), or wakes it.
                        try probes.wakeReaderAtNextEvent()
                        asleep = true
                    }
                } catch {
                    onError(error)
                    stopRequested.store(true, ordering: .relaxed)
                }
                batch.flush(into: state)
                polls.add(1, ordering: .releasing)
            }
            _ = try? ownedReader.drain()
            batch.flush(into: state)
            finished.signal()
        }
    }

    /// Returns once every event already in the ring buffer has been applied to the state.
    public func catchUp() async {
        let start = polls.load(ordering: .acquiring)
        while !interruptUnlessCaughtUp(since: start) { try? await Task.sleep(for: .milliseconds(5)) }
    }

    /// `catchUp`, blocking the calling thread (one outside the cooperative pool).
    public func catchUpBlocking() {
        let start = polls.load(ordering: .acquiring)
        while !interruptUnlessCaughtUp(since: start) { usleep(5_000) }
    }

    /// Whether two polls have completed since `start` polls had (or the reader stopped): a
    /// poll that starts after a caller asks consumes everything written before it. Until
    /// then the reader, which may be asleep, is interrupted at each call.
    private func interruptUnlessCaughtUp(since start: UInt64) -> Bool {
        guard polls.load(ordering: .acquiring) < start + 2, !stopRequested.load(ordering: .relaxed) else { return true }
        interrupter.interrupt()
        return false
    }

    /// Stops reading after consuming what is in the buffer, and waits for the thread.
    public func stop() async {
        stopRequested.store(true, ordering: .relaxed)
        interrupter.interrupt()
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { [finished] in
                finished.wait()
                continuation.resume()
            }
        }
    }
}

/// Events decoded during one poll, applied to the state in one lock, with the cgroup paths of
/// their creators looked up while the cgroups still exist.
private final class EventBatch: @unchecked Sendable {
    // Touched only by the pump's queue.
    private var events: [NetnsEvent] = []
    private var decodeErrors = 0
    private let cgroups: CgroupResolver

    init(cgroups: CgroupResolver) { self.cgroups = cgroups }

    func add(_ bytes: UnsafeRawBufferPointer) {
        do {
            events.append(try NetnsEvent(wire: bytes))
        } catch {
            decodeErrors += 1
        }
    }

    /// Creators' cgroups not found when their creation arrived, with the walks each may still
    /// miss: the resolver walks at most once a second, so a cgroup made since its last walk (a
    /// second container started within a second of the first) is looked for at later polls
    /// (every few seconds at most, idle or not), not given up on.
    private var unresolved: [UInt64: Int] = [:]
    private static let walksBeforeGivingUp = 3, unresolvedLimit = 1024

    func flush(into state: any NamespaceEventSink) {
        var paths: [UInt64: String] = [:]
        for event in events where event.kind == .created {
            let id = event.task.cgroupID
            guard id != 0, paths[id] == nil, unresolved[id] == nil else { continue }
            if let path = cgroups.path(of: id, now: event.timestamp) {
                paths[id] = path
            } else if unresolved.count < Self.unresolvedLimit {
                unresolved[id] = Self.walksBeforeGivingUp
            }
        }
        if !unresolved.isEmpty { resolveLate(into: &paths) }
        guard !events.isEmpty || decodeErrors > 0 || !paths.isEmpty else { return }
        state.ingest(events, decodeErrors: decodeErrors, cgroupPaths: paths)
        events.removeAll(keepingCapacity: true)
        decodeErrors = 0
    }

    /// Looks for the unresolved cgroups again; one missed by `walksBeforeGivingUp` walks is
    /// gone (or was never under the hierarchy), and given up on.
    private func resolveLate(into paths: inout [UInt64: String]) {
        let now = SystemClock.monotonic()
        for (id, walksLeft) in unresolved {
            let walksBefore = cgroups.walks
            if let path = cgroups.path(of: id, now: now) {
                paths[id] = path
                unresolved[id] = nil
            } else if cgroups.walks > walksBefore {
                unresolved[id] = walksLeft > 1 ? walksLeft - 1 : nil
            }
        }
    }
}
