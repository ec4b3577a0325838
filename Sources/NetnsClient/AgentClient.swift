import NetnsCore
import NIOCore
import NIOHTTP1
import NIOPosix

/// A client of a running agent's endpoint (`netns-tracer list`): plain HTTP/1.1 over TCP to a
/// host given by address or name, GET only, on SwiftNIO (its HTTP parser decodes the chunked
/// bodies the agent streams).
public struct AgentClient: Sendable {
    /// Why a request failed.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The agent's base URL, `http://HOST:PORT`.
    public let baseURL: String
    private let host: String
    private let port: Int

    /// The largest response body accepted.
    static let maximumResponseBytes = 256 << 20
    /// How long connecting may take, and how long the agent may stay silent after.
    static let timeout = TimeAmount.seconds(10)

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
        self.port = port
    }

    /// GETs `path` and returns the body of a 200 response. Blocks the calling thread.
    public func get(_ path: String) throws(Failure) -> String {
        let url = "\(baseURL)\(path)"
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let response = loop.makePromise(of: Response.self)
        let channel: Channel
        do {
            channel = try ClientBootstrap(group: loop)
                .connectTimeout(Self.timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandlers([
                            IdleStateHandler(readTimeout: Self.timeout),
                            ResponseCollector(response, limit: Self.maximumResponseBytes),
                        ])
                    }
                }
                .connect(host: host, port: port).wait()
        } catch {
            response.fail(error)
            throw Failure(description: "cannot connect to the agent at \(baseURL): \(Self.reason(error)) (is `netns-tracer run` running?)")
        }
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
        head.headers.add(name: "Host", value: host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
        head.headers.add(name: "Connection", value: "close")
        head.headers.add(name: "Accept", value: "*/*")
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let result: Response
        do {
            result = try response.futureResult.wait()
        } catch {
            channel.close(promise: nil)
            throw Failure(description: "\(url): \(Self.reason(error))")
        }
        let body = String(buffer: result.body)
        guard result.status == .ok else {
            throw Failure(description: "\(url) answered \(result.status.code): \(body.prefix(200))")
        }
        return body
    }

    private static func reason(_ error: any Error) -> String {
        switch error {
        case let error as NIOConnectionError: error.connectionErrors.first.map { "\($0.error)" } ?? "\(error)"
        case let error as HTTPParserError: "malformed response (\(error))"
        default: "\(error)"
        }
    }
}

/// A whole response: its status and body.
private struct Response: Sendable {
    var status: HTTPResponseStatus
    var body: ByteBuffer
}

/// Why a response did not arrive whole.
private struct ResponseFailure: Error, CustomStringConvertible {
    var description: String
}

/// Collects one response, up to `limit` bytes of body; completes `promise` once, with the
/// response or with why it did not arrive whole.
private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<Response>
    private let limit: Int
    private var head: HTTPResponseHead?
    private var body = ByteBuffer()
    private var completed = false

    init(_ promise: EventLoopPromise<Response>, limit: Int) {
        self.promise = promise
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let received):
            head = received
        case .body(var part):
            guard body.readableBytes + part.readableBytes <= limit else {
                return fail(ResponseFailure(description: "the response is larger than \(limit >> 20) MiB"), context: context)
            }
            body.writeBuffer(&part)
        case .end:
            guard let head, !completed else { return }
            completed = true
            promise.succeed(Response(status: head.status, body: body))
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            fail(ResponseFailure(description: "no answer for \(AgentClient.timeout.nanoseconds / 1_000_000_000) s"), context: context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error, context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(ResponseFailure(description: "the connection closed before the response ended"), context: context)
        context.fireChannelInactive()
    }

    private func fail(_ error: any Error, context: ChannelHandlerContext) {
        guard !completed else { return }
        completed = true
        promise.fail(error)
        context.close(promise: nil)
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
