import BPFKit
import Dispatch
import NetnsCore
import Synchronization

/// Moves events from the ring buffer into the `AgentState`, on a thread of its own (polling
/// blocks, and the cooperative pool has only as many threads as cores).
public final class EventPump: Sendable {
    private let stopRequested = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    /// Completed polls; `catchUp` waits for it to move.
    private let polls = Atomic<UInt64>(0)

    /// Starts reading `probes`' ring buffer into `state`, resolving creators' cgroup ids
    /// against the cgroup v2 hierarchy at `cgroupRoot` (by default where it is mounted).
    public init(probes: ProbeSet, state: AgentState, cgroupRoot: String? = nil,
                onError: @escaping @Sendable (BPFError) -> Void) throws(BPFError) {
        let batch = EventBatch(cgroups: CgroupResolver(root: cgroupRoot ?? CgroupResolver.unifiedHierarchy()))
        let reader = try RingBufferReader(map: probes.events) { bytes in batch.add(bytes) }
        let thread = DispatchQueue(label: "netns-tracer.ring-buffer")
        // The queue owns `reader` and `batch` from here on: only its closure touches them.
        let ownedReader = reader
        thread.async { [self] in
            while !stopRequested.load(ordering: .relaxed) {
                do throws(BPFError) {
                    // The kernel side wakes us only when the buffer fills up: between
                    // wake-ups, take what arrived every 100 ms.
                    try ownedReader.poll(timeoutMilliseconds: 100)
                    try ownedReader.drain()
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
        // A poll that starts after this point consumes everything written before it.
        let start = polls.load(ordering: .acquiring)
        while polls.load(ordering: .acquiring) < start + 2, !stopRequested.load(ordering: .relaxed) {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Stops reading after consuming what is in the buffer, and waits for the thread.
    public func stop() async {
        stopRequested.store(true, ordering: .relaxed)
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

    func flush(into state: AgentState) {
        guard !events.isEmpty || decodeErrors > 0 else { return }
        var paths: [UInt64: String] = [:]
        for event in events where event.kind == .created && paths[event.task.cgroupID] == nil {
            paths[event.task.cgroupID] = cgroups.path(of: event.task.cgroupID, now: event.timestamp)
        }
        state.ingest(events, decodeErrors: decodeErrors, cgroupPaths: paths)
        events.removeAll(keepingCapacity: true)
        decodeErrors = 0
    }
}
