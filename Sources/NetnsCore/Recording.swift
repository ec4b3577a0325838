/// The file format of `netns-tracer record`, read back by `netns-tracer replay`.
///
/// Everything the aggregator was given, in order, so a replay reaches the same state:
///
///     header   "NETNSREC" | u16 version (2) | u16 header size (32) | u32 event size
///              | i64 CLOCK_REALTIME - CLOCK_MONOTONIC (ns) | u64 zero
///     entries  u8 type | 3 zero bytes | u32 payload size | payload
///       1 event         one `struct netns_event` (bpf/netns_event.h), `event size` bytes
///       2 holder scan   u64 time | u64 host cookie | u32 count | count × holder:
///                       u8 key (0 cookie, 1 inum) | u8 kind (1 task, 2 mount, 3 fd, 4 socket)
///                       | u16 path size | u32 pid | i32 fd (-1: none) | u64 cookie or inum
///                       | 16-byte comm | path
///       3 cgroup path   u64 cgroup id | path bytes
///       4 end           u64 time: "now" for the replay
///       5 unreported    u64 the kernel side's running count of namespaces that lived and
///                       died unreported (`Aggregator.countUnreported(total:)`)
///
/// All integers are little-endian. Files are untrusted: every size is checked, and a
/// problem is reported with its byte offset. Version 1 files (80-byte events, before
/// `created_after_ns`) are still read.
public enum Recording {
    /// The current format version.
    public static let version: UInt16 = 2
    /// The size of an event record in version 1 files: `struct netns_event` without its last
    /// field, `created_after_ns`, which reads as 0.
    static let version1EventSize = 80
    static let magic = Array("NETNSREC".utf8)
    static let headerSize = 32
    /// The largest payload accepted (a holder scan of a very large host fits easily).
    public static let maximumPayload = 64 << 20

    /// One thing recorded.
    public enum Entry: Sendable, Hashable {
        case event(NetnsEvent)
        case holderScan(HolderScan)
        case cgroupPath(id: UInt64, path: String)
        case end(timestamp: UInt64)
        case unreported(total: UInt64)
        case deviceWait(DeviceWait)
    }

    /// What was wrong with a recording, and where.
    public struct FormatError: Error, Hashable, CustomStringConvertible {
        /// Byte offset in the file.
        public var offset: Int
        /// The problem.
        public var problem: String

        /// Creates an error.
        public init(offset: Int, problem: String) {
            self.offset = offset
            self.problem = problem
        }

        public var description: String { "at byte \(offset): \(problem)" }
    }

    /// The file header for a recording taken with this clock offset.
    public static func header(realtimeOffset: Int64) -> [UInt8] {
        var writer = ByteWriter()
        writer.bytes(magic)
        writer.u16(version)
        writer.u16(UInt16(headerSize))
        writer.u32(UInt32(NetnsEvent.wireSize))
        writer.u64(UInt64(bitPattern: realtimeOffset))
        writer.u64(0)
        return writer.output
    }

    /// One entry, encoded.
    public static func encode(_ entry: Entry) -> [UInt8] {
        var payload = ByteWriter()
        let type: UInt8
        switch entry {
        case .event(let event):
            type = 1
            payload.bytes(event.wire)
        case .holderScan(let scan):
            type = 2
            payload.u64(scan.timestamp)
            payload.u64(scan.hostCookie)
            let holders = scan.byCookie.sorted { $0.key < $1.key }.flatMap { key, list in list.map { (UInt8(0), key, $0) } }
                + scan.byInum.sorted { $0.key < $1.key }.flatMap { key, list in list.map { (UInt8(1), UInt64(key), $0) } }
            payload.u32(UInt32(holders.count))
            for (keyKind, key, holder) in holders {
                let path = Array((holder.path ?? "").utf8.prefix(4096))
                payload.u8(keyKind)
                payload.u8(holder.kind.recordingCode)
                payload.u16(UInt16(path.count))
                payload.u32(holder.pid)
                payload.u32(UInt32(bitPattern: holder.fd ?? -1))
                payload.u64(key)
                payload.fixedString(holder.comm, size: 16)
                payload.bytes(path)
            }
        case .cgroupPath(let id, let path):
            type = 3
            payload.u64(id)
            payload.bytes(Array(path.utf8.prefix(4096)))
        case .end(let timestamp):
            type = 4
            payload.u64(timestamp)
        case .unreported(let total):
            type = 5
            payload.u64(total)
        case .deviceWait(let wait):
            type = 6
            payload.u64(wait.timestamp)
            payload.u64(wait.loggedAfter)
            payload.u32(UInt32(bitPattern: wait.usageCount))
            payload.u8(wait.source.rawValue)
            payload.bytes([0, 0, 0])
            payload.bytes(Array(wait.device.utf8.prefix(DeviceWait.maxDeviceBytes)))
        }
        var writer = ByteWriter()
        writer.u8(type)
        writer.bytes([0, 0, 0])
        writer.u32(UInt32(payload.output.count))
        writer.bytes(payload.output)
        return writer.output
    }

    /// Decodes a whole recording: its clock offset and entries.
    public static func decode(_ bytes: [UInt8]) throws(FormatError) -> (realtimeOffset: Int64, entries: [Entry]) {
        var reader = ByteReader(bytes)
        guard bytes.count > 0 else { throw FormatError(offset: 0, problem: "the file is empty") }
        guard bytes.count >= headerSize else {
            throw FormatError(offset: bytes.count, problem: "truncated header (\(bytes.count) of \(headerSize) bytes)")
        }
        guard try reader.bytes(8) == magic else {
            throw FormatError(offset: 0, problem: "not a netns-tracer recording (bad magic)")
        }
        let fileVersion = try reader.u16()
        guard fileVersion == version || fileVersion == 1 else {
            throw FormatError(offset: 8, problem: "format version \(fileVersion) is not supported (this netns-tracer reads versions 1 and \(version))")
        }
        guard try reader.u16() == UInt16(headerSize) else { throw FormatError(offset: 10, problem: "unexpected header size") }
        let eventSize = Int(try reader.u32())
        let expectedSize = fileVersion == 1 ? version1EventSize : NetnsEvent.wireSize
        guard eventSize == expectedSize else {
            throw FormatError(offset: 12, problem: "event records are \(eventSize) bytes, version \(fileVersion) has \(expectedSize)")
        }
        let realtimeOffset = Int64(bitPattern: try reader.u64())
        _ = try reader.u64()

        var entries: [Entry] = []
        while !reader.isAtEnd {
            let start = reader.offset
            let type = try reader.u8()
            _ = try reader.bytes(3)
            let size = Int(try reader.u32())
            guard size <= maximumPayload else {
                throw FormatError(offset: start + 4, problem: "entry claims \(size) bytes, more than the \(maximumPayload) allowed")
            }
            guard reader.remaining >= size else {
                throw FormatError(offset: start, problem: "truncated entry: \(size) bytes announced, \(reader.remaining) left")
            }
            var payload = ByteReader(try reader.bytes(size), base: reader.offset - size)
            entries.append(try decodeEntry(type: type, payload: &payload, eventSize: eventSize, at: start))
            guard payload.isAtEnd else {
                throw FormatError(offset: payload.offset, problem: "\(payload.remaining) unexpected bytes at the end of an entry")
            }
        }
        return (realtimeOffset, entries)
    }

    private static func decodeEntry(type: UInt8, payload: inout ByteReader, eventSize: Int, at start: Int) throws(FormatError) -> Entry {
        switch type {
        case 1:
            // An older, shorter record reads as the current one with its new fields zero.
            let bytes = try payload.bytes(eventSize) + Array(repeating: 0, count: NetnsEvent.wireSize - eventSize)
            let decoded = bytes.withUnsafeBytes { raw in Result { () throws(EventDecodingError) in try NetnsEvent(wire: raw) } }
            switch decoded {
            case .success(let event): return .event(event)
            case .failure(let error): throw FormatError(offset: start + 8, problem: error.description)
            }
        case 2:
            var scan = HolderScan(timestamp: try payload.u64(), hostCookie: try payload.u64())
            let count = Int(try payload.u32())
            guard count <= payload.remaining / 36 else {
                throw FormatError(offset: payload.offset - 4, problem: "holder count \(count) does not fit the entry")
            }
            for _ in 0..<count {
                let keyKind = try payload.u8()
                let kindCode = try payload.u8()
                let pathSize = Int(try payload.u16())
                let pid = try payload.u32()
                let fd = Int32(bitPattern: try payload.u32())
                let key = try payload.u64()
                let comm = try payload.fixedString(16)
                let path = try payload.string(pathSize)
                guard let kind = Holder.Kind(recordingCode: kindCode) else {
                    throw FormatError(offset: payload.offset, problem: "unknown holder kind \(kindCode)")
                }
                let holder = Holder(kind: kind, pid: pid, comm: comm, path: pathSize > 0 ? path : nil, fd: fd >= 0 ? fd : nil)
                switch keyKind {
                case 0: scan.byCookie[key, default: []].append(holder)
                case 1:
                    guard let inum = UInt32(exactly: key) else {
                        throw FormatError(offset: payload.offset, problem: "inum \(key) out of range")
                    }
                    scan.byInum[inum, default: []].append(holder)
                default: throw FormatError(offset: payload.offset, problem: "unknown holder key kind \(keyKind)")
                }
            }
            return .holderScan(scan)
        case 3:
            let id = try payload.u64()
            return .cgroupPath(id: id, path: try payload.string(payload.remaining))
        case 4:
            return .end(timestamp: try payload.u64())
        case 5:
            return .unreported(total: try payload.u64())
        case 6:
            let timestamp = try payload.u64()
            let loggedAfter = try payload.u64()
            let usageCount = Int32(bitPattern: try payload.u32())
            let sourceOffset = payload.offset
            guard let source = DeviceWait.Source(rawValue: try payload.u8()) else {
                throw FormatError(offset: sourceOffset, problem: "unknown device wait source")
            }
            _ = try payload.bytes(3)
            guard payload.remaining <= DeviceWait.maxDeviceBytes else {
                throw FormatError(offset: payload.offset, problem: "device name of \(payload.remaining) bytes (at most \(DeviceWait.maxDeviceBytes))")
            }
            return .deviceWait(DeviceWait(device: try payload.string(payload.remaining), usageCount: usageCount,
                                          timestamp: timestamp, loggedAfter: loggedAfter, source: source))
        default:
            throw FormatError(offset: start, problem: "unknown entry type \(type)")
        }
    }
}

/// Little-endian encoding into bytes.
struct ByteWriter {
    var output: [UInt8] = []

    mutating func u8(_ value: UInt8) { output.append(value) }
    mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { output.append(contentsOf: $0) } }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { output.append(contentsOf: $0) } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { output.append(contentsOf: $0) } }
    mutating func bytes(_ value: [UInt8]) { output.append(contentsOf: value) }
    mutating func fixedString(_ value: String, size: Int) {
        let utf8 = Array(value.utf8.prefix(size - 1))
        output.append(contentsOf: utf8 + Array(repeating: 0, count: size - utf8.count))
    }
}

/// Little-endian decoding of untrusted bytes: every read is bounds-checked.
struct ByteReader {
    private let storage: [UInt8]
    private var position = 0
    /// Where `storage` starts in the file, for offsets in errors.
    private let base: Int

    init(_ bytes: [UInt8], base: Int = 0) {
        storage = bytes
        self.base = base
    }

    var offset: Int { base + position }
    var remaining: Int { storage.count - position }
    var isAtEnd: Bool { position >= storage.count }

    mutating func bytes(_ count: Int) throws(Recording.FormatError) -> [UInt8] {
        guard count >= 0, count <= remaining else {
            throw Recording.FormatError(offset: offset, problem: "truncated: \(count) bytes needed, \(remaining) left")
        }
        defer { position += count }
        return Array(storage[position..<(position + count)])
    }

    mutating func u8() throws(Recording.FormatError) -> UInt8 { try bytes(1)[0] }
    mutating func u16() throws(Recording.FormatError) -> UInt16 { UInt16(try integer(2)) }
    mutating func u32() throws(Recording.FormatError) -> UInt32 { UInt32(try integer(4)) }
    mutating func u64() throws(Recording.FormatError) -> UInt64 { try integer(8) }

    mutating func string(_ count: Int) throws(Recording.FormatError) -> String {
        String(decoding: try bytes(count), as: UTF8.self)
    }

    mutating func fixedString(_ size: Int) throws(Recording.FormatError) -> String {
        let raw = try bytes(size)
        return String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }

    private mutating func integer(_ size: Int) throws(Recording.FormatError) -> UInt64 {
        try bytes(size).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }
}
