import NetnsCore
import NetnsExposition
import Synchronization

/// What the agent knows, shared between the thread that reads events, the periodic scans
/// and the HTTP server. Every input also goes to the recorder, when there is one, in the
/// order it was applied.
public final class AgentState: NamespaceEventSink {
    /// A consistent copy of everything the exporters show.
    public typealias Snapshot = AgentSnapshot

    private let state: Mutex<Snapshot>
    private let recorder: Recorder?
    /// The followers of the event stream, fed the lifecycle events of each batch applied.
    public let events: EventHub?

    /// Creates the state around an empty aggregator, recording every input to `recorder`.
    public init(aggregator: Aggregator = Aggregator(), probeSet: ProbeSetKind? = nil, recorder: Recorder? = nil,
                events: EventHub? = nil) {
        state = Mutex(Snapshot(aggregator: aggregator, probeSet: probeSet))
        self.recorder = recorder
        self.events = events
    }

    /// A copy of the current state (cheap: the collections are copy-on-write).
    public func snapshot() -> Snapshot { state.withLock { $0 } }

    /// What the refresh schedule watches: the records received so far that were about a
    /// namespace's life rather than a change of its refcounts (a refcount changes whenever a
    /// socket comes or goes; that alone keeps no refresh pace), the cleanup batches' starts
    /// and ends among them, and the records that failed to decode; and whether any namespace
    /// is dying.
    public var refreshActivity: (lifecycleRecords: UInt64, namespacesDying: Bool) {
        state.withLock {
            ($0.recordsReceived - $0.aggregator.counters.eventsByKind[.refs], $0.aggregator.count(.dying) > 0)
        }
    }

    /// Applies a batch of decoded events and the cgroup paths newly learnt for them,
    /// counting the records that failed to decode.
    public func ingest(_ events: [NetnsEvent], decodeErrors: Int, cgroupPaths: [UInt64: String] = [:]) {
        var events = events
        state.withLock { snapshot in
            if !snapshot.listedOnlyByListns.isEmpty {
                NetnsEvent.markListedByListns(&events, cookies: &snapshot.listedOnlyByListns)
            }
            for (id, path) in cgroupPaths where snapshot.cgroups[id] == nil {
                snapshot.cgroups[id] = CgroupInfo(path: path)
                record(.cgroupPath(id: id, path: path), into: &snapshot)
            }
            for event in events { record(.event(event), into: &snapshot) }
            // Lifecycle events are made only while someone follows; they are sent in the
            // lock, so followers see them in the order they were applied.
            if let hub = self.events, hub.isFollowed {
                hub.publish(snapshot.aggregator.applyCapturingLifecycle(events), cgroups: snapshot.cgroups)
            } else {
                snapshot.aggregator.apply(events)
            }
            snapshot.recordsReceived += UInt64(events.count + decodeErrors)
            snapshot.decodeErrors += UInt64(decodeErrors)
        }
    }

    /// Applies a holder scan.
    public func apply(_ scan: HolderScan) {
        state.withLock { snapshot in
            record(.holderScan(scan), into: &snapshot)
            snapshot.aggregator.apply(scan)
            snapshot.discoveryPasses += 1
            CgroupInfo.prune(&snapshot.cgroups, keepingCreatorsOf: snapshot.aggregator)
        }
    }

    /// Finds the leaks begun and ended by `now` and sends them to the followers. Leaks depend
    /// on time as well as events, so the agent calls this every refresh interval (whether or
    /// not a refresh is due) and after every holder scan.
    public func trackLeaks(at now: UInt64) {
        state.withLock { snapshot in
            let transitions = snapshot.aggregator.leakTransitions(at: now)
            if let hub = events, hub.isFollowed { hub.publish(transitions, cgroups: snapshot.cgroups) }
        }
    }

    /// Applies device waits read from the kernel's log, sending a `teardown_waiting` event for
    /// each namespace newly seen waiting.
    public func apply(_ waits: [DeviceWait]) {
        guard !waits.isEmpty else { return }
        state.withLock { snapshot in
            for wait in waits {
                record(.deviceWait(wait), into: &snapshot)
                let events = snapshot.aggregator.apply(wait)
                if let hub = self.events, hub.isFollowed { hub.publish(events, cgroups: snapshot.cgroups) }
            }
        }
    }

    /// Takes in the kernel side's count of namespaces that lived and died unreported.
    public func countUnreported(total: UInt64) {
        state.withLock { snapshot in
            guard total > snapshot.aggregator.counters.unreported else { return }
            record(.unreported(total: total), into: &snapshot)
            snapshot.aggregator.countUnreported(total: total)
        }
    }

    /// Changes the bookkeeping beside the aggregator.
    public func update(_ body: (inout Snapshot) -> Void) {
        state.withLock { body(&$0) }
    }

    /// Ends the recording, if any, with the time a replay should take as "now".
    public func finishRecording(at timestamp: UInt64) throws {
        try state.withLock { snapshot in
            record(.end(timestamp: timestamp), into: &snapshot)
            try recorder?.close()
        }
    }

    private func record(_ entry: Recording.Entry, into snapshot: inout Snapshot) {
        guard let recorder else { return }
        do {
            try recorder.write(entry)
        } catch {
            snapshot.recordingErrors += 1
        }
    }
}
