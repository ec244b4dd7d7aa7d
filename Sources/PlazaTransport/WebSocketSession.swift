import PlazaCore
import PlazaProtocol
import PlazaAuth
import PlazaRooms
import HummingbirdWebSocket
import NIOCore
import NIOPosix
import NIOWebSocket
import Logging
import PlazaMetrics

/// One client connection, from upgrade to close: `hello`, then frames routed to the room.
///
/// Concurrency: the reader runs in the handler's task and owns the session's state. Rooms only ever touch the
/// connection's outbound queue, which flushes on the channel's event loop. One child task, the closer, waits
/// for the queue to hand over a close and performs the handshake.
struct WebSocketSession {
    let server: RoomServer
    let channel: any Channel

    private var configuration: WebSocketConfiguration { server.configuration.webSocket }

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        let id = server.makeConnectionID()
        let metrics = server.metrics
        let closeTimeout = TimeAmount.milliseconds(Int64(configuration.closeTimeout * 1000))
        let channel = self.channel
        let queue = OutboundQueue(
            channel: channel, flusher: server.flushers.flusher(for: channel.eventLoop), limit: configuration.outboundQueueBytes,
            stallLimit: .milliseconds(Int64(configuration.slowConsumerSeconds * 1000)), metrics: metrics)
        do {
            try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(WritabilityHandler(queue: queue), position: .first)
            }.get()
        } catch {
            return  // the socket is already gone
        }
        server.opened(id, queue)
        var logger = server.logger
        logger[metadataKey: "connection"] = "\(id)"
        let helloDeadline = channel.eventLoop.scheduleTask(in: .milliseconds(Int64(configuration.helloTimeout * 1000))) {
            queue.close(.helloTimeout, reason: "no hello")
        }
        let reader = Reader(server: server, id: id, queue: queue, helloDeadline: helloDeadline, logger: logger)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // Everything queued before the close is written first (the queue hands the close over then).
                let (code, reason) = await queue.closeRequested()
                if code != .normal { metrics.closed(code) }
                // A client that never answers (or never reads) loses its socket after the close timeout.
                channel.eventLoop.scheduleTask(in: closeTimeout) { abort(channel, metrics) }
                try? await outbound.close(.init(codeNumber: Int(code.rawValue)), reason: reason.isEmpty ? nil : reason)
            }
            await reader.read(inbound)
            // The client closed (or we did and it answered): finish the close, and never wait forever.
            helloDeadline.cancel()
            queue.close(.normal, reason: "")
            channel.eventLoop.scheduleTask(in: closeTimeout) { abort(channel, metrics) }
        }
        await reader.leave()
        server.closed(id)
    }
}

/// Resets a connection still open after its close timeout. A reset (`SO_LINGER` 0) rather than a close, so
/// the kernel drops what the client never read instead of holding it while it retries.
private func abort(_ channel: any Channel, _ metrics: PlazaMetrics) {
    guard channel.isActive else { return }
    metrics.abortedConnections.increment()
    let reset = (channel as? any SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0))
        ?? channel.eventLoop.makeSucceededVoidFuture()
    reset.whenComplete { _ in channel.close(promise: nil) }
}

/// The reading half of a session. Confined to the session's task: nothing else touches its state.
private final class Reader {
    let server: RoomServer
    let id: ConnectionID
    let queue: OutboundQueue
    let logger: Logger
    /// Closes the connection if no `hello` joins it in time; cancelled when one does.
    let helloDeadline: Scheduled<Void>
    private var room: Room?
    private var bucket: TokenBucket
    private var droppedInARow = 0
    private var lastRateLimitError: ContinuousClock.Instant?
    private let started = ContinuousClock.now

    private var configuration: WebSocketConfiguration { server.configuration.webSocket }

    init(server: RoomServer, id: ConnectionID, queue: OutboundQueue, helloDeadline: Scheduled<Void>, logger: Logger) {
        (self.server, self.id, self.queue, self.helloDeadline) = (server, id, queue, helloDeadline)
        self.logger = logger
        let configuration = server.configuration.webSocket
        self.bucket = TokenBucket(rate: configuration.framesPerSecond, burst: configuration.frameBurst)
    }

    func read(_ inbound: WebSocketInboundStream) async {
        do {
            for try await message in inbound.messages(maxSize: configuration.frameBytes) {
                guard queue.closeCode == nil else { continue }  // closing: ignore the rest
                guard admit() else { continue }
                switch message {
                case .text(let text):
                    await handle(text.utf8)
                case .binary:
                    sendError(.invalidFrame, "binary messages are not accepted; send JSON text")
                }
            }
        } catch {
            // Protocol errors (an oversized message: 1009) are answered with a close by the WebSocket layer.
            logger.debug("connection ended with an error", metadata: ["error": "\(error)"])
        }
    }

    private func send(_ bytes: [UInt8], _ type: ServerFrame.FrameType) {
        if queue.send(OutboundFrame(bytes, type)) { server.metrics.framesOut[type]?.increment() }
    }

    private func sendError(_ code: ErrorCode, _ message: String, ref: String? = nil) {
        server.metrics.rejected(code)
        send(ServerFrame.error(code, message, ref: ref), .error)
    }

    /// Rate limiting per connection: a dropped frame gets `rate_limited` (at most one error per second), and
    /// a connection that keeps flooding is closed.
    private func admit() -> Bool {
        let now = ContinuousClock.now
        let seconds = Double((now - started).components.seconds) + Double((now - started).components.attoseconds) / 1e18
        if bucket.take(now: seconds) {
            droppedInARow = 0
            return true
        }
        droppedInARow += 1
        server.metrics.rejected(.rateLimited)
        if droppedInARow >= configuration.floodClose {
            queue.close(.flooding, reason: "flooding")
        } else if lastRateLimitError.map({ now - $0 >= .seconds(1) }) ?? true {
            lastRateLimitError = now
            send(
                ServerFrame.error(.rateLimited, "more than \(configuration.framesPerSecond) frames per second; frames are being dropped"),
                .error)
        }
        return false
    }

    private func handle(_ bytes: String.UTF8View) async {
        let frame: ClientFrame
        do {
            frame = try ClientFrame.decode(bytes)
        } catch {
            return sendError(error.code, error.message, ref: error.ref)
        }
        server.metrics.framesIn[frame.type]?.increment()
        guard let room else {
            if case .hello(let token, let since, let audio, let video) = frame {
                await hello(token: token, since: since, audio: audio ?? false, video: video ?? false)
            } else {
                sendError(.helloRequired, "send 'hello' first")
            }
            return
        }
        switch frame {
        case .hello:
            sendError(.alreadyJoined, "this connection has already said hello")
        case .chat(let id, let text):
            await room.chat(from: self.id, id: id, text: text)
        case .move(let position):
            room.move(from: self.id, to: position)
        case .media(let audio, let video):
            await room.media(from: self.id, audio: audio, video: video)
        case .app(let data, let to):
            await room.app(from: self.id, data: data, to: to)
        case .signal(let to, let data):
            await room.signal(from: self.id, to: to, data: data)
        case .ping:
            send(ServerFrame.pong, .pong)
        }
    }

    private func hello(token: String, since: Int64?, audio: Bool, video: Bool) async {
        let started = ContinuousClock.now
        let grant: Grant
        do {
            grant = try await server.api.authority.verifyOwn(token)
        } catch {
            return refuse(error.kind == .expired ? .tokenExpired(error.message) : .unauthorized(error.message))
        }
        guard let roomName = grant.room else { return refuse(.forbidden("the token does not name a room")) }
        var lookup: Room
        do {
            lookup = try await server.registry.room(roomName)
        } catch {
            return refuse(error)
        }
        // A room unloaded between lookup and attach is simply looked up again.
        for _ in 0..<3 {
            do {
                try await lookup.attach(
                    id, queue, grant: grant, name: grant.name ?? grant.participant.rawValue, since: since, audio: audio, video: video)
                room = lookup
                helloDeadline.cancel()
                server.metrics.helloLatency.record(.now - started)
                return
            } catch {
                switch error {
                case .retired:
                    do { lookup = try await server.registry.room(roomName) } catch { return refuse(error) }
                case .refused(let refusal):
                    return refuse(refusal)
                }
            }
        }
        refuse(Refusal(.internal, "the room could not be joined; try again", close: .goingAway, status: 500))
    }

    /// Answers with the refusal's error frame, then closes with its code.
    private func refuse(_ refusal: Refusal) {
        sendError(refusal.code, refusal.message)
        queue.close(refusal.close, reason: refusal.code.rawValue)
    }

    func leave() async {
        await room?.detach(id)
        room = nil
    }
}
