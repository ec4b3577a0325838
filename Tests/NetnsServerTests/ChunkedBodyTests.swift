import Foundation
import NIOCore
import Synchronization
import Testing
@testable import NetnsServer
import NetnsExposition
@testable import NetnsClient
import TestKit

@Suite("HTTP exporter: bodies streamed in chunks")
struct ChunkedBodyTests {
    /// A body of `count` chunks of `size` bytes each, chunk i filled with the letter i mod 26,
    /// that counts how many chunks were rendered.
    final class Source: Sendable {
        let count: Int
        let size: Int
        let delay: Duration
        let rendered = Atomic<Int>(0)

        init(count: Int, size: Int, delay: Duration = .zero) {
            self.count = count
            self.size = size
            self.delay = delay
        }

        var body: ChunkedBody {
            ChunkedBody(count: count) { [self] index in
                if delay > .zero { Thread.sleep(forTimeInterval: Double(delay.components.attoseconds) / 1e18 + Double(delay.components.seconds)) }
                rendered.wrappingAdd(1, ordering: .relaxed)
                return ByteBuffer(repeating: UInt8(ascii: "a") + UInt8(index % 26), count: size)
            }
        }

        var expected: String {
            (0..<count).map { String(repeating: Character(Unicode.Scalar(UInt8(ascii: "a") + UInt8($0 % 26))), count: size) }.joined()
        }
    }

    /// An exporter serving `source` at /stream and "up 1" at /metrics.
    func withStreamingExporter(_ source: Source, limits: HTTPExporter.Limits = HTTPExporter.Limits(),
                               _ body: (Int) async throws -> Void) async throws {
        try await withExporter(limits: limits, router: { path, _ in
            switch path {
            case "/stream": HTTPReply(status: .ok, contentType: "text/plain", stream: source.body)
            case "/metrics": HTTPReply(status: .ok, contentType: "text/plain", body: "up 1\n")
            default: nil
            }
        }, body)
    }

    @Test("HTTP/1.1 gets the chunks in order, chunked, without a Content-Length", arguments: [1, 3, 40])
    func inOrder(chunks: Int) async throws {
        let source = Source(count: chunks, size: 70_000)
        try await withStreamingExporter(source) { port in
            let response = try RawHTTP.exchange(port: port, "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let head = response.prefix { $0 != "\r\n" && $0 != "\n" }
            #expect(head.hasPrefix("HTTP/1.1 200"))
            #expect(response.lowercased().contains("transfer-encoding: chunked"))
            #expect(!response.lowercased().contains("content-length"))
            #expect(try HTTPResponses.decode(response).body == source.expected)
            #expect(try AgentClient(url: "http://127.0.0.1:\(port)").get("/stream") == source.expected)
        }
    }

    @Test("an HTTP/1.0 client gets the body up to the connection's close, without chunked encoding")
    func http10() async throws {
        let source = Source(count: 5, size: 10_000)
        try await withStreamingExporter(source) { port in
            let response = try RawHTTP.exchange(port: port, "GET /stream HTTP/1.0\r\n\r\n")
            #expect(response.hasPrefix("HTTP/1.0 200"))
            #expect(!response.lowercased().contains("transfer-encoding"))
            let body = response.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
            #expect(body == source.expected)
        }
    }

    @Test("HEAD renders nothing")
    func head() async throws {
        let source = Source(count: 5, size: 10)
        try await withStreamingExporter(source) { port in
            let response = try RawHTTP.exchange(port: port, "HEAD /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(response.hasPrefix("HTTP/1.1 200"))
            #expect(source.rendered.load(ordering: .relaxed) == 0)
        }
    }

    @Test("a client that stops reading holds a few chunks, not the body; one that leaves stops the rendering")
    func boundedByTheClient() async throws {
        let source = Source(count: 400, size: 1 << 20)  // 400 MB if it were all rendered
        try await withStreamingExporter(source) { port in
            let stalled = try RawConnection(port: port)
            stalled.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            try await Task.sleep(for: .seconds(1))
            // The window, plus what the socket buffers of both ends took in.
            let held = source.rendered.load(ordering: .relaxed)
            #expect(held > 0 && held < 40, "\(held) chunks rendered for a client that reads nothing")
            _ = consume stalled  // closes the connection
            try await Task.sleep(for: .milliseconds(500))
            let afterLeaving = source.rendered.load(ordering: .relaxed)
            try await Task.sleep(for: .milliseconds(500))
            #expect(source.rendered.load(ordering: .relaxed) == afterLeaving)
            #expect(afterLeaving < 60)
            #expect(try RawHTTP.exchange(port: port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").hasSuffix("up 1\n"))
        }
    }

    @Test("a keep-alive connection is served again after a streamed body")
    func keepAlive() async throws {
        let source = Source(count: 3, size: 1000)
        try await withStreamingExporter(source) { port in
            let connection = try RawConnection(port: port)
            connection.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let both = connection.readAll()
            #expect(both.components(separatedBy: "HTTP/1.1 200").count == 3)
            #expect(both.hasSuffix("up 1\n"))
        }
    }

    @Test("after HEAD, the connection carries the next response intact")
    func headThenGet() async throws {
        let source = Source(count: 2, size: 10)
        try await withStreamingExporter(source) { port in
            let connection = try RawConnection(port: port)
            connection.send("HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let both = connection.readAll()
            let second = both.components(separatedBy: "\r\n\r\n")
            #expect(second.count == 3 && second[1].hasPrefix("HTTP/1.1 200"), "\(both)")
            #expect(both.hasSuffix("up 1\n"))
        }
    }

    @Test("a streamed response to a pipelined request is not cut off by the request deadline")
    func pipelinedStreamOutlastsTheDeadline() async throws {
        var limits = HTTPExporter.Limits()
        limits.requestTimeout = .milliseconds(400)
        let source = Source(count: 8, size: 1000, delay: .milliseconds(150))   // ~1.2 s to send
        try await withStreamingExporter(source, limits: limits) { port in
            let connection = try RawConnection(port: port)
            connection.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let both = connection.readAll()
            let stream = both.components(separatedBy: "up 1\n").last ?? ""
            #expect(try HTTPResponses.decode(stream).body == source.expected)
        }
    }
}
