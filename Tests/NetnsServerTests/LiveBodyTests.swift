import NIOCore
import Synchronization
import Testing
@testable import NetnsServer
import TestKit

/// Live bodies (`GET /events`), against a real exporter on loopback.
@Suite("Live bodies")
struct LiveBodyTests {
    /// The writers of the connections that asked for /live.
    final class Writers: Sendable {
        let attached = Mutex<[LiveWriter]>([])
        var first: LiveWriter? { attached.withLock { $0.first } }
    }

    static func live(_ writers: Writers, maxPendingBytes: Int = 1 << 20) -> HTTPExporter.Router {
        { path, _ in
            path == "/live"
                ? HTTPReply(status: .ok, contentType: "application/x-ndjson", live: LiveBody(maxPendingBytes: maxPendingBytes) { writer in
                    writers.attached.withLock { $0.append(writer) }
                })
                : nil
        }
    }

    @Test("a quiet stream outlives the stall timeout, then carries what is sent, and ends whole")
    func quietStreamStays() async throws {
        var limits = HTTPExporter.Limits()
        limits.stallTimeout = .milliseconds(500)
        limits.requestTimeout = .milliseconds(500)
        let writers = Writers()
        try await withExporter(limits: limits, router: Self.live(writers)) { port in
            let connection = try RawConnection(port: port)
            connection.send("GET /live HTTP/1.1\r\nHost: x\r\n\r\n")
            let deadline = ContinuousClock.now + .seconds(10)
            while writers.first == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            let writer = try #require(writers.first)
            try await Task.sleep(for: .seconds(2))   // four stall timeouts with nothing sent
            #expect(writer.isOpen)
            #expect(writer.send(ByteBuffer(string: "{\"event\":\"created\"}\n")) == .sent)
            writer.finish()
            let response = connection.readAll()
            #expect(response.hasPrefix("HTTP/1.1 200"))
            #expect(response.contains("Transfer-Encoding: chunked") || response.contains("transfer-encoding: chunked"))
            #expect(response.contains("{\"event\":\"created\"}\n"))
            #expect(response.hasSuffix("0\r\n\r\n"), "the stream ends with the last chunk: \(response.suffix(40))")
        }
    }

    @Test("a client that takes nothing is cut off once it is behind by more than the limit, not before")
    func cutOffWhenBehind() async throws {
        let writers = Writers()
        try await withExporter(router: Self.live(writers, maxPendingBytes: 64 << 10)) { port in
            let connection = try RawConnection(port: port, receiveBufferBytes: 4096)
            connection.send("GET /live HTTP/1.1\r\nHost: x\r\n\r\n")
            let deadline = ContinuousClock.now + .seconds(10)
            while writers.first == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            let writer = try #require(writers.first)
            let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 32 << 10)
            var outcomes: [LiveWriter.Outcome] = []
            // The kernel takes a few MiB into the socket buffers first; then 64 KiB may wait.
            for _ in 0..<2048 where outcomes.last != .cutOff {
                outcomes.append(writer.send(chunk))
                try await Task.sleep(for: .milliseconds(1))
            }
            #expect(outcomes.last == .cutOff, "\(outcomes.count) chunks of 32 KiB sent without a cut")
            #expect(writer.send(chunk) == .closed)
            #expect(!writer.isOpen)
        }
    }
}
