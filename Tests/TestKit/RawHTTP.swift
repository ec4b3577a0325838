import Glibc

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

    public init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawHTTP.Failure(reason: "socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(fd); throw RawHTTP.Failure(reason: "connect") }
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
