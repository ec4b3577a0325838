import Testing
@testable import NetnsAgent

@Suite("HTTP exporter")
struct HTTPExporterTests {
    private func withExporter(_ body: (Int) async throws -> Void) async throws {
        let exporter = try await HTTPExporter.start(host: "127.0.0.1", port: 0) { path, _ in
            path == "/metrics" ? HTTPReply(status: .ok, contentType: "text/plain", body: "up 1\n") : nil
        }
        let port = try #require(exporter.localAddress?.port)
        do {
            try await body(port)
        } catch {
            await exporter.stop()
            throw error
        }
        await exporter.stop()
    }

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
}
