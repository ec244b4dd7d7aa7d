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

/// The request context of every Plaza route: Hummingbird's core context plus the channel, so a session can
/// drop a socket that will not take a close frame.
public struct PlazaRequestContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<Self>
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        channel = source.channel
    }
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

    /// The server for `router`; with `webSocket`, it upgrades the WebSocket routes registered on it.
    public static func application(
        router: Router<PlazaRequestContext>, http: HTTPConfiguration, webSocket: WebSocketConfiguration?, logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void
    ) -> some ApplicationProtocol {
        let server: HTTPServerBuilder
        if let webSocket {
            server = .http1WebSocketUpgrade(
                webSocketRouter: router,
                configuration: .init(
                    http1: .init(),
                    ws: WebSocketServerConfiguration(
                        maxFrameSize: webSocket.frameBytes,
                        autoPing: .enabled(timePeriod: .seconds(fromConfiguration: webSocket.pingInterval)),
                        closeTimeout: .seconds(fromConfiguration: webSocket.closeTimeout))))
        } else {
            server = .http1()
        }
        return Application(
            router: router, server: server,
            configuration: .init(address: .hostname(http.host, port: http.port), serverName: nil, backlog: http.backlog),
            onServerRunning: onServerRunning, logger: logger)
    }
}
