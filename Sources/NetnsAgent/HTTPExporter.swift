import NIOCore
import NIOHTTP1
import NIOPosix

/// One response of the exporter.
public struct HTTPReply: Sendable {
    /// The status.
    public var status: HTTPResponseStatus
    /// The Content-Type.
    public var contentType: String
    /// The body.
    public var body: [UInt8]
    /// Extra headers.
    public var headers: [(String, String)] = []

    /// A reply with a body of bytes.
    public init(status: HTTPResponseStatus, contentType: String, bytes: [UInt8], headers: [(String, String)] = []) {
        self.status = status
        self.contentType = contentType
        self.body = bytes
        self.headers = headers
    }

    /// A reply with a text body.
    public init(status: HTTPResponseStatus, contentType: String, body: String, headers: [(String, String)] = []) {
        self.init(status: status, contentType: contentType, bytes: Array(body.utf8), headers: headers)
    }
}

/// Serves the agent's read-only endpoints over HTTP/1.1.
///
/// Only `GET` and `HEAD` of the known paths are served; anything else gets 404 or 405, a
/// malformed request gets 400 and its connection closed, and idle connections are closed.
public final class HTTPExporter: Sendable {
    /// Produces the reply for a path (the query string removed) and the request's headers;
    /// called on an event loop, so it must be quick. `nil` means 404.
    public typealias Router = @Sendable (_ path: String, _ headers: HTTPHeaders) -> HTTPReply?

    private let channel: any Channel

    /// The address actually bound (useful with port 0).
    public var localAddress: SocketAddress? { channel.localAddress }

    private init(channel: any Channel) { self.channel = channel }

    /// Binds `host:port` and starts serving.
    public static func start(host: String, port: Int, router: @escaping Router) async throws -> HTTPExporter {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(30)))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ExporterHandler(router: router))
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

/// Answers each request on one connection.
private final class ExporterHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Requests carry no body here; a client that sends a large one is cut off.
    private static let maximumBodyBytes = 64 * 1024

    private let router: HTTPExporter.Router
    private var request: HTTPRequestHead?
    private var bodyBytes = 0

    init(router: @escaping HTTPExporter.Router) { self.router = router }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
            bodyBytes = 0
        case .body(let chunk):
            bodyBytes += chunk.readableBytes
            if bodyBytes > Self.maximumBodyBytes, let head = request {
                request = nil
                respond(context: context, to: head, with: HTTPReply(
                    status: .payloadTooLarge, contentType: "text/plain", body: "request body too large\n"), close: true)
            }
        case .end:
            guard let head = request else { return }
            request = nil
            respond(context: context, to: head, with: reply(to: head), close: !head.isKeepAlive)
        }
    }

    /// Protocol errors have been answered with 400 by NIO's error handler: drop the client.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func reply(to head: HTTPRequestHead) -> HTTPReply {
        guard head.method == .GET || head.method == .HEAD else {
            return HTTPReply(status: .methodNotAllowed, contentType: "text/plain",
                             body: "only GET and HEAD are served\n", headers: [("Allow", "GET, HEAD")])
        }
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        return router(path, head.headers) ?? HTTPReply(status: .notFound, contentType: "text/plain", body: "not found: try /metrics or /namespaces\n")
    }

    private func respond(context: ChannelHandlerContext, to head: HTTPRequestHead, with reply: HTTPReply, close: Bool) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: reply.contentType)
        headers.add(name: "Content-Length", value: String(reply.body.count))
        headers.add(name: "Cache-Control", value: "no-store")
        for (name, value) in reply.headers { headers.add(name: name, value: value) }
        if close { headers.add(name: "Connection", value: "close") }
        let responseHead = HTTPResponseHead(version: head.version, status: reply.status, headers: headers)
        context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
        if head.method != .HEAD {
            let buffer = context.channel.allocator.buffer(bytes: reply.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if close {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            done.whenComplete { _ in loopBound.value.close(promise: nil) }
        }
    }
}
