import Glibc
import NetnsCore

/// A minimal HTTP/1.1 client for talking to a running agent (`netns-tracer list`).
/// Plain HTTP over TCP to a host given by address or name; GET only.
public struct AgentClient: Sendable {
    /// Why a request failed.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The agent's base URL, `http://HOST:PORT`.
    public let baseURL: String
    private let host: String
    private let port: UInt16

    /// The largest response accepted.
    static let maximumResponseBytes = 256 << 20

    /// Parses `http://HOST[:PORT]` (IPv6 hosts in brackets).
    public init(url: String) throws(Failure) {
        guard url.hasPrefix("http://") else {
            throw Failure(description: "agent URL must start with http:// (got '\(url)')")
        }
        var authority = Substring(url.dropFirst("http://".count))
        if let slash = authority.firstIndex(of: "/") { authority = authority[..<slash] }
        guard let (host, port) = parseHostPort(String(authority), defaultPort: AgentEndpoint.defaultPort) else {
            throw Failure(description: "cannot read host and port from '\(url)'")
        }
        self.baseURL = "http://\(authority)"
        self.host = host
        self.port = UInt16(port)
    }

    /// GETs `path` and returns the body of a 200 response.
    public func get(_ path: String) throws(Failure) -> String {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &results) == 0, let first = results else {
            throw Failure(description: "cannot resolve \(host)")
        }
        defer { freeaddrinfo(results) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            throw Failure(description: "cannot connect to the agent at \(baseURL): \(String(cString: strerror(errno))) (is `netns-tracer run` running?)")
        }
        let request = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\nAccept: */*\r\n\r\n"
        var requestBytes = Array(request.utf8)
        guard send(fd, &requestBytes, requestBytes.count, Int32(MSG_NOSIGNAL)) == requestBytes.count else {
            throw Failure(description: "cannot send request to \(baseURL)")
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while response.count < Self.maximumResponseBytes {
            let count = recv(fd, &chunk, chunk.count, 0)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            response.append(contentsOf: chunk.prefix(count))
        }
        return try Self.body(of: response, from: "\(baseURL)\(path)")
    }

    /// Splits a complete `Connection: close` response and checks its status.
    static func body(of response: [UInt8], from url: String) throws(Failure) -> String {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let headerEnd = response.indices.first(where: { response[$0...].starts(with: separator) }) else {
            throw Failure(description: "malformed response from \(url)")
        }
        let header = String(decoding: response[..<headerEnd], as: UTF8.self)
        let statusLine = header.split(separator: "\r\n").first ?? ""
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else {
            throw Failure(description: "malformed status line from \(url): \(statusLine)")
        }
        let rawBody = response[(headerEnd + 4)...]
        let chunked = header.split(separator: "\r\n").dropFirst().contains { line in
            let field = line.split(separator: ":", maxSplits: 1)
            return field.count == 2 && field[0].lowercased() == "transfer-encoding" && field[1].lowercased().contains("chunked")
        }
        let body = String(decoding: chunked ? try dechunk(rawBody, from: url) : Array(rawBody), as: UTF8.self)
        guard status == 200 else {
            throw Failure(description: "\(url) answered \(status): \(body.prefix(200))")
        }
        return body
    }

    /// The data of a body in chunked transfer encoding (RFC 9112 §7.1): each chunk's size in
    /// hex (extensions ignored), CRLF, its data, CRLF, up to a chunk of size 0.
    static func dechunk(_ encoded: ArraySlice<UInt8>, from url: String) throws(Failure) -> [UInt8] {
        let malformed = Failure(description: "malformed chunked body from \(url)")
        var data: [UInt8] = []
        var index = encoded.startIndex
        while true {
            guard let lineEnd = encoded[index...].firstIndex(of: 10), lineEnd > index, encoded[lineEnd - 1] == 13 else {
                throw malformed
            }
            let sizeField = encoded[index..<(lineEnd - 1)].prefix { $0 != UInt8(ascii: ";") }
            // Hex digits only: `Int(_:radix:)` would also take a sign.
            guard (1...15).contains(sizeField.count), sizeField.allSatisfy({ Character(Unicode.Scalar($0)).isHexDigit }),
                  let size = Int(String(decoding: sizeField, as: UTF8.self), radix: 16) else {
                throw malformed
            }
            index = lineEnd + 1
            if size == 0 { return data }   // trailer fields, if any, are not needed
            guard encoded.endIndex - index >= size + 2, encoded[index + size] == 13, encoded[index + size + 1] == 10 else {
                throw malformed
            }
            data += encoded[index..<(index + size)]
            index += size + 2
        }
    }
}

/// Parses `HOST:PORT`, `[V6]:PORT`, `:PORT` or `HOST` into a host and a port.
public func parseHostPort(_ text: String, defaultPort: Int, defaultHost: String = "127.0.0.1") -> (String, Int)? {
    var host = Substring(text)
    var portText: Substring? = nil
    if host.hasPrefix("[") {
        guard let close = host.firstIndex(of: "]") else { return nil }
        let rest = host[host.index(after: close)...]
        host = host[host.index(after: host.startIndex)..<close]
        if rest.hasPrefix(":") { portText = rest.dropFirst() } else if !rest.isEmpty { return nil }
    } else if let colon = host.lastIndex(of: ":") {
        guard host[..<colon].firstIndex(of: ":") == nil else { return nil }  // bare IPv6 needs brackets
        portText = host[host.index(after: colon)...]
        host = host[..<colon]
    }
    let port: Int
    if let portText {
        guard let parsed = Int(portText), (0...65535).contains(parsed) else { return nil }
        port = parsed
    } else {
        port = defaultPort
    }
    return (host.isEmpty ? defaultHost : String(host), port)
}
