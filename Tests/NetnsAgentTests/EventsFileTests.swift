import Foundation
import NIOCore
import Testing
@testable import NetnsAgent

/// `--events-file`'s writer, on real files: every line whole, in order, rotated by size, the
/// oldest files removed, and nothing lost that it does not count.
@Suite("Events file")
struct EventsFileTests {
    /// A directory of its own, removed afterwards.
    final class Directory {
        let path = FileManager.default.temporaryDirectory.appending(path: "netns-events-\(UUID().uuidString)").path
        init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false) }
        deinit { try? FileManager.default.removeItem(atPath: path) }

        func lines(_ name: String) -> [String]? {
            (try? String(contentsOfFile: "\(path)/\(name)", encoding: .utf8)).map { $0.split(separator: "\n").map(String.init) }
        }

        func size(_ name: String) -> Int? {
            (try? FileManager.default.attributesOfItem(atPath: "\(path)/\(name)"))?[.size] as? Int
        }
    }

    /// `count` numbered lines of 100 bytes each (newline included), in one chunk.
    static func chunk(from first: Int, count: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        for number in first..<first + count {
            let text = "{\"line\":\(number)}"
            buffer.writeString(text + String(repeating: " ", count: 99 - text.utf8.count) + "\n")
        }
        return buffer
    }

    static func number(_ line: String) -> Int? {
        Int(line.split(separator: ":").last?.prefix { $0.isNumber } ?? "")
    }

    @Test("lines are appended whole and in order; the file rotates before it passes its size, keeping three older files")
    func rotation() throws {
        let directory = try Directory()
        let file = try EventsFile(path: "\(directory.path)/events.jsonl", maxBytes: 1000)
        // 95 lines in chunks of 7: ten lines fit a file, so nine rotations; the first six
        // files' lines go with the oldest.
        for first in stride(from: 0, to: 95, by: 7) { file.append(Self.chunk(from: first, count: min(7, 95 - first)), lines: 7) }
        file.finish()
        #expect(file.statistics.written == 95)
        #expect(file.statistics.dropped == 0 && file.statistics.errors == 0)
        #expect(file.statistics.rotations == 9)
        let names = ["events.jsonl.3", "events.jsonl.2", "events.jsonl.1", "events.jsonl"]
        for name in names { #expect((directory.size(name) ?? .max) <= 1000, "\(name): \(directory.size(name) ?? -1) bytes") }
        #expect(directory.size("events.jsonl.4") == nil, "only three older files are kept")
        for name in names {
            let mode = try FileManager.default.attributesOfItem(atPath: "\(directory.path)/\(name)")[.posixPermissions] as? Int
            #expect(mode.map { $0 & ~0o640 } == 0, "\(name) is readable by its owner and group at most: \(String(mode ?? -1, radix: 8))")
        }
        let kept = names.flatMap { directory.lines($0) ?? [] }.compactMap(Self.number)
        #expect(kept == Array(60..<95), "the newest lines, each once, in order")
    }

    @Test("an existing file is appended to and counts towards the size; a line longer than the limit gets a file of its own")
    func existingAndOversized() throws {
        let directory = try Directory()
        let path = "\(directory.path)/events.jsonl"
        try String(repeating: "x", count: 899).appending("\n").write(toFile: path, atomically: false, encoding: .utf8)
        let file = try EventsFile(path: path, maxBytes: 1000)
        var long = ByteBuffer()
        long.writeString(String(repeating: "y", count: 2999) + "\n")
        file.append(Self.chunk(from: 0, count: 2), lines: 2)   // one fits, one does not
        file.append(long, lines: 1)
        file.append(Self.chunk(from: 2, count: 1), lines: 1)
        file.finish()
        #expect(directory.lines("events.jsonl.3")?.map(\.count) == [899, 99])
        #expect(directory.lines("events.jsonl.2")?.compactMap(Self.number) == [1])
        #expect(directory.lines("events.jsonl.1")?.map(\.count) == [2999])
        #expect(directory.lines("events.jsonl")?.compactMap(Self.number) == [2])
        #expect(file.statistics.written == 4 && file.statistics.rotations == 3)
    }

    @Test("a stalled disk never holds the caller: past 4 MiB queued, chunks are dropped and counted")
    func stalled() throws {
        let directory = try Directory()
        let file = try EventsFile(path: "\(directory.path)/events.jsonl", maxBytes: 1 << 30)
        let stall = DispatchSemaphore(value: 0)
        file.queue.async { stall.wait() }  // the disk, as slow as it gets
        let appended = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            for first in stride(from: 0, to: 50_000, by: 1000) { file.append(Self.chunk(from: first, count: 1000), lines: 1000) }
            appended.signal()
        }
        let returned = appended.wait(timeout: .now() + 60) == .success
        stall.signal()
        try #require(returned, "appending waited for the stalled writes")
        file.finish()
        // 4 MiB is 41 chunks of 100,000 bytes: those are written, the other 9 dropped whole.
        #expect(file.statistics.written == 41_000)
        #expect(file.statistics.dropped == 9_000)
        #expect(directory.lines("events.jsonl")?.count == 41_000)
    }

    @Test("what cannot be opened is refused with the flag's name; when rotation fails, lines go on into the open file")
    func refusalsAndRecovery() throws {
        let directory = try Directory()
        #expect { try EventsFile(path: directory.path) } throws: { "\($0)".hasPrefix("--events-file \(directory.path): cannot open it") }
        #expect { try EventsFile(path: "\(directory.path)/missing/events.jsonl") } throws: { "\($0)".contains("cannot open it") }
        let target = "\(directory.path)/target"
        FileManager.default.createFile(atPath: target, contents: nil)
        try FileManager.default.createSymbolicLink(atPath: "\(directory.path)/link", withDestinationPath: target)
        #expect(throws: EventsFile.Failure.self, "a symbolic link is not followed") { try EventsFile(path: "\(directory.path)/link") }

        // A rotation whose target directory is gone: the lines go on into the open file, and
        // the failures are counted.
        let inner = "\(directory.path)/inner"
        try FileManager.default.createDirectory(atPath: inner, withIntermediateDirectories: false)
        let file = try EventsFile(path: "\(inner)/events.jsonl", maxBytes: 4096)
        try FileManager.default.removeItem(atPath: inner)
        file.append(Self.chunk(from: 0, count: 50), lines: 50)
        file.finish()
        #expect(file.statistics.written == 50, "written on past the limit rather than lost")
        #expect(file.statistics.errors >= 1)
    }
}
