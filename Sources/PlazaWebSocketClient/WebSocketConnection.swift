// A WebSocket client for load generators and protocol tests (see `WebSocketConnection`), and free loopback ports
// for the servers they start.

public import NIOCore
public import NIOPosix
public import NIOWebSocket
public import NIOSSL
import Synchronization

/// A minimal WebSocket client over SwiftNIO, for tests and load generation.
///
/// Plaza makes no WebSocket calls of its own in production; this client exists for what hummingbird-websocket's
/// client does not offer. A load generator drives thousands of connections from one thread, with callbacks on the
/// event loop and no task per connection, so the generator is not the bottleneck; and a server's tests need
/// controls a general-purpose client hides: it can stop answering pings, stop reading (to play a slow consumer),
/// size its receive buffer, and send arbitrary text, including invalid frames. Incoming messages and the close
/// are handed to callbacks on the channel's event loop; they must not block.
public final class WebSocketConnection: Sendable {
    public let channel: any Channel
    private let settings: Settings

    /// What the test or generator may change while the connection runs; shared with its frame handler.
    final class Settings: Sendable {
        let answerPings = Atomic<Bool>(true)
    }

    /// What the connection reports.
    public struct Callbacks: Sendable {
        /// A complete text or binary message.
        public var onMessage: @Sendable (ByteBuffer) -> Void
        /// The server's close code (nil if the socket closed without a close frame).
        public var onClose: @Sendable (UInt16?) -> Void

        public init(onMessage: @escaping @Sendable (ByteBuffer) -> Void, onClose: @escaping @Sendable (UInt16?) -> Void) {
            (self.onMessage, self.onClose) = (onMessage, onClose)
        }
    }

    /// Why a connection could not be made: the upgrade was refused or the socket failed.
    public enum ConnectError: Error {
        case handshakeFailed(String)
    }

    private init(channel: any Channel, settings: Settings) {
        (self.channel, self.settings) = (channel, settings)
    }

    /// Connects to `ws://host:port/path` (`wss://` with `tls`: a client context and the server name to send and
    /// verify) and completes the WebSocket handshake, asking for `subprotocol` when given. `receiveBufferBytes` sets the socket's receive buffer
    /// (default: the system's, which grows with use).
    public static func connect(
        host: String, port: Int, path: String = "/ws", group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        maxMessageBytes: Int = 64 << 20, receiveBufferBytes: Int? = nil, handshakeTimeout: TimeAmount? = nil,
        tls: (context: NIOSSLContext, serverName: String)? = nil, subprotocol: String? = nil, callbacks: Callbacks
    ) async throws -> WebSocketConnection {
        let upgraded = group.next().makePromise(of: Void.self)
        let settings = Settings()
        var bootstrap = ClientBootstrap(group: group).channelOption(.socketOption(.tcp_nodelay), value: 1)
        if let receiveBufferBytes {
            // A small receive window makes a client that stops reading back up the server quickly.
            bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBufferBytes))
        }
        let channel: any Channel
        do {
            channel = try await bootstrap
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverName))
                        }
                        let frames = FrameHandler(callbacks: callbacks, settings: settings)
                        let handshake = HandshakeHandler(
                            host: host, port: port, path: path, subprotocol: subprotocol, frames: frames, maxFrameSize: maxMessageBytes,
                            upgraded: upgraded)
                        try channel.pipeline.syncOperations.addHandler(handshake)
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            // Refused or unreachable: the handshake never started, and its promise must not be left pending.
            upgraded.fail(error)
            throw error
        }
        let connection = WebSocketConnection(channel: channel, settings: settings)
        if let handshakeTimeout {
            // A server that accepts the connection and never answers the upgrade (a frozen process): closing the
            // channel fails the handshake.
            let timer = channel.eventLoop.scheduleTask(in: handshakeTimeout) { channel.close(promise: nil) }
            upgraded.futureResult.whenComplete { _ in timer.cancel() }
        }
        try await upgraded.futureResult.get()
        return connection
    }

    /// Sends one text message.
    public func send(_ text: String) {
        send(ByteBuffer(string: text))
    }

    /// Sends one text message of raw bytes.
    public func send(_ bytes: ByteBuffer, opcode: WebSocketOpcode = .text) {
        let frame = WebSocketFrame(fin: true, opcode: opcode, maskKey: .random(), data: bytes)
        channel.writeAndFlush(frame, promise: nil)
    }

    /// Sends one text message on each of many connections, with one task per event loop rather than one per
    /// message: how a load generator keeps up with thousands of clients.
    public static func send(_ messages: [(WebSocketConnection, String)]) {
        var byLoop: [ObjectIdentifier: (any EventLoop, [(any Channel, ByteBuffer)])] = [:]
        for (connection, text) in messages {
            let loop = connection.channel.eventLoop
            byLoop[ObjectIdentifier(loop), default: (loop, [])].1.append((connection.channel, ByteBuffer(string: text)))
        }
        for (loop, writes) in byLoop.values {
            loop.execute {
                for (channel, bytes) in writes {
                    channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: bytes), promise: nil)
                }
            }
        }
    }

    /// Whether to answer the server's pings (default true). Turning it off simulates a dead peer.
    public func setAnswersPings(_ value: Bool) { settings.answerPings.store(value, ordering: .relaxed) }

    /// Stops (or resumes) reading from the socket, so the server's writes back up: a slow consumer.
    public func setReading(_ reading: Bool) {
        _ = channel.setOption(.autoRead, value: reading)
        if reading { channel.read() }
    }

    /// Sends a close frame with `code`.
    public func close(code: UInt16 = 1000) {
        var data = channel.allocator.buffer(capacity: 2)
        data.writeInteger(code)
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data), promise: nil)
    }

    /// Drops the TCP connection without a close handshake.
    public func abort() {
        channel.close(promise: nil)
    }
}

/// Writes the upgrade request, waits for `101`, then installs the frame codec and hands over leftover bytes.
private final class HandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let host: String
    private let port: Int
    private let path: String
    private let frames: FrameHandler
    private let maxFrameSize: Int
    private let upgraded: EventLoopPromise<Void>
    private let subprotocol: String?
    private var received: ByteBuffer?

    init(
        host: String, port: Int, path: String, subprotocol: String?, frames: FrameHandler, maxFrameSize: Int,
        upgraded: EventLoopPromise<Void>
    ) {
        (self.host, self.port, self.path, self.frames, self.maxFrameSize) = (host, port, path, frames, maxFrameSize)
        (self.subprotocol, self.upgraded) = (subprotocol, upgraded)
    }

    func channelActive(context: ChannelHandlerContext) {
        let key = (0..<16).map { _ in UInt8.random(in: 0...255) }
        let request =
            "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(base64(key))\r\nSec-WebSocket-Version: 13\r\n"
            + (subprotocol.map { "Sec-WebSocket-Protocol: \($0)\r\n" } ?? "") + "\r\n"
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: request)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if received == nil { received = incoming } else { received!.writeBuffer(&incoming) }
        guard let buffer = received, let end = buffer.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
        let headerLength = end.upperBound - buffer.readerIndex
        var all = buffer
        let head = all.readString(length: headerLength) ?? ""
        guard head.hasPrefix("HTTP/1.1 101") else {
            upgraded.fail(WebSocketConnection.ConnectError.handshakeFailed(String(head.prefix(200))))
            context.close(promise: nil)
            return
        }
        let pipeline = context.pipeline.syncOperations
        do {
            try pipeline.addHandler(ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: maxFrameSize)), position: .after(self))
            let decoder = try pipeline.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self)
            try pipeline.addHandler(WebSocketFrameEncoder(), position: .after(decoder))
            try pipeline.addHandler(frames, position: .last)
        } catch {
            upgraded.fail(error)
            context.close(promise: nil)
            return
        }
        upgraded.succeed(())
        received = nil
        if all.readableBytes > 0 { context.fireChannelRead(NIOAny(all)) }
        pipeline.removeHandler(self, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        upgraded.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        upgraded.fail(WebSocketConnection.ConnectError.handshakeFailed("connection closed"))
        context.fireChannelInactive()
    }
}

/// Reassembles messages, answers pings and the close handshake, reports to the callbacks.
private final class FrameHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let callbacks: WebSocketConnection.Callbacks
    private let settings: WebSocketConnection.Settings
    private var partial: ByteBuffer?
    private var closeCode: UInt16?
    private var reportedClose = false

    init(callbacks: WebSocketConnection.Callbacks, settings: WebSocketConnection.Settings) {
        (self.callbacks, self.settings) = (callbacks, settings)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary, .continuation:
            var data = frame.unmaskedData
            if frame.fin && partial == nil {
                callbacks.onMessage(data)
            } else {
                if partial == nil { partial = data } else { partial!.writeBuffer(&data) }
                if frame.fin, let message = partial {
                    partial = nil
                    callbacks.onMessage(message)
                }
            }
        case .ping:
            if settings.answerPings.load(ordering: .relaxed) {
                let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
                context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
            }
        case .connectionClose:
            var data = frame.unmaskedData
            closeCode = data.readInteger(as: UInt16.self)
            var reply = context.channel.allocator.buffer(capacity: 2)
            reply.writeInteger(closeCode ?? 1000)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: reply)))
                .whenComplete { _ in channel.close(promise: nil) }
            reportClose()
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        reportClose()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func reportClose() {
        guard !reportedClose else { return }
        reportedClose = true
        callbacks.onClose(closeCode)
    }
}

private func base64(_ bytes: [UInt8]) -> String {
    let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var out: [UInt8] = []
    var i = 0
    while i + 2 < bytes.count {
        let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
        out += [table[Int(n >> 18 & 63)], table[Int(n >> 12 & 63)], table[Int(n >> 6 & 63)], table[Int(n & 63)]]
        i += 3
    }
    let rest = bytes.count - i
    if rest == 1 {
        let n = UInt32(bytes[i]) << 16
        out += [table[Int(n >> 18 & 63)], table[Int(n >> 12 & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
    } else if rest == 2 {
        let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
        out += [table[Int(n >> 18 & 63)], table[Int(n >> 12 & 63)], table[Int(n >> 6 & 63)], UInt8(ascii: "=")]
    }
    return String(decoding: out, as: UTF8.self)
}
