import NIOCore
import NIOHTTPTypes
import PlazaCore
import PlazaProtocol
import PlazaMetrics
import Synchronization

/// Every connection's deadlines and sizes, enforced on its raw bytes before Hummingbird reads them: where an
/// unauthenticated client is stopped from holding a connection, or memory, that it has no use for.
///
/// While a connection is HTTP, a request head must arrive whole within `http.headerTimeout` and stay within
/// `limits.headerBytes`, `limits.headerCount` and `limits.urlBytes` (408, 431, 414, then the connection is closed);
/// a kept-alive connection may wait `http.idleTimeout` for its next request. A client address may hold
/// `limits.connectionsPerAddress` connections (429 past that), the address taken from `X-Forwarded-For` only on a
/// connection from `http.trustedProxies`; past `limits.connections` in all, only the health endpoints are answered
/// (503 for the rest), so a node full of connections still tells its monitoring so. A broken WebSocket handshake is
/// answered as RFC 6455 says (400, or 426 with the version Plaza speaks). Once a connection is a WebSocket, every
/// frame the client sends is checked against RFC 6455 (`WebSocketFrameValidator`) before the WebSocket library sees
/// it.
///
/// It reads inbound bytes only: what the server writes while the connection is HTTP is seen by its companion
/// `ConnectionGuard.AnswerWatcher`, which leaves the pipeline once the connection is a WebSocket, so a room's
/// fan-out passes through no guard on its way to the socket.
///
/// Concurrency: a channel handler, confined to its channel's event loop.
final class ConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Settings: Sendable {
        var headerTimeout: TimeAmount
        var idleTimeout: TimeAmount
        var limits: RequestHeadScanner.Limits
        /// Largest WebSocket message (`limits.frameBytes`); nil on a server with no WebSocket.
        var maximumMessageBytes: Int?
    }

    private enum Phase {
        /// Waiting for (or reading) a request head.
        case head
        /// A request is being served: its body and its answer pass untouched.
        case request
        /// Upgraded: client frames are checked.
        case webSocket
        /// Refused or failed: nothing more passes either way.
        case closing
    }

    private let settings: Settings
    private let admission: ConnectionAdmission
    private let metrics: PlazaMetrics
    private var phase = Phase.head
    private var scanner: RequestHeadScanner
    private var validator: WebSocketFrameValidator?
    private var deadline: Scheduled<Void>?
    /// The client address this connection counts against, once known.
    private var address: String?
    private var overCapacity = false
    private var counted = false
    /// This handler's context, for what its watcher reports.
    private var context: ChannelHandlerContext?

    init(settings: Settings, admission: ConnectionAdmission, metrics: PlazaMetrics) {
        self.settings = settings
        self.admission = admission
        self.metrics = metrics
        scanner = RequestHeadScanner(limits: settings.limits)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelActive(context: ChannelHandlerContext) {
        counted = true
        overCapacity = !admission.open()
        let peer = context.remoteAddress?.ipAddress ?? "unknown"
        if !admission.trusts(peer) {
            guard admission.admit(peer) else {
                return refuse(
                    context, status: 429, code: .connectionLimit, "too many connections from this address",
                    headers: "retry-after: 1\r\n")
            }
            address = peer
        }
        arm(context, after: settings.headerTimeout)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        if let address { admission.release(address) }
        if counted { admission.close() }
        (address, counted) = (nil, false)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        switch phase {
        case .closing:
            return
        case .request:
            context.fireChannelRead(data)
        case .head:
            if !scanner.hasStarted { arm(context, after: settings.headerTimeout) }
            switch buffer.withUnsafeReadableBytes({ scanner.scan($0) }) {
            case .needMore:
                context.fireChannelRead(data)
            case .reject(let status, let reason):
                refuse(context, status: status, code: status == 400 ? .invalidRequest : .requestTooLarge, reason)
            case .complete(let head, _):
                deadline?.cancel()
                scanner.reset()
                guard admitted(context, head) else { return }
                phase = .request
                context.fireChannelRead(data)
            }
        case .webSocket:
            guard var validator else { return context.fireChannelRead(data) }
            let verdict = buffer.withUnsafeReadableBytes { validator.consume($0) }
            self.validator = validator
            switch verdict {
            case .forward(let count):
                if count > 0 { context.fireChannelRead(wrapInboundOut(buffer.getSlice(at: buffer.readerIndex, length: count)!)) }
            case .fail(let count, let code, let reason):
                if count > 0 { context.fireChannelRead(wrapInboundOut(buffer.getSlice(at: buffer.readerIndex, length: count)!)) }
                failWebSocket(context, code, reason)
            }
        }
    }

    /// Whether the request a complete head starts may go on; answers it and closes when not.
    private func admitted(_ context: ChannelHandlerContext, _ head: RequestHeadScanner.Head) -> Bool {
        if address == nil {
            // A trusted proxy's connection counts against the client it forwards for.
            let client = admission.client(forwardedFor: head.forwardedFor, peer: context.remoteAddress?.ipAddress ?? "unknown")
            guard admission.admit(client) else {
                refuse(
                    context, status: 429, code: .connectionLimit, "too many connections from this address",
                    headers: "retry-after: 1\r\n")
                return false
            }
            address = client
        }
        if overCapacity, !["/healthz", "/readyz", "/metrics"].contains(head.path) {
            refuse(
                context, status: 503, code: .connectionLimit, "this server holds as many connections as it may; try again",
                headers: "retry-after: 1\r\n")
            return false
        }
        if settings.maximumMessageBytes != nil, head.upgrade?.lowercased().contains("websocket") == true {
            guard head.webSocketKey != nil else {
                refuse(context, status: 400, code: .invalidRequest, "a WebSocket handshake needs Sec-WebSocket-Key")
                return false
            }
            guard head.webSocketVersion == "13" else {
                refuse(
                    context, status: 426, code: .invalidRequest, "this server speaks WebSocket version 13",
                    headers: "sec-websocket-version: 13\r\n")
                return false
            }
        }
        return true
    }

    /// Whether the connection was refused or failed: nothing more is written to it.
    fileprivate var isClosing: Bool { phase == .closing }

    /// The server writes `bytes`; answers whether they switch the connection to a WebSocket.
    fileprivate func answerWritten(_ bytes: ByteBuffer) -> Bool {
        guard phase == .request, let maximum = settings.maximumMessageBytes, Self.isSwitchingProtocols(bytes) else { return false }
        phase = .webSocket
        validator = WebSocketFrameValidator(maximumMessageBytes: maximum)
        return true
    }

    /// An answer was written whole: wait for the next request, or the idle timeout.
    fileprivate func responseCompleted() {
        guard phase == .request, let context else { return }
        phase = .head
        arm(context, after: settings.idleTimeout)
    }

    /// Sits next to the guard on the outbound side while the connection is HTTP: drops what the server writes
    /// after a refusal, tells the guard when an answer is complete and when the connection becomes a WebSocket,
    /// and then leaves the pipeline.
    final class AnswerWatcher: ChannelOutboundHandler, RemovableChannelHandler {
        typealias OutboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        private let connectionGuard: ConnectionGuard

        init(_ connectionGuard: ConnectionGuard) { self.connectionGuard = connectionGuard }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            guard !connectionGuard.isClosing else {
                promise?.fail(ChannelError.ioOnClosedChannel)
                return
            }
            let upgraded = connectionGuard.answerWritten(unwrapOutboundIn(data))
            context.write(data, promise: promise)
            if upgraded { context.pipeline.syncOperations.removeHandler(context: context, promise: nil) }
        }

        func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
            guard event is ResponseCompleted else { return context.triggerUserOutboundEvent(event, promise: promise) }
            promise?.succeed()
            connectionGuard.responseCompleted()
        }
    }

    /// The clock of the head being read, or of an idle kept-alive connection: when it runs out, an idle
    /// connection is closed and a half-read head answered 408.
    private func arm(_ context: ChannelHandlerContext, after timeout: TimeAmount) {
        deadline?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            let (guardHandler, context) = loopBound.value
            guardHandler.deadlinePassed(context)
        }
    }

    private func deadlinePassed(_ context: ChannelHandlerContext) {
        guard phase == .head else { return }
        if scanner.hasStarted {
            refuse(context, status: 408, code: .requestTimeout, "the request head did not arrive in time")
        } else {
            metrics.connectionRefused(.idle)
            phase = .closing
            context.close(promise: nil)
        }
    }

    /// Answers `status` with Plaza's error body and closes the connection.
    private func refuse(
        _ context: ChannelHandlerContext, status: Int, code: ErrorCode, _ message: String, headers: String = ""
    ) {
        phase = .closing
        deadline?.cancel()
        metrics.connectionRefused(.init(status: status))
        var w = JSONWriter()
        w.raw("{\"error\":{\"code\":")
        w.string(code.rawValue)
        w.raw(",\"message\":")
        w.string(message)
        w.raw("}}")
        var buffer = context.channel.allocator.buffer(capacity: 256 + w.bytes.count)
        buffer.writeString(
            "HTTP/1.1 \(status) \(Self.reasonPhrases[status] ?? "Error")\r\ncontent-type: application/json\r\n"
                + "content-length: \(w.bytes.count)\r\nconnection: close\r\n\(headers)\r\n")
        buffer.writeBytes(w.bytes)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Closes a WebSocket that broke the protocol: its close frame with `code`, then the connection.
    private func failWebSocket(_ context: ChannelHandlerContext, _ code: CloseCode, _ reason: String) {
        phase = .closing
        metrics.closed(code)
        let reasonBytes = Array(reason.utf8.prefix(120))
        var buffer = context.channel.allocator.buffer(capacity: 4 + reasonBytes.count)
        buffer.writeInteger(UInt8(0x88))
        buffer.writeInteger(UInt8(2 + reasonBytes.count))
        buffer.writeInteger(code.rawValue)
        buffer.writeBytes(reasonBytes)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }

    private static func isSwitchingProtocols(_ buffer: ByteBuffer) -> Bool {
        buffer.readableBytesView.starts(with: "HTTP/1.1 101".utf8)
    }

    private static let reasonPhrases = [
        400: "Bad Request", 408: "Request Timeout", 414: "URI Too Long", 426: "Upgrade Required", 429: "Too Many Requests",
        431: "Request Header Fields Too Large", 503: "Service Unavailable",
    ]
}

@available(*, unavailable)
extension ConnectionGuard: Sendable {}

/// Sent outbound by `ResponseCompletionObserver` when an answer has been written whole: the guard then waits
/// for the connection's next request (or its idle timeout).
struct ResponseCompleted: Sendable {}

/// Tells the connection guard when an HTTP answer is complete. Sits after the HTTP codec, where answers are parts.
final class ResponseCompletionObserver: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let isEnd = if case .end = unwrapOutboundIn(data) { true } else { false }
        context.write(data, promise: promise)
        if isEnd { context.triggerUserOutboundEvent(ResponseCompleted(), promise: nil) }
    }
}

@available(*, unavailable)
extension ResponseCompletionObserver: Sendable {}

/// Who may hold connections: per client address (`limits.connectionsPerAddress`) and in all
/// (`limits.connections`), and whose `X-Forwarded-For` is believed (`http.trustedProxies`). Shared by every
/// connection of a server.
final class ConnectionAdmission: Sendable {
    let perAddress: Int
    let total: Int
    let trustedProxies: Set<String>
    private let counts = Mutex<(byAddress: [String: Int], open: Int)>(([:], 0))

    init(perAddress: Int, total: Int, trustedProxies: [String]) {
        self.perAddress = perAddress
        self.total = total
        self.trustedProxies = Set(trustedProxies)
    }

    /// Counts a new connection; false when the server already holds `total`.
    func open() -> Bool {
        counts.withLock { counts in
            counts.open += 1
            return counts.open <= total
        }
    }

    func close() { counts.withLock { $0.open -= 1 } }

    /// Counts a connection of `address`; false (and not counted) when it already holds `perAddress`.
    func admit(_ address: String) -> Bool {
        counts.withLock { counts in
            guard counts.byAddress[address, default: 0] < perAddress else { return false }
            counts.byAddress[address, default: 0] += 1
            return true
        }
    }

    func release(_ address: String) {
        counts.withLock { counts in
            let left = counts.byAddress[address, default: 1] - 1
            counts.byAddress[address] = left > 0 ? left : nil
        }
    }

    func trusts(_ peer: String) -> Bool { trustedProxies.contains(peer) }

    /// The client a connection from `peer` serves: the nearest address of `X-Forwarded-For` that is not a trusted
    /// proxy (hops are appended, so the right end is nearest), or `peer` itself.
    func client(forwardedFor: String?, peer: String) -> String {
        guard trusts(peer), let forwardedFor else { return peer }
        let hops = forwardedFor.split(separator: ",").map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
        return hops.last { !trusts($0) } ?? hops.first ?? peer
    }
}

@available(*, unavailable)
extension ConnectionGuard.AnswerWatcher: Sendable {}
