import Testing
@testable import NetnsServer
import NetnsExposition
@testable import NetnsClient
import TestKit

@Suite("HTTP exporter")
struct HTTPExporterTests {
    static let get = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

    @Test("GET of a known path is served, other paths and methods are refused")
    func routes() async throws {
        try await withExporter { port in
            let ok = try RawHTTP.exchange(port: port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(ok.hasPrefix("HTTP/1.1 200"))
            #expect(ok.hasSuffix("up 1\n"))
            let missing = try RawHTTP.exchange(port: port, "GET /secret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(missing.hasPrefix("HTTP/1.1 404"))
            let post = try RawHTTP.exchange(port: port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            #expect(post.hasPrefix("HTTP/1.1 405"))
            #expect(post.contains("Allow: GET, HEAD"))
            let head = try RawHTTP.exchange(port: port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(head.hasPrefix("HTTP/1.1 200"))
            #expect(!head.contains("up 1"))
        }
    }

    @Test("a malformed request gets 400 and the server keeps serving")
    func malformed() async throws {
        try await withExporter { port in
            let bad = try RawHTTP.exchange(port: port, "THIS IS NOT HTTP\r\n\r\n")
            #expect(bad.hasPrefix("HTTP/1.1 400"))
            let ok = try RawHTTP.exchange(port: port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(ok.hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test("a busy port is a clear error")
    func busyPort() async throws {
        try await withExporter { port in
            await #expect(throws: (any Error).self) {
                _ = try await HTTPExporter.start(host: "127.0.0.1", port: port) { _, _ in nil }
            }
        }
    }

    @Test("a client trickling its request is cut off at the request timeout; everyone else is served meanwhile")
    func slowClient() async throws {
        var limits = HTTPExporter.Limits()
        limits.requestTimeout = .milliseconds(800)
        let statistics = HTTPExporter.Statistics()
        try await withExporter(limits: limits, statistics: statistics) { port in
            let slow = try RawConnection(port: port)
            slow.send("GET /metrics HTTP/1.1\r\nHost: x\r\n")
            let start = ContinuousClock.now
            // One header byte every 100 ms: each would reset a plain idle timer (30 s without
            // progress), so only the request deadline closes it before the loop gives up.
            // (Not an upper bound near 800 ms: on a loaded two-core host, each turn of this
            // loop was seen to take long enough that the close was noticed 3.5 s in.)
            while !slow.isClosedByPeer, ContinuousClock.now - start < .seconds(10) {
                #expect(try RawHTTP.exchange(port: port, Self.get).hasPrefix("HTTP/1.1 200"))
                slow.send("X")
                try await Task.sleep(for: .milliseconds(100))
            }
            let elapsed = ContinuousClock.now - start
            #expect(slow.isClosedByPeer)
            #expect(elapsed >= .milliseconds(700) && elapsed < .seconds(10), "closed after \(elapsed)")
            #expect(statistics.refusals.timeout == 1)
        }
    }

    @Test("a connection that never sends is closed; a kept-alive one gets a new deadline per request")
    func idleClients() async throws {
        var limits = HTTPExporter.Limits()
        limits.requestTimeout = .milliseconds(500)
        try await withExporter(limits: limits) { port in
            let idle = try RawConnection(port: port)
            let keepAlive = try RawConnection(port: port)
            for _ in 0..<3 {  // three requests, 300 ms apart: 900 ms in all on one connection
                keepAlive.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                try await Task.sleep(for: .milliseconds(300))
                #expect(!keepAlive.isClosedByPeer)
            }
            #expect(idle.isClosedByPeer)
        }
    }

    @Test("connections beyond the limit are closed at once and counted; a freed slot is served")
    func connectionLimit() async throws {
        var limits = HTTPExporter.Limits()
        limits.maxConnections = 3
        let statistics = HTTPExporter.Statistics()
        try await withExporter(limits: limits, statistics: statistics) { port in
            var held = try (0..<3).map { _ in try RawConnection(port: port) }
            try await Task.sleep(for: .milliseconds(100))
            let refused = try RawConnection(port: port)
            try await Task.sleep(for: .milliseconds(200))
            #expect(refused.isClosedByPeer)
            #expect(statistics.refusals.connectionLimit == 1)
            held.removeLast()
            try await Task.sleep(for: .milliseconds(200))
            #expect(try RawHTTP.exchange(port: port, Self.get).hasPrefix("HTTP/1.1 200"))
            #expect(held.allSatisfy { !$0.isClosedByPeer })
        }
    }

    /// A request built to be refused, named briefly (the test log shows the name, not the bytes).
    struct BadRequest: Sendable, CustomTestStringConvertible {
        var testDescription: String
        var bytes: String
        var status: String

        static let all = [
            BadRequest(testDescription: "200 KB header", bytes: "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: "
                           + String(repeating: "a", count: 200_000) + "\r\n\r\n", status: "HTTP/1.1 400"),
            BadRequest(testDescription: "300 KB body", bytes: "PUT /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n"
                           + String(repeating: "b", count: 300_000), status: "HTTP/1.1 413"),
            BadRequest(testDescription: "bad chunk size", bytes: "GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                       status: "HTTP/1.1 400"),
            BadRequest(testDescription: "path traversal", bytes: "GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       status: "HTTP/1.1 404"),
            BadRequest(testDescription: "a method HTTP does not define", bytes: "BREW /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       status: "HTTP/1.1 400"),
            BadRequest(testDescription: "another method", bytes: "DELETE /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       status: "HTTP/1.1 405"),
        ]
    }

    @Test("oversized, malformed and unknown requests are refused, then the server serves the next client", arguments: BadRequest.all)
    func badRequests(request: BadRequest) async throws {
        try await withExporter { port in
            let connection = try RawConnection(port: port)
            connection.send(request.bytes)
            let response = connection.readAll()
            #expect(response.hasPrefix(request.status), "\(response.prefix(80))")
            #expect(try RawHTTP.exchange(port: port, Self.get).hasPrefix("HTTP/1.1 200"))
        }
    }
}

/// Runs `body` with the port of an exporter that serves `router` (by default, "up 1" at
/// /metrics), then stops it.
func withExporter(limits: HTTPExporter.Limits = HTTPExporter.Limits(), statistics: HTTPExporter.Statistics = HTTPExporter.Statistics(),
                  security: WebSecurity? = nil,
                  router: @escaping HTTPExporter.Router = { path, _ in
                      path == "/metrics" ? HTTPReply(status: .ok, contentType: "text/plain", body: "up 1\n") : nil
                  },
                  _ body: (Int) async throws -> Void) async throws {
    let exporter = try await HTTPExporter.start(host: "127.0.0.1", port: 0, limits: limits, statistics: statistics,
                                                security: security, router: router)
    let port = try #require(exporter.localAddress?.port)
    do {
        try await body(port)
    } catch {
        await exporter.stop()
        throw error
    }
    await exporter.stop()
}
