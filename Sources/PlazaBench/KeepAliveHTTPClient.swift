import NIOCore
import NIOPosix
import NIOHTTP1
import NIOSSL

/// One keep-alive HTTP/1.1 connection sending one request at a time: the load generator's client for the
/// HTTP API, cheap enough that thousands of requests per second measure the server rather than the client.
final class KeepAliveHTTPClient: Sendable {
    private let channel: any Channel
    private let handler: NIOLoopBound<ResponseHandler>
    private let host: String

    /// `tls`: over https, verifying the server as `tls.serverName`.
    static func connect(
        host: String, port: Int, group: any EventLoopGroup, tls: (context: NIOSSLContext, serverName: String)? = nil
    ) async throws -> KeepAliveHTTPClient {
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverName))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseHandler())
                }
            }
            .connect(host: host, port: port).get()
        let handler = try await channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: ResponseHandler.self), eventLoop: channel.eventLoop)
        }.get()
        return KeepAliveHTTPClient(channel: channel, handler: handler, host: "\(tls?.serverName ?? host):\(port)")
    }

    private init(channel: any Channel, handler: NIOLoopBound<ResponseHandler>, host: String) {
        (self.channel, self.handler, self.host) = (channel, handler, host)
    }

    /// Sends a request and returns the status and body once the whole response has arrived.
    func request(_ method: HTTPMethod, _ path: String, json body: String? = nil) async throws -> (status: Int, body: ByteBuffer) {
        let promise = channel.eventLoop.makePromise(of: (status: Int, body: ByteBuffer).self)
        let host = self.host, handler = self.handler, channel = self.channel
        channel.eventLoop.execute {
            handler.value.pending = promise
            var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
            head.headers.add(name: "Host", value: host)
            if let body {
                head.headers.add(name: "Content-Type", value: "application/json")
                head.headers.add(name: "Content-Length", value: String(body.utf8.count))
            }
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: body))), promise: nil) }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }
        return try await promise.futureResult.get()
    }

    func close() { channel.close(promise: nil) }

    /// Collects one response and completes the request's promise.
    private final class ResponseHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        var pending: EventLoopPromise<(status: Int, body: ByteBuffer)>?
        private var status = 0
        private var body = ByteBuffer()

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                status = Int(head.status.code)
                body.clear()
            case .body(var part):
                body.writeBuffer(&part)
            case .end:
                let promise = pending
                pending = nil
                promise?.succeed((status, body))
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            pending?.fail(error)
            pending = nil
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            pending?.fail(ChannelError.ioOnClosedChannel)
            pending = nil
            context.fireChannelInactive()
        }
    }
}
