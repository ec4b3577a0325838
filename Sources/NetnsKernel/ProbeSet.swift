import BPFKit
import BPFObjects
import CNetnsEvent
import NetnsCore
import Synchronization
import FoundationEssentials
import Glibc

/// Sizes of the kernel-side buffers and maps, set before the programs load.
public struct ProbeLimits: Sendable, Hashable {
    /// Ring buffer size in bytes (a power of two, at least one page).
    public var ringBufferBytes: UInt32
    /// How many namespaces the kernel side can follow at once.
    public var trackedNamespaces: UInt32
    /// Whether the tracepoint set also hooks unshare/clone/clone3 exits (failed creations, and
    /// who made each namespace by unshare and when, at the cost of tracing every syscall on
    /// the host: off unless asked for).
    public var syscallHooks = false

    /// Creates limits; the defaults hold about 50,000 events and 16 Ki namespaces (the kernel
    /// side scans its map at every refresh: its size is a cost, not just a cap).
    public init(ringBufferBytes: UInt32 = 4 << 20, trackedNamespaces: UInt32 = 1 << 14) {
        self.ringBufferBytes = ringBufferBytes
        self.trackedNamespaces = trackedNamespaces
    }
}

/// Why a probe set could not be used.
public struct ProbeSetError: Error, CustomStringConvertible {
    /// The set that failed.
    public var kind: ProbeSetKind
    /// The libbpf failure.
    public var underlying: BPFError

    public var description: String { "\(kind) probe set: \(underlying)" }
}

/// A probe set loaded into the kernel and attached: the source of every event.
///
/// Owns the BPF object and its links; releasing it (or `detach()`) removes every program
/// from the kernel.
///
/// Safe to call from several tasks at once (the refresh loop and the holder scan do): after
/// loading, its only mutable state (the links and the settings in `config`) is behind a
/// `Mutex`. Everything else is a descriptor, read only; running a program or reading a map is
/// a system call, and the BPF side is written for its programs to run on every CPU at once.
/// `BPFObject` is not `Sendable` (libbpf's object is not thread-safe while it loads), hence
/// the unchecked conformance: it is used here only by `init`, before the set is shared.
public final class ProbeSet: @unchecked Sendable {
    /// Which set this is.
    public let kind: ProbeSetKind
    private let object: BPFObject
    /// What changes after loading: the links (dropped by `detach()`), and the settings
    /// written to `config`, which must not interleave.
    private let mutable: Mutex<(links: [BPFLink], settings: netns_config)>
    /// The program variants loaded for this kernel, and what they cannot report.
    public let variants: ProgramVariants
    private let refreshProgram: BPFProgram
    private let fullRefreshProgram: BPFProgram
    /// Without bpf_loop: map iterators over `tracked` and `dying`, run after each refresh.
    private let mapScans: (tracked: BPFProgram, dying: BPFProgram)?
    private let dying: BPFMap
    private let taskDiscovery: BPFProgram
    private let fileDiscovery: BPFProgram
    /// The ring buffer the programs write events to.
    public let events: BPFMap
    /// Set to 1 by the reader before it sleeps; the next event clears it and wakes the reader.
    private let readerAsleep: BPFMap
    private let stats: BPFMap
    private let config: BPFMap
    private let tracked: BPFMap
    private let trackedCapacity: Int
    /// The identity of the agent's own namespace as the kernel side reads it (its cookie,
    /// or on kernels before 5.12 what stands in for one).
    public let hostCookie: UInt64

    /// Loads and attaches one probe set, in the variant `kernel` takes.
    public init(kind: ProbeSetKind, limits: ProbeLimits, kernel: KernelCapabilities = .running) throws(ProbeSetError) {
        self.kind = kind
        let variants = ProgramVariants(kind: kind, syscallHooks: limits.syscallHooks, kernel: kernel)
        self.variants = variants
        do throws(BPFError) {
            // Loading and verifying a whole set only to learn the kernel cannot attach it costs
            // a few hundred milliseconds of start-up: ask first where it is cheap to.
            if kind == .kprobe, !Self.kernelHasKprobes() {
                throw BPFError(operation: "find kprobe support (no kprobe PMU under /sys/bus/event_source/devices, no kprobe_events in tracefs)", code: EOPNOTSUPP)
            }
            guard let base64 = EmbeddedBPFObjects.base64ByName[Self.objectName],
                  let elf = Data(base64Encoded: base64)
            else { throw BPFError(operation: "find embedded object '\(Self.objectName)'", code: ENOENT) }
            let object = try BPFObject(name: Self.objectName, elf: elf)
            // One object holds every set's hooks: the other sets' stay out of the kernel.
            for other in ProbeSetKind.allCases where other != kind {
                for program in object.programs where other.owns(section: program.section) {
                    try object.skipProgram(named: program.name)
                }
                for map in other.ownMaps { try object.skipMap(named: map) }
            }
            try object.setMaxEntries(limits.ringBufferBytes, ofMap: "events")
            // Every dying namespace is a followed one: the dying set never needs more room.
            for map in ["tracked", "dying"] {
                try object.setMaxEntries(limits.trackedNamespaces, ofMap: map)
            }
            if !limits.syscallHooks {
                try object.skipPrograms(inSectionsStartingWith: "tracepoint/syscalls/")
            }
            for name in variants.skipped { try object.skipProgram(named: name) }
            for name in variants.skippedMaps { try object.skipMap(named: name) }
            try object.load()
            var links: [BPFLink] = []
            for program in object.programs where program.isLoaded && Self.attachesAtLoad(program) {
                links.append(try program.attach())
            }
            self.object = object
            if variants.boundedLoops {
                self.refreshProgram = try object.program(named: "refresh_bounded")
                self.fullRefreshProgram = refreshProgram
                self.mapScans = (try object.program(named: "scan_tracked_elem"), try object.program(named: "scan_dying_elem"))
            } else {
                self.refreshProgram = try object.program(named: "refresh")
                self.fullRefreshProgram = try object.program(named: "refresh_full")
                self.mapScans = nil
            }
            self.taskDiscovery = try object.program(named: "discover_tasks")
            self.fileDiscovery = try object.program(named: "discover_files")
            self.events = try object.map(named: "events")
            self.readerAsleep = try object.map(named: "reader_asleep")
            self.stats = try object.map(named: "stats")
            self.config = try object.map(named: "config")
            self.tracked = try object.map(named: "tracked")
            self.dying = try object.map(named: "dying")
            self.trackedCapacity = Int(limits.trackedNamespaces)
            try object.program(named: "identify_own").run()
            self.hostCookie = try object.map(named: "own_namespace").value(at: 0, as: UInt64.self)
            var settings = netns_config()
            settings.host_cookie = hostCookie
            try config.update(at: 0, to: settings)
            self.mutable = Mutex((links, settings))
        } catch {
            throw ProbeSetError(kind: kind, underlying: error)
        }
    }

    /// The embedded object every set loads from (`bpf/netns.bpf.c`).
    static let objectName = "netns"

    /// Whether the kernel can attach kprobes: through the kprobe PMU (what libbpf uses) or
    /// the legacy kprobe_events file.
    static func kernelHasKprobes() -> Bool {
        let places = ["/sys/bus/event_source/devices/kprobe/type", "/sys/kernel/tracing/kprobe_events",
                      "/sys/kernel/debug/tracing/kprobe_events"]
        return places.contains { (path: String) in access(path, F_OK) == 0 }
    }

    /// Iterators and `refresh` run on demand; every other program has a hook to attach to.
    private static func attachesAtLoad(_ program: BPFProgram) -> Bool {
        let section = program.section
        return !section.hasPrefix("iter/") && section != "raw_tp"
    }

    /// Asks the kernel side to wake the ring buffer's reader at the next event (without
    /// this, it wakes the reader only when the buffer is an eighth full).
    public func wakeReaderAtNextEvent() throws(BPFError) {
        try readerAsleep.update(at: 0, to: UInt32(1))
    }

    /// Tells the kernel side the first inventory is done: from now on, a namespace found
    /// without its creation having been seen is reported as created, not discovered.
    public func finishBaseline() throws(BPFError) {
        try mutable.withLock { (state) throws(BPFError) in
            state.settings.baseline_done = 1
            try config.update(at: 0, to: state.settings)
        }
    }

    /// Re-reads the refcounts of the namespaces the kernel lists and follows any it does not
    /// follow yet; changes arrive as events. A full refresh also re-reads every followed
    /// namespace the kernel no longer lists, whatever the kernel side's own shortcuts say (it
    /// takes them itself after any failure, while zombies are held, or without batch hooks).
    public func refresh(full: Bool = false) throws(BPFError) {
        try (full ? fullRefreshProgram : refreshProgram).run()
        if let mapScans {
            try mapScans.tracked.iterate(over: tracked)
            try mapScans.dying.iterate(over: dying)
        }
    }

    /// Reports every namespace that a task uses or a file holds and that is not tracked yet
    /// (as DISCOVERED events), and returns every holder of a namespace other than the host's.
    /// Namespaces pinned only by a bind mount are found while `pins` holds them open.
    public func discover(holding pins: NamespacePins) throws(BPFError) -> [KernelHolder] {
        try withExtendedLifetime(pins) { () throws(BPFError) in
            let tasks = try taskDiscovery.iterate()
            let files = try fileDiscovery.iterate()
            return KernelHolder.decode(tasks.output) + KernelHolder.decode(files.output)
        }
    }

    /// The cookies of every namespace the kernel side follows now (alive, dying, or torn down
    /// and not yet freed): what the agent's view is reconciled with after lost events.
    public func followedCookies() throws(BPFError) -> Set<UInt64> {
        Set(try tracked.values(as: netns_tracked.self, limit: 2 * trackedCapacity).map(\.cookie))
    }

    /// The kernel side's failure counters.
    public func statistics() throws(BPFError) -> ProbeStatistics {
        try ProbeStatistics(reading: { (slot) throws(BPFError) in try stats.perCPUSum(at: slot.rawValue) })
    }

    /// Removes every program from its hook now.
    public func detach() {
        mutable.withLock { state in
            state.links.forEach { $0.detach() }
            state.links.removeAll()
        }
    }
}

/// One holder record as the discovery iterators write it (`struct netns_holder`).
public struct KernelHolder: Sendable, Hashable {
    /// The namespace held.
    public var cookie: UInt64
    /// Its inum.
    public var inum: UInt32
    /// How it is held.
    public var holder: Holder

    /// Decodes the records of an iterator's output; a trailing partial record is ignored.
    static func decode(_ bytes: [UInt8]) -> [KernelHolder] {
        let size = MemoryLayout<netns_holder>.size
        return bytes.withUnsafeBytes { raw in
            stride(from: 0, to: raw.count - size + 1, by: size).compactMap { offset in
                let record = raw.loadUnaligned(fromByteOffset: offset, as: netns_holder.self)
                guard let kind = Holder.Kind(kernelCode: record.kind) else { return nil }
                let comm = withUnsafeBytes(of: record.comm) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                return KernelHolder(cookie: record.cookie, inum: record.inum, holder: Holder(
                    kind: kind, pid: record.pid, comm: comm, fd: record.fd >= 0 ? record.fd : nil))
            }
        }
    }
}
