import Testing
@testable import NetnsCore

@Suite("Recording format")
struct RecordingTests {
    static let entries: [Recording.Entry] = [
        .cgroupPath(id: 42, path: "/kubepods.slice/x"),
        .event(NetnsEvent(kind: .created, timestamp: 5, cookie: 9, inum: 100, refs: .init(active: 1, passive: 2),
                          task: TaskIdentity(pid: 3, tid: 4, comm: "runc", cgroupID: 42, uid: 1000, ppid: 2))),
        .holderScan(HolderScan(
            timestamp: 7,
            byCookie: [9: [Holder(kind: .task, pid: 3, comm: "runc"), Holder(kind: .socket, pid: 8, comm: "envoy", fd: 12)]],
            byInum: [100: [Holder(kind: .mount, pid: 1, comm: "systemd", path: "/run/netns/cni-1 x")]],
            hostCookie: 1)),
        .event(NetnsEvent(kind: .tornDown, timestamp: 9, cookie: 9, inum: 100)),
        .unreported(total: 3),
        .end(timestamp: 11),
    ]

    static var file: [UInt8] {
        Recording.header(realtimeOffset: -123) + entries.flatMap(Recording.encode)
    }

    @Test("every kind of entry survives a round trip")
    func roundTrip() throws {
        let (offset, decoded) = try Recording.decode(Self.file)
        #expect(offset == -123)
        #expect(decoded == Self.entries)
    }

    @Test("bad files get an error naming the offset and the problem", arguments: [
        ([UInt8](), 0, "empty"),
        (Array("NETNSREC".utf8), 8, "truncated header"),
        (Array("NOTATRACE".utf8) + [UInt8](repeating: 0, count: 40), 0, "bad magic"),
    ] as [([UInt8], Int, String)])
    func badHeaders(bytes: [UInt8], offset: Int, problem: String) {
        do {
            _ = try Recording.decode(bytes)
            Issue.record("decoding should fail")
        } catch {
            #expect(error.offset == offset)
            #expect(error.problem.contains(problem))
        }
    }

    @Test("a file of a future version is refused by name")
    func futureVersion() {
        var bytes = Self.file
        bytes[8] = 9
        #expect(throws: Recording.FormatError(offset: 8, problem: "format version 9 is not supported (this netns-tracer reads versions 1 and 2)")) {
            try Recording.decode(bytes)
        }
    }

    @Test("a version 1 file (80-byte events, before created_after_ns) is still read, the new field zero")
    func version1() throws {
        var bytes = Recording.header(realtimeOffset: -123)
        bytes[8] = 1
        bytes[12] = 80
        for entry in Self.entries {
            var encoded = Recording.encode(entry)
            if case .event = entry {
                encoded = Array(encoded.prefix(8 + 80))
                encoded[4] = 80
            }
            bytes += encoded
        }
        let (_, decoded) = try Recording.decode(bytes)
        #expect(decoded == Self.entries)
        bytes[12] = 88
        #expect(throws: Recording.FormatError(offset: 12, problem: "event records are 88 bytes, version 1 has 80")) {
            try Recording.decode(bytes)
        }
    }

    @Test("a file cut anywhere but between entries is an error, never a crash")
    func truncatedEverywhere() {
        let file = Self.file
        // A recording stopped between two entries (say, by SIGKILL) is valid up to there.
        let boundaries = Set(Self.entries.reduce(into: [32]) { $0.append($0.last! + Recording.encode($1).count) })
        for length in 1..<file.count where !boundaries.contains(length) {
            #expect(throws: Recording.FormatError.self) { try Recording.decode(Array(file.prefix(length))) }
        }
    }

    @Test("an entry that claims a huge size is refused before anything is read")
    func hugeEntry() {
        var bytes = Recording.header(realtimeOffset: 0)
        bytes += [1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F]
        do {
            _ = try Recording.decode(bytes)
            Issue.record("decoding should fail")
        } catch {
            #expect(error.offset == 36)
            #expect(error.problem.contains("more than"))
        }
    }

    @Test("random corruption never crashes the decoder")
    func corruption() {
        var generator = SplitMix64(seed: 0x5EED)
        let file = Self.file
        for _ in 0..<5000 {
            var bytes = file
            for _ in 0..<Int(generator.next() % 4 + 1) {
                bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next())
            }
            _ = try? Recording.decode(bytes)
        }
    }
}

/// A small deterministic random generator for tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
