import Foundation
import Glibc
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// Sends raw bytes to a loopback port and reads until the server closes.
public enum RawHTTP {
    public struct Failure: Error { public var reason: String }

    public static func exchange(port: Int, _ request: String) throws -> String {
        let connection = try RawConnection(port: port)
        guard connection.send(request) else { throw Failure(reason: "send") }
        return connection.readAll()
    }
}

/// One raw TCP connection to a loopback port, for clients that misbehave on purpose.
public final class RawConnection {
    public let fd: Int32

    /// Connects to `port` on loopback; with `receiveBufferBytes`, the receive buffer (and so the
    /// window offered to the server) is set that small first.
    public init(port: Int, receiveBufferBytes: Int32? = nil) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawHTTP.Failure(reason: "socket") }
        if var size = receiveBufferBytes {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(fd); throw RawHTTP.Failure(reason: "connect") }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Sends `text`; false if the peer has gone.
    @discardableResult
    public func send(_ text: String) -> Bool {
        var bytes = Array(text.utf8)
        return Glibc.send(fd, &bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count
    }

    /// Whether the server has closed the connection (end of stream or reset), without waiting.
    public var isClosedByPeer: Bool {
        var byte: UInt8 = 0
        let count = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if count == 0 { return true }
        return count < 0 && errno != EAGAIN && errno != EWOULDBLOCK
    }

    /// Everything the server sends until it closes (5 s at most per read).
    public func readAll() -> String {
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &chunk, chunk.count, 0)
            guard count > 0 else { break }
            response.append(contentsOf: chunk.prefix(count))
        }
        return String(decoding: response, as: UTF8.self)
    }
}

/// A loopback server that answers one connection with fixed bytes, whatever was asked, then
/// closes it: a server that misbehaves on purpose, for clients' tests.
public final class RawResponder: Sendable {
    /// The port it listens on.
    public let port: Int
    private let fd: Int32

    /// Listens on a free loopback port and answers the first connection with `response`.
    public init(response: String) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawHTTP.Failure(reason: "socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { close(fd); throw RawHTTP.Failure(reason: "listen") }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let listener = fd
        let thread = Thread {
            // 10 s for the client to connect and ask: a test that never does still ends.
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(listener, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            defer { close(connection) }
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var request: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while !request.suffix(4).elementsEqual([13, 10, 13, 10]), request.count < 65536 {
                let count = recv(connection, &chunk, chunk.count, 0)
                guard count > 0 else { return }
                request.append(contentsOf: chunk.prefix(count))
            }
            var bytes = Array(response.utf8)
            _ = send(connection, &bytes, bytes.count, Int32(MSG_NOSIGNAL))
        }
        thread.start()
    }

    deinit { close(fd) }
}

/// Reads HTTP responses with SwiftNIO's parser, as a client would.
public enum HTTPResponses {
    /// The status and body of the one response in `bytes` (answering a GET).
    public static func decode(_ bytes: String) throws -> (status: Int, body: String) {
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        try channel.pipeline.syncOperations.addHTTPClientHandlers()
        try channel.writeOutbound(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")))
        try channel.writeOutbound(HTTPClientRequestPart.end(nil))
        try channel.writeInbound(ByteBuffer(string: bytes))
        var status = 0
        var body = ""
        var ended = false
        while let part = try channel.readInbound(as: HTTPClientResponsePart.self) {
            switch part {
            case .head(let head): status = Int(head.status.code)
            case .body(let buffer): body += String(buffer: buffer)
            case .end: ended = true
            }
        }
        guard ended else { throw RawHTTP.Failure(reason: "the response did not end") }
        return (status, body)
    }
}
