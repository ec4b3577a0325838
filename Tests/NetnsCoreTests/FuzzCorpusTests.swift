import Foundation
import Testing
@testable import NetnsCore

/// Every input the fuzzers kept (fuzz/corpus) or crashed on (fuzz/crashers), replayed
/// through the same decoders on every test run: a fixed crash stays fixed.
@Suite("Fuzz corpus and crashers")
struct FuzzCorpusTests {
    static let fuzzRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appending(path: "fuzz")

    static func inputs(_ target: String) throws -> [(name: String, bytes: [UInt8])] {
        try ["corpus", "crashers"].flatMap { kind -> [(String, [UInt8])] in
            let directory = fuzzRoot.appending(path: "\(kind)/\(target)")
            guard FileManager.default.fileExists(atPath: directory.path) else { return [] }
            return try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted().map { name in
                ("\(kind)/\(target)/\(name)", try [UInt8](Data(contentsOf: directory.appending(path: name))))
            }
        }
    }

    @Test("recording inputs decode, or fail with an offset inside the input")
    func recordings() throws {
        let inputs = try Self.inputs("FuzzRecording")
        #expect(inputs.count >= 10, "the corpus is checked in")
        var decoded = 0
        for (name, bytes) in inputs {
            do {
                let recording = try Recording.decode(bytes)
                let encoded = Recording.header(realtimeOffset: recording.realtimeOffset) + recording.entries.flatMap(Recording.encode)
                #expect(try Recording.decode(encoded).entries.count == recording.entries.count, "\(name)")
                decoded += 1
            } catch {
                #expect((0...bytes.count).contains(error.offset), "\(name): offset \(error.offset) of \(bytes.count) bytes")
                #expect(!error.problem.isEmpty)
            }
        }
        #expect(decoded >= 1, "some corpus inputs are valid recordings")
    }

    @Test("event inputs decode or are refused, and the aggregator takes what decodes")
    func events() throws {
        let inputs = try Self.inputs("FuzzEvent")
        #expect(!inputs.isEmpty)
        for (_, bytes) in inputs {
            var aggregator = Aggregator()
            if let event = try? bytes.withUnsafeBytes({ try NetnsEvent(wire: $0) }) {
                aggregator.apply(event)
                _ = aggregator.leaks(at: event.timestamp)
            }
        }
    }

    @Test("cgroup path inputs name only ids found in the path")
    func cgroupPaths() throws {
        let inputs = try Self.inputs("FuzzCgroupPath")
        #expect(!inputs.isEmpty)
        for (name, bytes) in inputs {
            let path = String(decoding: bytes, as: UTF8.self)
            if let id = ContainerIdentity.parse(cgroupPath: path)?.containerID {
                #expect(path.contains(id), "\(name)")
            }
        }
    }
}
