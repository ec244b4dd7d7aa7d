// The transport: HTTP and WebSocket on Hummingbird. Each role builds its router from the pieces here — the
// shared API (`APIRoutes`), the WebSocket session and its bounded outbound queue, the web client's files, the
// error shape — and runs it as one `Service` among its others.

public import Hummingbird
public import HummingbirdWebSocket
import HummingbirdCore
public import NIOCore
public import Logging
import PlazaWebClient
import PlazaCore
public import PlazaMetrics

/// The request context of every Plaza route: Hummingbird's core context plus the channel, so a session can
/// drop a socket that will not take a close frame.
public struct PlazaRequestContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<Self>
    /// The connection's channel, held weakly: Hummingbird's WebSocket router keeps each upgraded request's
    /// context in a reference cycle (its handler box holds the context, which holds the box), so a strong
    /// reference here kept every closed WebSocket connection's channel — some 4.5 KB each — for good.
    private let channelReference: WeakChannel

    /// The connection's channel while it is open.
    public var channel: (any Channel)? { channelReference.channel }

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        channelReference = WeakChannel(source.channel)
    }
}

/// A channel held weakly, shareable across tasks.
final class WeakChannel: Sendable {
    weak let channel: (any Channel)?

    init(_ channel: any Channel) { self.channel = channel }
}

/// Builds a role's HTTP server.
public enum HTTPServer {
    /// A router with the error shape and the web client's files: what every role starts from.
    public static func router(http: HTTPConfiguration, logger: Logger) -> Router<PlazaRequestContext> {
        let router = Router(context: PlazaRequestContext.self)
        let web = WebClient(root: http.webRoot ?? WebClientFiles.root)
        router.add(middleware: APIErrorMiddleware())
        router.add(middleware: web.fileMiddleware(logger: logger))
        web.register(on: router)
        return router
    }

    /// The server for `router`, every connection behind a `ConnectionGuard`; with `webSocket`, it upgrades the
    /// WebSocket routes registered on it.
    public static func application(
        router: Router<PlazaRequestContext>, http: HTTPConfiguration, webSocket: WebSocketConfiguration?, metrics: PlazaMetrics,
        logger: Logger, onServerRunning: @escaping @Sendable (any Channel) async -> Void
    ) -> some ApplicationProtocol {
        let admission = ConnectionAdmission(
            perAddress: http.connectionsPerAddress, total: http.connections ?? OpenFiles.defaultConnectionLimit,
            trustedProxies: http.trustedProxies)
        let settings = ConnectionGuard.Settings(
            headerTimeout: .milliseconds(Int64(http.headerTimeout * 1000)), idleTimeout: .milliseconds(Int64(http.idleTimeout * 1000)),
            limits: .init(headerBytes: http.headerBytes, headerCount: http.headerCount, urlBytes: http.urlBytes),
            maximumMessageBytes: webSocket?.frameBytes)
        // The parser's own limits stay above the guard's, which answers first and says why.
        var decoder = HTTP1Channel.Configuration.DecoderConfiguration()
        (decoder.maxHeaderFieldSize, decoder.maxHeaderListSize) = (2 * http.headerBytes, 2 * http.headerBytes)
        decoder.maxHeaderFieldCount = 2 * http.headerCount
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [ResponseCompletionObserver()], idleTimeout: nil, httpDecoderConfiguration: decoder)
        let server: HTTPServerBuilder
        if let webSocket {
            let webSocketResponder = router.buildResponder()
            let configuration = HTTP1WebSocketUpgradeChannel.Configuration(
                http1: http1,
                ws: WebSocketServerConfiguration(
                    maxFrameSize: webSocket.frameBytes,
                    autoPing: .enabled(timePeriod: .seconds(fromConfiguration: webSocket.pingInterval)),
                    closeTimeout: .seconds(fromConfiguration: webSocket.closeTimeout), validateUTF8: true))
            server = HTTPServerBuilder { responder in
                GuardedChannel(
                    inner: HTTP1WebSocketUpgradeChannel(
                        responder: responder, webSocketResponder: webSocketResponder, configuration: configuration),
                    settings: settings, admission: admission, metrics: metrics, socketSendBuffer: webSocket.socketSendBuffer)
            }
        } else {
            server = HTTPServerBuilder { responder in
                GuardedChannel(
                    inner: HTTP1Channel(responder: responder, configuration: http1), settings: settings, admission: admission,
                    metrics: metrics, socketSendBuffer: nil)
            }
        }
        return Application(
            router: router, server: server,
            configuration: .init(address: .hostname(http.host, port: http.port), serverName: nil, backlog: http.backlog),
            onServerRunning: { channel in
                try? await channel.eventLoop.submit {
                    try channel.pipeline.syncOperations.addHandler(AcceptBackoff(metrics: metrics, logger: logger), position: .first)
                }.get()
                await onServerRunning(channel)
            }, logger: logger)
    }
}
