import PlazaCore
import PlazaProtocol
import PlazaStore
import PlazaAuth
import Logging
import Synchronization
import Foundation
import NIOCore

/// One room on its home node: the only place its state lives.
///
/// Everything that changes the room runs on this actor, so ordering needs no locks: chat offsets are
/// assigned here, committed in order by one commit loop, and fanned out in offset order; a reconnecting
/// client's replay (from the in-memory resume window) and its registration for live messages happen in one
/// step, so nothing committed can fall between them.
actor Room {
    let name: RoomName
    private var state: RoomState
    private var window: ResumeWindow<[UInt8]>
    private var sessions: [ConnectionID: ClientSession] = [:]
    private let store: any PlazaStore
    /// Set on a fleet node: chat writes go through the placement's fence.
    let fence: Fence?
    private let metrics: PlazaMetrics
    private let logger: Logger

    // The chat pipeline: offsets are assigned on arrival, made durable in batches, then announced.
    private var nextOffset: Int64
    private var pending: [ChatMessage] = []
    private var committing = false
    private var commitFinished: [CheckedContinuation<Void, Never>] = []
    /// Sessions waiting for the ack of a message not yet committed, by message key.
    private var waiters: [MessageKey: [ClientSession]] = [:]
    /// Offsets of recently committed messages by key, so a retry is acked without storing twice.
    private var acknowledged: [MessageKey: Int64] = [:]
    private var acknowledgedOrder: [MessageKey] = []
    private var acknowledgedHead = 0
    private let acknowledgedCapacity: Int

    /// Set once the registry unloads the room; a session that raced the unload asks the registry again.
    private let retiredFlag = Atomic<Bool>(false)
    nonisolated var isRetired: Bool { retiredFlag.load(ordering: .acquiring) }
    private(set) var emptySince: ContinuousClock.Instant? = .now

    struct MessageKey: Hashable {
        var sender: ParticipantID
        var clientID: String
    }

    /// Loads the room's recent history from the store.
    static func load(
        name: RoomName, store: any PlazaStore, fence: Fence?, configuration: PlazaConfiguration, metrics: PlazaMetrics,
        logger: Logger
    ) async throws -> Room {
        let capacity = configuration.chat.resumeWindow
        let recent = capacity > 0 ? try await store.latestMessages(in: name, limit: capacity) : []
        let last = try await store.lastOffset(in: name)
        return Room(
            name: name, recent: recent, lastOffset: last, store: store, fence: fence, configuration: configuration,
            metrics: metrics, logger: logger)
    }

    private init(
        name: RoomName, recent: [ChatMessage], lastOffset: Int64, store: any PlazaStore, fence: Fence?,
        configuration: PlazaConfiguration, metrics: PlazaMetrics, logger: Logger
    ) {
        self.name = name
        self.store = store
        self.fence = fence
        self.metrics = metrics
        var logger = logger
        logger[metadataKey: "room"] = "\(name)"
        self.logger = logger
        let space = configuration.space
        self.state = RoomState(
            name: name, limits: configuration.limits.room,
            geometry: GridGeometry(cellSize: space.cellSize, radius: Int32(space.interestRadius)), spawn: space.spawn ?? Position(x: 0, y: 0)
        )
        self.acknowledgedCapacity = max(configuration.chat.resumeWindow, 1)
        var window = ResumeWindow<[UInt8]>(
            capacity: configuration.chat.resumeWindow, lastOffset: recent.first.map { $0.offset - 1 } ?? lastOffset
        )
        for message in recent { window.append(offset: message.offset, payload: ServerFrame.chat(message)) }
        self.window = window
        self.nextOffset = max(lastOffset, window.lastOffset) + 1
        // The newest window of messages de-duplicates retries from the start (e.g. after a restart).
        let keep = recent.suffix(acknowledgedCapacity)
        self.acknowledgedOrder = keep.map { MessageKey(sender: $0.sender, clientID: $0.clientID) }
        self.acknowledged = Dictionary(keep.map { (MessageKey(sender: $0.sender, clientID: $0.clientID), $0.offset) }) { a, _ in a }
        self.acknowledgedHead = acknowledgedOrder.count % acknowledgedCapacity
    }

    // MARK: Presence

    enum AttachError: Error {
        case retired
        case join(RoomState.JoinError)
    }

    /// Registers a connection and queues its `welcome` (and, when resuming, the missed chat messages).
    func attach(_ session: ClientSession, grant: Grant, name: String, since: Int64?, audio: Bool, video: Bool) throws(AttachError) {
        guard !isRetired else { throw .retired }
        let outcome: RoomState.JoinOutcome
        do {
            outcome = try state.connect(session.id, as: grant.participant, name: name, role: grant.role, audio: audio, video: video)
        } catch {
            throw .join(error)
        }
        sessions[session.id] = session
        emptySince = nil
        var replay: [[UInt8]] = []
        var recovered = false
        if let since, case .recovered(let missed) = window.recover(since: since) {
            recovered = true
            replay = missed
        }
        session.send(
            ServerFrame.welcome(
                you: grant.participant, room: self.name, participants: state.roster(), offset: window.lastOffset,
                recovered: recovered
            ), .welcome)
        for frame in replay { session.send(frame, .chat) }
        switch outcome {
        case .joined(let snapshot):
            metrics.participants.increment()
            broadcast(ServerFrame.joined(snapshot), .joined, except: grant.participant)
        case .additionalConnection:
            // The participant's view already exists; this connection needs it now, not at the next change.
            let view = state.visibleAvatars(of: grant.participant)
            if !view.isEmpty { session.send(ServerFrame.enter(view), .enter) }
        }
    }

    /// Forgets a connection; announces `left` when it was its participant's last one.
    func detach(_ connection: ConnectionID) {
        guard sessions.removeValue(forKey: connection) != nil else { return }
        if let left = state.disconnect(connection) {
            metrics.participants.decrement()
            broadcast(ServerFrame.left(left), .left)
        }
        if sessions.isEmpty { emptySince = .now }
    }

    var participantCount: Int { state.participantCount }
    var connectionCount: Int { sessions.count }

    /// Whether `participant` could join now (for join's early answer; `attach` decides for real).
    func admits(_ participant: ParticipantID) -> Bool {
        state.contains(participant) || state.participantCount < state.limits.participantsPerRoom
    }

    /// Unloads the room if it has been empty for `idle` and has nothing left to commit.
    func retireIfIdle(for idle: Duration, now: ContinuousClock.Instant) -> Bool {
        guard sessions.isEmpty, !committing, pending.isEmpty, let emptySince, now - emptySince >= idle else { return false }
        retiredFlag.store(true, ordering: .releasing)
        return true
    }

    /// Closes every connection with `code` once every accepted chat message has been committed and acked.
    func closeAll(_ code: CloseCode, reason: String) async {
        while committing {
            await withCheckedContinuation { commitFinished.append($0) }
        }
        for session in sessions.values { session.queue.close(code, reason: reason) }
    }

    // MARK: Frames

    func chat(from connection: ConnectionID, id: String, text: String) {
        guard let session = sessions[connection], let sender = state.participant(for: connection),
            let snapshot = state.snapshot(of: sender)
        else { return }
        guard id.utf8.count <= state.limits.messageIDLength else {
            return session.sendError(.invalidFrame, "'id' is longer than \(state.limits.messageIDLength) bytes", ref: String(id.prefix(16)))
        }
        guard text.unicodeScalars.count <= state.limits.chatTextLength else {
            return session.sendError(.textTooLong, "chat text is longer than \(state.limits.chatTextLength) characters", ref: id)
        }
        let key = MessageKey(sender: sender, clientID: id)
        if let offset = acknowledged[key] {
            return session.send(ServerFrame.ack(id: id, offset: offset), .ack)
        }
        if waiters[key] != nil {
            waiters[key]!.append(session)
            return
        }
        waiters[key] = [session]
        pending.append(
            ChatMessage(
                room: name, offset: nextOffset, clientID: id, sender: sender, senderName: snapshot.name, text: text,
                timestamp: Int64(Date().timeIntervalSince1970 * 1000)
            ))
        nextOffset += 1
        if !committing {
            committing = true
            Task { await self.commitLoop() }
        }
    }

    /// Makes pending messages durable in batches, then announces and acks them in offset order.
    private func commitLoop() async {
        while !pending.isEmpty {
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            let started = ContinuousClock.now
            do {
                try await write(batch)
                metrics.storeWriteLatency.record(.now - started)
                for message in batch { announce(message) }
            } catch let error as StoreError where error.kind == .fenced {
                logger.warning("the room moved to another node; its clients are sent there", metadata: ["error": "\(error)"])
                moveAway()
                break
            } catch let error as StoreError where error.kind == .conflict {
                // A retry of a message older than the de-duplication window: commit one by one, and ack a
                // duplicate with the offset it was stored under.
                await commitIndividually(batch)
            } catch {
                logger.error("chat write failed; nothing in the batch was acknowledged", metadata: ["error": "\(error)"])
                fail(batch)
            }
        }
        committing = false
        let finished = commitFinished
        commitFinished.removeAll()
        for continuation in finished { continuation.resume() }
    }

    private func commitIndividually(_ batch: [ChatMessage]) async {
        var offset = batch[0].offset
        for var message in batch {
            message.offset = offset
            do {
                try await write([message])
                announce(message)
                offset += 1
            } catch let error as StoreError where error.kind == .conflict {
                let key = MessageKey(sender: message.sender, clientID: message.clientID)
                let stored = try? await store.offset(in: name, sender: message.sender, clientID: message.clientID)
                for session in waiters.removeValue(forKey: key) ?? [] {
                    if let stored {
                        session.send(ServerFrame.ack(id: message.clientID, offset: stored), .ack)
                    } else {
                        session.sendError(.storeUnavailable, "the message could not be stored", ref: message.clientID)
                    }
                }
            } catch {
                logger.error("chat write failed", metadata: ["error": "\(error)"])
                fail([message])
            }
        }
        renumberPending(from: offset)
    }

    /// Appends through the fence on a fleet node, directly otherwise.
    private func write(_ batch: [ChatMessage]) async throws {
        if let fence {
            try await fence.placements.append(batch, fencedBy: fence.node, epoch: fence.epoch)
        } else {
            try await store.append(batch)
        }
    }

    /// The room lives elsewhere now: stop at once and send every client away with 4003, so it joins again
    /// and finds the new home. Nothing pending was stored or acknowledged; the clients send it again there.
    func moveAway() {
        retiredFlag.store(true, ordering: .releasing)
        pending.removeAll()
        waiters.removeAll()
        for session in sessions.values { session.queue.close(.moved, reason: "moved") }
    }

    /// Nothing in `batch` was stored: tell the senders and give its offsets to what came after.
    private func fail(_ batch: [ChatMessage]) {
        for message in batch {
            for session in waiters.removeValue(forKey: MessageKey(sender: message.sender, clientID: message.clientID)) ?? [] {
                session.sendError(.storeUnavailable, "the message could not be stored; send it again", ref: message.clientID)
            }
        }
        renumberPending(from: batch[0].offset)
    }

    private func renumberPending(from offset: Int64) {
        var next = offset
        for index in pending.indices {
            pending[index].offset = next
            next += 1
        }
        nextOffset = next
    }

    private func announce(_ message: ChatMessage) {
        let frame = ServerFrame.chat(message)
        window.append(offset: message.offset, payload: frame)
        let key = MessageKey(sender: message.sender, clientID: message.clientID)
        remember(key, message.offset)
        broadcast(frame, .chat)
        let ack = ServerFrame.ack(id: message.clientID, offset: message.offset)
        for session in waiters.removeValue(forKey: key) ?? [] { session.send(ack, .ack) }
    }

    private func remember(_ key: MessageKey, _ offset: Int64) {
        if acknowledgedOrder.count < acknowledgedCapacity {
            acknowledgedOrder.append(key)
        } else {
            acknowledged[acknowledgedOrder[acknowledgedHead]] = nil
            acknowledgedOrder[acknowledgedHead] = key
            acknowledgedHead = (acknowledgedHead + 1) % acknowledgedCapacity
        }
        acknowledged[key] = offset
    }

    /// The latest position each connection sent since the last tick. Moves skip the actor: positions are
    /// last-writer-wins and only read at the tick, so a lock-protected mailbox is all they need.
    private let pendingMoves = Mutex<[ConnectionID: Position]>([:])

    nonisolated func move(from connection: ConnectionID, to position: Position) {
        pendingMoves.withLock { $0[connection] = position }
    }

    func media(from connection: ConnectionID, audio: Bool, video: Bool) {
        guard let id = state.participant(for: connection) else { return }
        if state.setMedia(id, audio: audio, video: video) {
            broadcast(ServerFrame.media(id, audio: audio, video: video), .media)
        }
    }

    /// `app` to one participant or to everyone else in the room.
    func app(from connection: ConnectionID, data: JSONValue, to: ParticipantID?) {
        guard let session = sessions[connection], let from = state.participant(for: connection) else { return }
        let frame = ServerFrame.relay("app", from: from, data: data)
        guard let to else { return broadcast(frame, .app, except: from) }
        guard state.contains(to) else {
            return session.sendError(.unknownParticipant, "no participant '\(to.rawValue.prefix(64))' in this room")
        }
        send(frame, .app, to: to)
    }

    /// `signal` (WebRTC offer, answer, ICE candidate) to one participant of this room.
    func signal(from connection: ConnectionID, to: ParticipantID, data: JSONValue) {
        guard let session = sessions[connection], let from = state.participant(for: connection) else { return }
        guard state.contains(to) else {
            return session.sendError(.unknownParticipant, "no participant '\(to.rawValue.prefix(64))' in this room")
        }
        send(ServerFrame.relay("signal", from: from, data: data), .signal, to: to)
    }

    // MARK: Interest management

    /// Flushes this tick's coalesced moves: one `moves` frame per viewer, assembled from per-cell fragments
    /// that are encoded once; `enter`/`exit` where avatars crossed the edge of a viewer's area.
    func tick() {
        let moves = pendingMoves.withLock { pending in
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        for (connection, position) in moves {
            if let id = state.participant(for: connection) { state.move(id, to: position) }
        }
        let result = state.tick()
        guard !result.isEmpty else { return }
        var fragments: [GridCell: [UInt8]] = [:]
        fragments.reserveCapacity(result.movesByCell.count)
        for (cell, avatars) in result.movesByCell { fragments[cell] = ServerFrame.moveEntries(avatars) }
        var batch = FlushBatch()
        // Introductions first, so a viewer never gets moves of an avatar it has not been told about.
        for (viewer, avatars) in result.enters {
            send(ByteBuffer(bytes: ServerFrame.enter(avatars)), .enter, to: viewer, in: &batch)
        }
        for (viewer, ids) in result.exits { send(ByteBuffer(bytes: ServerFrame.exit(ids)), .exit, to: viewer, in: &batch) }
        // Viewers in the same cell see the same cells: share the assembled frame (the same buffer) too.
        var assembled: [[GridCell]: ByteBuffer] = [:]
        for (viewer, var cells) in result.cellsByViewer {
            cells.sort { ($0.y, $0.x) < ($1.y, $1.x) }
            let frame: ByteBuffer
            if let cached = assembled[cells] {
                frame = cached
            } else {
                frame = ByteBuffer(bytes: ServerFrame.moves(fragments: cells.map { fragments[$0]! }))
                assembled[cells] = frame
            }
            send(frame, .moves, to: viewer, in: &batch)
        }
        batch.schedule()
    }

    // MARK: Fan-out

    /// Queues `frame` to every connection of `participant`; `batch` collects the flushes to schedule.
    private func send(_ frame: ByteBuffer, _ type: ServerFrame.FrameType, to participant: ParticipantID, in batch: inout FlushBatch) {
        for connection in state.connections(of: participant) {
            if let session = sessions[connection], batch.append(frame, to: session.queue) {
                metrics.framesOut[type]?.increment()
            }
        }
    }

    /// Queues `frame` to every connection of `participant` and schedules the flushes.
    private func send(_ frame: [UInt8], _ type: ServerFrame.FrameType, to participant: ParticipantID) {
        var batch = FlushBatch()
        send(ByteBuffer(bytes: frame), type, to: participant, in: &batch)
        batch.schedule()
    }

    /// Queues the same bytes (one buffer, shared) to every connection but `except`'s, then schedules the
    /// flushes: one task per event loop.
    private func broadcast(_ frame: [UInt8], _ type: ServerFrame.FrameType, except: ParticipantID? = nil) {
        let bytes = ByteBuffer(bytes: frame)
        var batch = FlushBatch()
        var delivered: Int64 = 0
        for (connection, session) in sessions {
            if let except, state.participant(for: connection) == except { continue }
            if batch.append(bytes, to: session.queue) { delivered += 1 }
        }
        batch.schedule()
        metrics.framesOut[type]?.increment(by: delivered)
        metrics.fanoutDeliveries.increment(by: delivered)
    }
}
