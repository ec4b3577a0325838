import Dispatch
import NetnsExposition
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// One response of the exporter.
public struct HTTPReply: Sendable {
    /// The status.
    public var status: HTTPResponseStatus
    /// The Content-Type.
    public var contentType: String
    /// The body, in parts sent one after the other, when it is held whole.
    public var parts: [ByteBuffer]
    /// The body, when it is rendered chunk by chunk as it is sent (then `parts` is empty).
    public var stream: ChunkedBody?
    /// The body, when it has no end of its own (then `parts` is empty).
    public var live: LiveBody?
    /// Extra headers.
    public var headers: [(String, String)] = []

    /// A reply whose body is `parts`, in order.
    public init(status: HTTPResponseStatus, contentType: String, parts: [ByteBuffer], headers: [(String, String)] = []) {
        self.status = status
        self.contentType = contentType
        self.parts = parts
        self.headers = headers
    }

    /// A reply with a text body.
    public init(status: HTTPResponseStatus, contentType: String, body: String, headers: [(String, String)] = []) {
        self.init(status: status, contentType: contentType, parts: [ByteBuffer(string: body)], headers: headers)
    }

    /// A reply whose body is rendered as it is sent, in chunked transfer encoding (or, to an
    /// HTTP/1.0 client, up to the connection's close).
    public init(status: HTTPResponseStatus, contentType: String, stream: ChunkedBody, headers: [(String, String)] = []) {
        self.init(status: status, contentType: contentType, parts: [], headers: headers)
        self.stream = stream
    }

    /// A reply whose body is pushed as things happen, chunk by chunk, until the client goes.
    public init(status: HTTPResponseStatus, contentType: String, live: LiveBody, headers: [(String, String)] = []) {
        self.init(status: status, contentType: contentType, parts: [], headers: headers)
        self.live = live
    }

    /// The body's length in bytes, when it is held whole.
    public var contentLength: Int? { stream == nil && live == nil ? parts.reduce(0) { $0 + $1.readableBytes } : nil }
}

/// A body with no end of its own (`GET /events`): once the response head is sent, `attach` is
/// given the connection's `LiveWriter`, and whoever holds it pushes chunks as things happen.
/// Such a connection has no idle limit (a quiet stream is not a stalled client); instead a
/// client that falls `maxPendingBytes` behind is cut off, so it never holds the agent's memory.
public struct LiveBody: Sendable {
    /// How far behind a client may fall before it is cut off.
    public var maxPendingBytes: Int
    /// Takes the writer of a connection whose stream has begun.
    public var attach: @Sendable (LiveWriter) -> Void

    public init(maxPendingBytes: Int, attach: @escaping @Sendable (LiveWriter) -> Void) {
        self.maxPendingBytes = maxPendingBytes
        self.attach = attach
    }
}

/// Sends chunks of a live body on one connection, from any thread.
public final class LiveWriter: Sendable {
    /// What became of a chunk.
    public enum Outcome: Sendable, Equatable {
        /// Queued for the client.
        case sent
        /// Not sent: the client has gone.
        case closed
        /// Not sent: the client was `maxPendingBytes` behind, and its connection is closed.
        case cutOff
    }

    private let channel: any Channel
    private let maxPendingBytes: Int
    /// Bytes handed to the connection and not yet written to its socket.
    private let pending = Atomic<Int>(0)
    private let open = Atomic<Bool>(true)

    init(channel: any Channel, maxPendingBytes: Int) {
        self.channel = channel
        self.maxPendingBytes = maxPendingBytes
        channel.closeFuture.whenComplete { [self] _ in open.store(false, ordering: .relaxed) }
    }

    /// Whether the client is still there.
    public var isOpen: Bool { open.load(ordering: .relaxed) }

    /// Sends `chunk` to the client (in chunked transfer encoding), or cuts the client off if
    /// it is still behind with earlier chunks and would be more than `maxPendingBytes` behind.
    /// (A client that has taken everything gets any chunk, however large: it is one buffer,
    /// shared by every follower.)
    public func send(_ chunk: ByteBuffer) -> Outcome {
        guard isOpen else { return .closed }
        let size = chunk.readableBytes
        let behind = pending.wrappingAdd(size, ordering: .relaxed).oldValue
        guard behind == 0 || behind + size <= maxPendingBytes else {
            pending.wrappingSubtract(size, ordering: .relaxed)
            open.store(false, ordering: .relaxed)
            channel.close(promise: nil)
            return .cutOff
        }
        channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(chunk))).whenComplete { [self] _ in
            pending.wrappingSubtract(size, ordering: .relaxed)
        }
        return .sent
    }

    /// Ends the body (the last chunk), then the connection.
    public func finish() {
        guard open.exchange(false, ordering: .relaxed) else { return }
        channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { [channel] _ in channel.close(promise: nil) }
    }
}

/// Serves the agent's read-only endpoints over HTTP/1.1.
///
/// Only `GET` and `HEAD` of the known paths are served; anything else gets 404 or 405, a
/// malformed or oversized request gets 400 or 413 and its connection closed. No client can
/// hold the server: a request must arrive whole within `Limits.requestTimeout` of the
/// connection opening or of the previous response (so a client trickling bytes is cut off
/// too), a connection that neither reads nor writes for `Limits.stallTimeout` is closed, and
/// connections beyond `Limits.maxConnections` are closed at once. What was refused is counted.
public final class HTTPExporter: Sendable {
    /// How much any client may take.
    public struct Limits: Sendable {
        /// Time for a whole request to arrive.
        public var requestTimeout: TimeAmount = .seconds(10)
        /// Time a connection may make no progress at all (a client that stops reading).
        public var stallTimeout: TimeAmount = .seconds(30)
        /// Connections served at once.
        public var maxConnections = 64

        /// The defaults.
        public init() {}
    }

    /// What the server refused, for the agent's own metrics.
    public final class Statistics: Sendable {
        /// Connections closed at once because `maxConnections` were open.
        public let connectionsRejected = Atomic<UInt64>(0)
        /// Connections closed because a request did not arrive in time or the client stalled.
        public let timeouts = Atomic<UInt64>(0)
        /// Requests answered with 400 (malformed) or 413 (too large).
        public let badRequests = Atomic<UInt64>(0)
        /// Requests answered with 401.
        public let unauthorized = Atomic<UInt64>(0)
        /// Connections whose TLS handshake failed.
        public let tlsHandshakes = Atomic<UInt64>(0)
        /// Connections open now.
        let open = Atomic<Int>(0)

        /// Zero counts.
        public init() {}

        /// The counts now.
        public var refusals: HTTPRefusals {
            var refusals = HTTPRefusals()
            refusals.connectionLimit = connectionsRejected.load(ordering: .relaxed)
            refusals.timeout = timeouts.load(ordering: .relaxed)
            refusals.badRequest = badRequests.load(ordering: .relaxed)
            refusals.unauthorized = unauthorized.load(ordering: .relaxed)
            refusals.tlsHandshake = tlsHandshakes.load(ordering: .relaxed)
            return refusals
        }
    }

    /// Produces the reply for a path (the query string removed) and the request's headers;
    /// called on an event loop, so it must be quick. `nil` means 404.
    public typealias Router = @Sendable (_ path: String, _ headers: HTTPHeaders) -> HTTPReply?

    private let channel: any Channel

    /// The address actually bound (useful with port 0).
    public var localAddress: SocketAddress? { channel.localAddress }

    private init(channel: any Channel) { self.channel = channel }

    /// Binds `host:port` and starts serving, with TLS and basic authentication if `security`
    /// says so (each connection is served with the configuration in force when it opened).
    public static func start(host: String, port: Int, limits: Limits = Limits(), statistics: Statistics = Statistics(),
                             security: WebSecurity? = nil, router: @escaping Router) async throws -> HTTPExporter {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let loaded = security?.current()
                    let handler = ExporterHandler(router: router, limits: limits, statistics: statistics,
                                                  authenticator: loaded?.authenticator, headers: loaded?.config.headers ?? [:])
                    try channel.pipeline.syncOperations.addHandler(ConnectionGate(limits: limits, statistics: statistics))
                    if let tls = loaded?.tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    }
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: limits.stallTimeout))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .childChannelOption(.maxMessagesPerRead, value: 4)
        let channel = try await bootstrap.bind(host: host, port: port).get()
        return HTTPExporter(channel: channel)
    }

    /// Stops accepting connections.
    public func stop() async {
        try? await channel.close()
    }
}

/// Closes connections beyond the limit as they open, and keeps the count of open ones.
private final class ConnectionGate: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    private let limits: HTTPExporter.Limits
    private let statistics: HTTPExporter.Statistics
    private var counted = false

    init(limits: HTTPExporter.Limits, statistics: HTTPExporter.Statistics) {
        self.limits = limits
        self.statistics = statistics
    }

    func channelActive(context: ChannelHandlerContext) {
        if statistics.open.wrappingAdd(1, ordering: .relaxed).newValue > limits.maxConnections {
            statistics.open.wrappingSubtract(1, ordering: .relaxed)
            statistics.connectionsRejected.wrappingAdd(1, ordering: .relaxed)
            context.close(promise: nil)
            return
        }
        counted = true
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted { statistics.open.wrappingSubtract(1, ordering: .relaxed) }
        counted = false
        context.fireChannelInactive()
    }
}

/// Answers each request on one connection.
private final class ExporterHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Requests carry no body here; a client that sends a large one is cut off.
    private static let maximumBodyBytes = 64 * 1024

    private let router: HTTPExporter.Router
    private let limits: HTTPExporter.Limits
    private let statistics: HTTPExporter.Statistics
    /// Checks each request's credentials, when basic authentication is on.
    private let authenticator: BasicAuthenticator?
    /// Added to every response (the web config's http_server_config.headers).
    private let extraHeaders: [(String, String)]
    private var request: HTTPRequestHead?
    private var bodyBytes = 0
    /// Closes the connection if the next request has not arrived whole by then.
    private var deadline: Scheduled<Void>?
    /// Responses begun and not yet sent whole.
    private var responding = 0
    /// Whether a live body is being sent: it is the connection's last response, and any
    /// further request on it is ignored.
    private var streaming = false

    init(router: @escaping HTTPExporter.Router, limits: HTTPExporter.Limits, statistics: HTTPExporter.Statistics,
         authenticator: BasicAuthenticator? = nil, headers: [String: String] = [:]) {
        self.router = router
        self.limits = limits
        self.statistics = statistics
        self.authenticator = authenticator
        self.extraHeaders = headers.sorted { $0.key < $1.key }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { armDeadline(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        armDeadline(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !streaming else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
            bodyBytes = 0
        case .body(let chunk):
            bodyBytes += chunk.readableBytes
            if bodyBytes > Self.maximumBodyBytes, let head = request {
                request = nil
                statistics.badRequests.wrappingAdd(1, ordering: .relaxed)
                respond(context: context, to: head, with: HTTPReply(
                    status: .payloadTooLarge, contentType: "text/plain", body: "request body too large\n"), close: true)
            }
        case .end:
            guard let head = request else { return }
            request = nil
            deadline?.cancel()
            deadline = nil
            guard let authenticator else {
                respond(context: context, to: head, with: reply(to: head), close: !head.isKeepAlive)
                return
            }
            // The next request waits (HTTP pipelining is serialised) until this one is answered.
            let loopBound = NIOLoopBound((context, self), eventLoop: context.eventLoop)
            authenticator.authorize(head.headers, on: context.eventLoop).whenComplete { result in
                let (context, handler) = loopBound.value
                guard case .success(true) = result else {
                    handler.statistics.unauthorized.wrappingAdd(1, ordering: .relaxed)
                    handler.respond(context: context, to: head, with: HTTPReply(
                        status: .unauthorized, contentType: "text/plain", body: "Unauthorized\n",
                        headers: [("WWW-Authenticate", "Basic realm=\"netns-tracer\", charset=\"UTF-8\"")]), close: !head.isKeepAlive)
                    return
                }
                handler.respond(context: context, to: head, with: handler.reply(to: head), close: !head.isKeepAlive)
            }
        }
    }

    /// HTTP protocol errors have been answered with 400 by NIO's error handler; a TLS error
    /// ends the connection too. A client that hangs up without TLS close_notify is no error.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case NIOSSLError.uncleanShutdown:
            break
        case is NIOSSLError, is BoringSSLError:
            statistics.tlsHandshakes.wrappingAdd(1, ordering: .relaxed)
        default:
            statistics.badRequests.wrappingAdd(1, ordering: .relaxed)
        }
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            statistics.timeouts.wrappingAdd(1, ordering: .relaxed)
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func armDeadline(context: ChannelHandlerContext) {
        deadline?.cancel()
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let statistics = statistics
        deadline = context.eventLoop.scheduleTask(in: limits.requestTimeout) {
            statistics.timeouts.wrappingAdd(1, ordering: .relaxed)
            loopBound.value.close(promise: nil)
        }
    }

    private func reply(to head: HTTPRequestHead) -> HTTPReply {
        guard head.method == .GET || head.method == .HEAD else {
            return HTTPReply(status: .methodNotAllowed, contentType: "text/plain",
                             body: "only GET and HEAD are served\n", headers: [("Allow", "GET, HEAD")])
        }
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        return router(path, head.headers) ?? HTTPReply(status: .notFound, contentType: "text/plain", body: "not found: try /metrics, /namespaces or /events\n")
    }

    private func respond(context: ChannelHandlerContext, to head: HTTPRequestHead, with reply: HTTPReply, close: Bool) {
        responding += 1
        // A streamed body to an HTTP/1.0 client has no chunked encoding: it ends at the close.
        let close = close || (reply.stream != nil && head.version == .http1_0)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: reply.contentType)
        if let length = reply.contentLength { headers.add(name: "Content-Length", value: String(length)) }
        headers.add(name: "Cache-Control", value: "no-store")
        for (name, value) in reply.headers + extraHeaders { headers.add(name: name, value: value) }
        if close { headers.add(name: "Connection", value: "close") }
        // Without a Content-Length, NIO's encoder sends an HTTP/1.1 body chunked.
        let responseHead = HTTPResponseHead(version: head.version, status: reply.status, headers: headers)
        context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
        if let live = reply.live, head.method != .HEAD {
            streaming = true
            context.flush()
            if let idle = try? context.pipeline.syncOperations.context(handlerType: IdleStateHandler.self) {
                context.pipeline.syncOperations.removeHandler(context: idle, promise: nil)
            }
            live.attach(LiveWriter(channel: context.channel, maxPendingBytes: live.maxPendingBytes))
            return
        }
        if let stream = reply.stream, head.method != .HEAD {
            ChunkedSender(body: stream, context: context) { [self] in self.finish(context: context, close: close) }.start()
            return
        }
        if head.method != .HEAD {
            for part in reply.parts where part.readableBytes > 0 {
                context.write(wrapOutboundOut(.body(.byteBuffer(part))), promise: nil)
            }
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        let loopBound = NIOLoopBound((context, self), eventLoop: context.eventLoop)
        done.whenComplete { _ in
            let (context, handler) = loopBound.value
            handler.finish(context: context, close: close)
        }
    }

    /// After a response is sent: closes the connection, or starts the next request's clock
    /// once no response is being sent (a pipelined request's may have started already).
    private func finish(context: ChannelHandlerContext, close: Bool) {
        responding -= 1
        if close {
            context.close(promise: nil)
        } else if responding == 0, context.channel.isActive {
            armDeadline(context: context)
        }
    }
}

/// Sends a chunked body on one connection: renders chunks off the event loop, several at once,
/// and writes them in order. A chunk is rendered only when one written before it has reached
/// the socket, so at most `window` chunks are held, however large the body and however slow
/// the client. Confined to the connection's event loop.
private final class ChunkedSender {
    /// Chunks rendered, waiting or being written, at most: two per core keeps every core busy
    /// while the socket drains; eight (about 24 MB of `/namespaces`) at most on large hosts.
    static let window = min(2 * System.coreCount, 8)

    private let body: ChunkedBody
    private let context: ChannelHandlerContext
    private let finished: () -> Void
    private var dispatched = 0
    private var written = 0
    private var ready: [Int: ByteBuffer] = [:]
    private var failed = false

    init(body: ChunkedBody, context: ChannelHandlerContext, finished: @escaping () -> Void) {
        self.body = body
        self.context = context
        self.finished = finished
    }

    func start() {
        for _ in 0..<min(Self.window, body.count) { renderNext() }
        if body.count == 0 { end() }
    }

    private func renderNext() {
        guard !failed, dispatched < body.count else { return }
        let index = dispatched
        dispatched += 1
        let render = body.render
        let eventLoop = context.eventLoop
        let loopBound = NIOLoopBound(self, eventLoop: eventLoop)
        DispatchQueue.global().async {
            let chunk = render(index)
            eventLoop.execute { loopBound.value.rendered(index, chunk) }
        }
    }

    private func rendered(_ index: Int, _ chunk: ByteBuffer) {
        guard !failed else { return }
        ready[index] = chunk
        while let next = ready.removeValue(forKey: written) {
            written += 1
            let sent = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(next))), promise: sent)
            sent.futureResult.whenComplete { [self] result in
                if case .failure = result {
                    failed = true
                    context.close(promise: nil)   // the response cannot end: nor can the connection
                } else {
                    renderNext()
                }
            }
        }
        if written == body.count { end() }
    }

    private func end() {
        let done = context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
        done.whenComplete { [self] _ in finished() }
    }
}
