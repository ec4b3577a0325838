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
        let result: Response = try request(path, accept: "*/*", close: true) { response in
            [IdleStateHandler(readTimeout: Self.timeout), ResponseCollector(response, limit: Self.maximumResponseBytes)]
        }
        let body = String(buffer: result.body)
        guard result.status == .ok else {
            throw Failure(description: "\(baseURL)\(path) answered \(result.status.code): \(body.prefix(200))")
        }
        return body
    }

    /// The longest line `follow` accepts.
    static let maximumLineBytes = 64 << 10

    /// GETs `path`, a stream of lines (`/events`), calls `onStart` once the agent has accepted,
    /// then `onLine` with each line as it arrives, on another thread, one at a time, until the
    /// agent ends the stream. Blocks the calling thread; only the connection and the response
    /// head have a deadline (a stream may be quiet for hours).
    public func follow(_ path: String, onStart: @escaping @Sendable () -> Void = {},
                       onLine: @escaping @Sendable (String) -> Void) throws(Failure) {
        let _: Void = try request(path, accept: "application/x-ndjson", close: false) { ended in
            [LineFollower(ended, headTimeout: Self.timeout, maximumLineBytes: Self.maximumLineBytes,
                          onStart: onStart, onLine: onLine)]
        }
    }

    /// Connects, sends a GET of `path` and waits for what the handlers `handling` makes
    /// complete their promise with.
    private func request<Result: Sendable>(
        _ path: String, accept: String, close: Bool,
        handling: @escaping @Sendable (EventLoopPromise<Result>) -> [any ChannelHandler]
    ) throws(Failure) -> Result {
        let url = "\(baseURL)\(path)"
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let promise = loop.makePromise(of: Result.self)
        let channel: Channel
        do {
            channel = try ClientBootstrap(group: loop)
                .connectTimeout(Self.timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandlers(handling(promise))
                    }
                }
                .connect(host: host, port: port).wait()
        } catch {
            promise.fail(error)
            throw Failure(description: "cannot connect to the agent at \(baseURL): \(Self.reason(error)) (is `netns-tracer run` running?)")
        }
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
        head.headers.add(name: "Host", value: host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
        if close { head.headers.add(name: "Connection", value: "close") }
        head.headers.add(name: "Accept", value: accept)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        do {
            return try promise.futureResult.wait()
        } catch {
            channel.close(promise: nil)
            throw Failure(description: "\(url): \(Self.reason(error))")
        }
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

/// Hands each line of a streamed response to `onLine`; completes `promise` when the stream
/// ends (with a failure if it was not a 200, the head did not come in time, or a line was too
/// long).
private final class LineFollower: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<Void>
    private let headTimeout: TimeAmount
    private let maximumLineBytes: Int
    private let onStart: @Sendable () -> Void
    private let onLine: @Sendable (String) -> Void
    private var status: HTTPResponseStatus?
    private var pending = ByteBuffer()
    private var headDeadline: Scheduled<Void>?
    private var completed = false

    init(_ promise: EventLoopPromise<Void>, headTimeout: TimeAmount, maximumLineBytes: Int,
         onStart: @escaping @Sendable () -> Void, onLine: @escaping @Sendable (String) -> Void) {
        self.promise = promise
        self.onStart = onStart
        self.headTimeout = headTimeout
        self.maximumLineBytes = maximumLineBytes
        self.onLine = onLine
    }

    func channelActive(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let seconds = headTimeout.nanoseconds / 1_000_000_000
        headDeadline = context.eventLoop.scheduleTask(in: headTimeout) {
            let (follower, context) = loopBound.value
            follower.fail(ResponseFailure(description: "no answer for \(seconds) s"), context: context)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            headDeadline?.cancel()
            status = head.status
            if head.status == .ok { onStart() }
        case .body(var part):
            pending.writeBuffer(&part)
            guard status == .ok else {
                if pending.readableBytes > maximumLineBytes { pending.moveWriterIndex(to: maximumLineBytes) }
                return
            }
            while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                let length = newline - pending.readerIndex
                let line = pending.readString(length: length) ?? ""
                pending.moveReaderIndex(forwardBy: 1)
                if !line.isEmpty { onLine(line) }
            }
            pending.discardReadBytes()
            if pending.readableBytes > maximumLineBytes {
                fail(ResponseFailure(description: "a line longer than \(maximumLineBytes >> 10) KiB"), context: context)
            }
        case .end:
            guard let status, status == .ok else {
                let body = pending.readString(length: min(pending.readableBytes, 200)) ?? ""
                return fail(ResponseFailure(description: "answered \(status?.code ?? 0): \(body)"), context: context)
            }
            complete(context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error, context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if status == .ok {
            complete(context: context)   // an agent that stops ends the stream by closing it
        } else {
            fail(ResponseFailure(description: "the connection closed before the response began"), context: context)
        }
        context.fireChannelInactive()
    }

    private func complete(context: ChannelHandlerContext) {
        guard !completed else { return }
        completed = true
        headDeadline?.cancel()
        promise.succeed(())
        context.close(promise: nil)
    }

    private func fail(_ error: any Error, context: ChannelHandlerContext) {
        guard !completed else { return }
        completed = true
        headDeadline?.cancel()
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
