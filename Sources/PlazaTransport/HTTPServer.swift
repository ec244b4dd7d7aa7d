// The transport: HTTP and WebSocket on Hummingbird. Each role builds its router from the pieces here — the
// shared API (`APIRoutes`), the WebSocket session and its bounded outbound queue, the web client's files, the
// error shape — and runs it as one `Service` among its others.

public import Hummingbird
public import HummingbirdWebSocket
import HummingbirdCore
public import NIOCore
public import Logging
public import PlazaTLS
public import ServiceLifecycle
import HTTPTypes
import PlazaWebClient
import PlazaCore
public import PlazaMetrics

/// The request context of every Plaza route: Hummingbird's core context. The WebSocket upgrade does not go
/// through the router (see `WebSocketEndpoint`), so the context holds no channel and no handler.
public struct PlazaRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }
}

/// A role's WebSocket endpoint: its path, its limits and what runs on each upgraded connection.
///
/// The upgrade is decided from the request head, outside the router: Hummingbird's WebSocket router parks each
/// upgraded request's context in a box that the context itself holds, a reference cycle that kept some memory
/// of every WebSocket connection ever closed.
public struct WebSocketEndpoint: Sendable {
    public typealias Handler = @Sendable (WebSocketInboundStream, WebSocketOutboundWriter, any Channel) async -> Void

    public let path: String
    public let configuration: WebSocketConfiguration
    public let handler: Handler

    public init(path: String, configuration: WebSocketConfiguration, handler: @escaping Handler) {
        (self.path, self.configuration, self.handler) = (path, configuration, handler)
    }

    /// Upgrades a handshake for `path` (any query), and no other.
    func shouldUpgrade(_ head: HTTPRequest, channel: any Channel) -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        let target = head.path ?? ""
        guard target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first == path[...] else {
            return .dontUpgrade
        }
        let handler = self.handler
        return .upgrade([:]) { inbound, outbound, _ in await handler(inbound, outbound, channel) }
    }
}

/// Builds a role's HTTP server.
public enum HTTPServer {
    /// A router with the security headers, the error shape and the web client's files: what every role starts
    /// from. `connectSources` names the origins besides this one that the web client may connect to, and `bridge`
    /// the media bridge's URL browsers reach (`media.janusURL`), if any.
    public static func router(
        http: HTTPConfiguration, logger: Logger, bridge: String? = nil, connectSources: (@Sendable () async -> [String])? = nil
    ) -> Router<PlazaRequestContext> {
        let router = Router(context: PlazaRequestContext.self)
        let web = WebClient(root: http.webRoot ?? WebClientFiles.root)
        let hsts = http.tls.isEnabled && http.tls.hstsMaxAge > 0 ? http.tls.hstsMaxAge : nil
        let bridgeSources = bridge.flatMap(connectSource(forBaseURL:))
        router.add(
            middleware: SecurityHeadersMiddleware(
                connectSources: connectSources, bridgeSources: bridgeSources.map { [$0] } ?? [], strictTransportMaxAge: hsts))
        router.add(middleware: APIErrorMiddleware())
        router.add(middleware: web.fileMiddleware(logger: logger))
        web.register(on: router)
        return router
    }

    /// The services that serve `router`: its server and, with `https`, the certificate service and the plain-HTTP
    /// listener beside it (ACME HTTP-01 answers, redirects to https). In the order a `ServiceGroup` needs: it
    /// stops them in reverse, so the main server goes first.
    public static func services(
        router: Router<PlazaRequestContext>, http: HTTPConfiguration, webSocket: WebSocketEndpoint?, https: CertificateService?,
        metrics: PlazaMetrics, logger: Logger, onServerRunning: @escaping @Sendable (any Channel) async -> Void
    ) -> [any Service] {
        let main = application(
            router: router, http: http, port: http.port, webSocket: webSocket, certificates: https?.certificates, metrics: metrics,
            logger: logger
        ) { channel in
            https?.listenerRunning()
            await onServerRunning(channel)
        }
        guard let https else { return [main] }
        let plain = application(
            router: plainRouter(http: http, certificates: https.certificates), http: http, port: http.tls.httpPort, webSocket: nil,
            certificates: nil, metrics: metrics, logger: logger) { channel in
                https.listenerRunning()
                logger.notice("plain HTTP: ACME challenges, and redirects to https", metadata: ["port": "\(channel.localAddress?.port ?? 0)"])
            }
        return [https, plain, main]
    }

    /// The plain-HTTP listener of an https role: the key authorization of a pending HTTP-01 challenge, health,
    /// and a permanent redirect to the same path over https for everything else.
    static func plainRouter(http: HTTPConfiguration, certificates: ServingCertificates) -> Router<PlazaRequestContext> {
        let router = Router(context: PlazaRequestContext.self)
        router.get("/.well-known/acme-challenge/{token}") { _, context -> Response in
            let token = context.parameters.get("token") ?? ""
            guard let answer = certificates.httpChallengeAnswer(token: token) else {
                return Response(status: .notFound, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "no such challenge\n")))
            }
            return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: ByteBuffer(string: answer)))
        }
        router.get("/healthz") { _, _ in APIRoutes.json(#"{"status":"ok"}"#) }
        let httpsPort = http.port
        let redirect: @Sendable (Request, PlazaRequestContext) async throws -> Response = { request, _ in
            let host = (request.head.authority ?? http.host).split(separator: ":").first.map(String.init) ?? http.host
            let target = "https://\(host)\(httpsPort == 443 ? "" : ":\(httpsPort)")\(request.uri.path)"
                + (request.uri.query.map { "?\($0)" } ?? "")
            return Response(status: .permanentRedirect, headers: [.location: target, .contentLength: "0"])
        }
        for method in [HTTPRequest.Method.get, .head, .post, .put, .delete, .options, .patch] {
            router.on("/", method: method, use: redirect)
            router.on("**", method: method, use: redirect)
        }
        return router
    }

    /// The server for `router` on `port`, every connection behind a `ConnectionGuard` (and NIOSSL when
    /// `certificates` is given); with `webSocket`, it upgrades that endpoint's handshakes.
    static func application(
        router: Router<PlazaRequestContext>, http: HTTPConfiguration, port: Int, webSocket endpoint: WebSocketEndpoint?,
        certificates: ServingCertificates?, metrics: PlazaMetrics, logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void
    ) -> some Service {
        let admission = ConnectionAdmission(
            perAddress: http.connectionsPerAddress, total: http.connections ?? OpenFiles.defaultConnectionLimit,
            trustedProxies: http.trustedProxies)
        let settings = ConnectionGuard.Settings(
            headerTimeout: .milliseconds(Int64(http.headerTimeout * 1000)), idleTimeout: .milliseconds(Int64(http.idleTimeout * 1000)),
            limits: .init(headerBytes: http.headerBytes, headerCount: http.headerCount, urlBytes: http.urlBytes),
            maximumMessageBytes: endpoint?.configuration.frameBytes)
        // The parser's own limits stay above the guard's, which answers first and says why.
        var decoder = HTTP1Channel.Configuration.DecoderConfiguration()
        (decoder.maxHeaderFieldSize, decoder.maxHeaderListSize) = (2 * http.headerBytes, 2 * http.headerBytes)
        decoder.maxHeaderFieldCount = 2 * http.headerCount
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [ResponseCompletionObserver()], idleTimeout: nil, httpDecoderConfiguration: decoder)
        let server: HTTPServerBuilder
        if let endpoint {
            let webSocket = endpoint.configuration
            let configuration = HTTP1WebSocketUpgradeChannel.Configuration(
                http1: http1,
                ws: WebSocketServerConfiguration(
                    maxFrameSize: webSocket.frameBytes,
                    autoPing: .enabled(timePeriod: .seconds(fromConfiguration: webSocket.pingInterval)),
                    closeTimeout: .seconds(fromConfiguration: webSocket.closeTimeout), validateUTF8: true))
            server = HTTPServerBuilder { responder in
                GuardedChannel(
                    inner: HTTP1WebSocketUpgradeChannel(responder: responder, configuration: configuration) { head, channel, _ in
                        endpoint.shouldUpgrade(head, channel: channel)
                    },
                    settings: settings, admission: admission, metrics: metrics, socketSendBuffer: webSocket.socketSendBuffer,
                    certificates: certificates)
            }
        } else {
            server = HTTPServerBuilder { responder in
                GuardedChannel(
                    inner: HTTP1Channel(responder: responder, configuration: http1), settings: settings, admission: admission,
                    metrics: metrics, socketSendBuffer: nil, certificates: certificates)
            }
        }
        return Application(
            router: router, server: server,
            configuration: .init(address: .hostname(http.host, port: port), serverName: nil, backlog: http.backlog),
            onServerRunning: { channel in
                try? await channel.eventLoop.submit {
                    try channel.pipeline.syncOperations.addHandler(AcceptBackoff(metrics: metrics, logger: logger), position: .first)
                }.get()
                await onServerRunning(channel)
            }, logger: logger)
    }
}
