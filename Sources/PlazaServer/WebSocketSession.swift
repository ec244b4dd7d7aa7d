import PlazaCore
import PlazaProtocol
import PlazaAuth
import HummingbirdWebSocket
import NIOCore
import NIOWebSocket
import Logging

/// One client connection, from upgrade to close: `hello`, then frames routed to the room.
///
/// Concurrency: the reader runs in the handler's task and owns the session's state. Rooms only ever touch
/// the connection's outbound queue, which flushes on the channel's event loop. One child task, the closer,
/// waits for the queue to hand over a close and performs the handshake.
struct WebSocketSession {
    let node: PlazaNode
    let channel: any Channel

    private var configuration: PlazaConfiguration { node.configuration }

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        let id = node.makeConnectionID()
        let metrics = node.metrics
        let closeTimeout = TimeAmount.milliseconds(Int64(configuration.webSocket.closeTimeout * 1000))
        let channel = self.channel
        let queue = OutboundQueue(
            channel: channel, limit: configuration.limits.outboundQueueBytes, metrics: metrics)
        do {
            try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(WritabilityHandler(queue: queue), position: .first)
            }.get()
        } catch {
            return  // the socket is already gone
        }
        let session = ClientSession(id: id, queue: queue, metrics: metrics)
        node.opened(id, queue)
        var logger = node.logger
        logger[metadataKey: "connection"] = "\(id)"
        let helloDeadline = channel.eventLoop.scheduleTask(in: .milliseconds(Int64(configuration.webSocket.helloTimeout * 1000))) {
            queue.close(.helloTimeout, reason: "no hello")
        }
        let reader = Reader(node: node, session: session, helloDeadline: helloDeadline, logger: logger)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // Everything queued before the close is written first (the queue hands the close over then).
                let (code, reason) = await queue.closeRequested()
                if code != .normal { metrics.closed(code) }
                if code == .slowConsumer { metrics.slowConsumerDisconnects.increment() }
                // A client that never answers (or never reads) loses its socket after the close timeout.
                channel.eventLoop.scheduleTask(in: closeTimeout) { channel.close(promise: nil) }
                try? await outbound.close(.init(codeNumber: Int(code.rawValue)), reason: reason.isEmpty ? nil : reason)
            }
            await reader.read(inbound)
            // The client closed (or we did and it answered): finish the close, and never wait forever.
            helloDeadline.cancel()
            queue.close(.normal, reason: "")
            channel.eventLoop.scheduleTask(in: closeTimeout) { channel.close(promise: nil) }
        }
        await reader.leave()
        node.closed(id)
    }
}

/// The reading half of a session. Confined to the session's task: nothing else touches its state.
private final class Reader {
    let node: PlazaNode
    let session: ClientSession
    let logger: Logger
    /// Closes the connection if no `hello` joins it in time; cancelled when one does.
    let helloDeadline: Scheduled<Void>
    private var room: Room?
    private var bucket: TokenBucket
    private var droppedInARow = 0
    private var lastRateLimitError: ContinuousClock.Instant?
    private let started = ContinuousClock.now

    init(node: PlazaNode, session: ClientSession, helloDeadline: Scheduled<Void>, logger: Logger) {
        self.node = node
        self.session = session
        self.helloDeadline = helloDeadline
        self.logger = logger
        self.bucket = TokenBucket(rate: node.configuration.limits.framesPerSecond, burst: node.configuration.limits.frameBurst)
    }

    func read(_ inbound: WebSocketInboundStream) async {
        do {
            for try await message in inbound.messages(maxSize: node.configuration.limits.frameBytes) {
                guard session.queue.closeCode == nil else { continue }  // closing: ignore the rest
                guard admit() else { continue }
                switch message {
                case .text(let text):
                    await handle(text.utf8)
                case .binary:
                    session.sendError(.invalidFrame, "binary messages are not accepted; send JSON text")
                }
            }
        } catch {
            // Protocol errors (an oversized message: 1009) are answered with a close by the WebSocket layer.
            logger.debug("connection ended with an error", metadata: ["error": "\(error)"])
        }
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
        node.metrics.rejected(.rateLimited)
        if droppedInARow >= node.configuration.limits.floodClose {
            session.queue.close(.flooding, reason: "flooding")
        } else if lastRateLimitError.map({ now - $0 >= .seconds(1) }) ?? true {
            lastRateLimitError = now
            session.send(ServerFrame.error(.rateLimited, "more than \(node.configuration.limits.framesPerSecond) frames per second; frames are being dropped"), .error)
        }
        return false
    }

    private func handle(_ bytes: String.UTF8View) async {
        let frame: ClientFrame
        do {
            frame = try ClientFrame.decode(bytes)
        } catch {
            return session.sendError(error.code, error.message, ref: error.ref)
        }
        node.metrics.framesIn[frame.type]?.increment()
        guard let room else {
            if case .hello(let token, let since, let audio, let video) = frame {
                await hello(token: token, since: since, audio: audio ?? false, video: video ?? false)
            } else {
                session.sendError(.helloRequired, "send 'hello' first")
            }
            return
        }
        switch frame {
        case .hello:
            session.sendError(.alreadyJoined, "this connection has already said hello")
        case .chat(let id, let text):
            await room.chat(from: session.id, id: id, text: text)
        case .move(let position):
            room.move(from: session.id, to: position)
        case .media(let audio, let video):
            await room.media(from: session.id, audio: audio, video: video)
        case .app(let data, let to):
            await room.app(from: session.id, data: data, to: to)
        case .signal(let to, let data):
            await room.signal(from: session.id, to: to, data: data)
        case .ping:
            session.send(ServerFrame.pong, .pong)
        }
    }

    private func hello(token: String, since: Int64?, audio: Bool, video: Bool) async {
        let started = ContinuousClock.now
        let grant: Grant
        do {
            grant = try await node.authority.verifyOwn(token)
        } catch {
            return refuse(error.kind == .expired ? .tokenExpired : .unauthorized, error.message, close: .unauthorized)
        }
        guard let roomName = grant.room else {
            return refuse(.forbidden, "the token does not name a room", close: .unauthorized)
        }
        var lookup: Room
        do {
            lookup = try await node.registry.room(roomName)
        } catch {
            return refuseLookup(error)
        }
        // A room unloaded between lookup and attach is simply looked up again.
        for _ in 0..<3 {
            do {
                try await lookup.attach(
                    session, grant: grant, name: grant.name ?? grant.participant.rawValue, since: since, audio: audio, video: video)
                room = lookup
                helloDeadline.cancel()
                node.metrics.helloLatency.record(.now - started)
                return
            } catch {
                switch error {
                case .retired:
                    do { lookup = try await node.registry.room(roomName) } catch { return refuseLookup(error) }
                case .join(.roomFull):
                    return refuse(.roomFull, "the room is full", close: .roomFull)
                case .join(.tooManyConnections):
                    return refuse(.tooManyConnections, "too many connections for this participant", close: .tooManyConnections)
                }
            }
        }
        refuse(.internal, "the room could not be joined; try again", close: .goingAway)
    }

    private func refuseLookup(_ error: RoomRegistry.LookupError) {
        switch error {
        case .nodeFull: refuse(.nodeFull, "this node hosts as many rooms as it may", close: .nodeFull)
        case .draining: refuse(.draining, "this node is draining; join again", close: .nodeFull)
        case .store: refuse(.storeUnavailable, "the room's history could not be loaded", close: .goingAway)
        case .moved: refuse(.moved, "this room lives on another node; join again", close: .moved)
        }
    }

    private func refuse(_ code: ErrorCode, _ message: String, close: CloseCode) {
        session.sendError(code, message)
        session.queue.close(close, reason: code.rawValue)
    }

    func leave() async {
        await room?.detach(session.id)
        room = nil
    }
}
