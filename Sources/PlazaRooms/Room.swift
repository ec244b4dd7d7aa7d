public import PlazaCore
public import PlazaProtocol
public import PlazaStore
public import PlazaAuth
public import PlazaMetrics
public import Logging
import Synchronization

/// One room on its home node: the only place its state lives.
///
/// Everything that changes the room runs on this actor, so ordering needs no locks: the chat log (`ChatLog`)
/// assigns offsets, one commit loop (`run()`, see Room+Chat.swift) makes them durable in order, and the room
/// fans them out in offset order; a reconnecting client's replay and its registration for live messages happen
/// in one step, so nothing committed can fall between them. Moves skip the actor (a lock-protected mailbox read
/// at the tick): positions are last-writer-wins.
public actor Room {
    public nonisolated let name: RoomName
    var state: RoomState
    var log: ChatLog<ConnectionID, OutboundFrame>
    var connections: [ConnectionID: any Outbound] = [:]
    let store: any ChatStore
    /// The room's right to write on a fleet node (`RoomClaims`); nil where one process hosts every room.
    public nonisolated let fence: Fence?
    let metrics: PlazaMetrics
    let logger: Logger
    let clock: any RoomClock

    /// The commit loop's work: at most one commit or look-up at a time (the log sees to it).
    let commits: AsyncStream<ChatLog<ConnectionID, OutboundFrame>.Action>
    let commitRequests: AsyncStream<ChatLog<ConnectionID, OutboundFrame>.Action>.Continuation
    /// Callers of `closeAll` waiting for the log to have nothing in flight.
    var idleWaiters: [CheckedContinuation<Void, Never>] = []

    /// Set once the registry unloads the room; a session that raced the unload asks the registry again.
    private let retiredFlag = Atomic<Bool>(false)
    public nonisolated var isRetired: Bool { retiredFlag.load(ordering: .acquiring) }
    /// When the last connection left (`clock.now`), nil while anyone is connected.
    private(set) var emptySince: Duration?

    /// Who talks to whom on the bridge, when one is configured; nil: peer-to-peer only (Room+Conferences.swift).
    let conferenceSetup: ConferenceSetup?
    let conferenceKeeper: ConferenceKeeper?
    var conferenceMemory = ConferencePlan.Memory()
    var conferencePlacements: [ParticipantID: ConferencePlan.Placement] = [:]
    /// The conference each participant was last told of, sent again to a participant's new connections.
    var toldConference: [ParticipantID: ServerFrame.Conference] = [:]
    /// Someone moved, came or went since the last plan.
    var conferencesChanged = false

    /// Loads the room's recent history from the store. Run `run()` for the room's lifetime.
    public static func load(
        name: RoomName, store: any ChatStore, fence: Fence?, configuration: RoomsConfiguration, space: SpaceConfiguration,
        arrivals: Arrivals, conferences: ConferenceSetup? = nil, metrics: PlazaMetrics, clock: any RoomClock, logger: Logger
    ) async throws -> Room {
        let capacity = configuration.resumeWindow
        let recent = capacity > 0 ? try await store.latestMessages(in: name, limit: capacity) : []
        let last = try await store.lastOffset(in: name)
        let log = ChatLog<ConnectionID, OutboundFrame>(room: name, capacity: capacity, recent: recent, lastOffset: last) {
            OutboundFrame(ServerFrame.chat($0), .chat)
        }
        var logger = logger
        logger[metadataKey: "room"] = "\(name)"
        return Room(
            name: name, log: log, state: RoomState(name: name, limits: configuration.limits, geometry: space.geometry, arrivals: arrivals),
            store: store, fence: fence, conferences: conferences, metrics: metrics, clock: clock, logger: logger)
    }

    init(
        name: RoomName, log: ChatLog<ConnectionID, OutboundFrame>, state: RoomState, store: any ChatStore, fence: Fence?,
        conferences: ConferenceSetup? = nil, metrics: PlazaMetrics, clock: any RoomClock, logger: Logger
    ) {
        (self.name, self.log, self.state, self.store, self.fence) = (name, log, state, store, fence)
        (self.metrics, self.clock, self.logger) = (metrics, clock, logger)
        conferenceSetup = conferences
        conferenceKeeper = conferences.map {
            ConferenceKeeper(bridge: $0.bridge, publishers: state.limits.participantsPerRoom, logger: logger)
        }
        (commits, commitRequests) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        emptySince = clock.now
    }

    // MARK: Presence

    /// Why a connection was not attached: the room was unloaded meanwhile (look it up again), or a limit refused it.
    public enum AttachError: Error, Sendable {
        /// The room was unloaded meanwhile: look it up again.
        case retired
        case refused(Refusal)
    }

    /// Registers a connection and queues its `welcome` (and, when resuming, the chat messages it missed).
    public func attach(
        _ connection: ConnectionID, _ outbound: any Outbound, grant: Grant, name: String, since: Int64?, audio: Bool, video: Bool
    ) throws(AttachError) {
        guard !isRetired else { throw .retired }
        let outcome: RoomState.JoinOutcome
        do {
            outcome = try state.connect(connection, as: grant.participant, name: name, role: grant.role, audio: audio, video: video)
        } catch {
            switch error {
            case .roomFull: throw .refused(.roomFull)
            case .tooManyConnections: throw .refused(.tooManyConnections)
            }
        }
        connections[connection] = outbound
        emptySince = nil
        let missed = since.flatMap { log.recover(since: $0) }
        send(
            ServerFrame.welcome(
                you: grant.participant, room: self.name, participants: state.roster(), offset: log.lastOffset,
                recovered: missed != nil),
            .welcome, to: outbound)
        for frame in missed ?? [] { send(frame, to: outbound) }
        switch outcome {
        case .joined(let snapshot):
            metrics.participants.increment()
            conferencesChanged = true
            broadcast(OutboundFrame(ServerFrame.joined(snapshot), .joined), except: grant.participant)
        case .additionalConnection:
            // The participant's view already exists; this connection needs it now, not at the next change.
            let view = state.visibleAvatars(of: grant.participant)
            if !view.isEmpty { send(ServerFrame.enter(view), .enter, to: outbound) }
            if let conference = toldConference[grant.participant] { send(ServerFrame.conference(conference), .conference, to: outbound) }
        }
    }

    /// Forgets a connection; announces `left` when it was its participant's last one.
    public func detach(_ connection: ConnectionID) {
        guard connections.removeValue(forKey: connection) != nil else { return }
        if let left = state.disconnect(connection) {
            metrics.participants.decrement()
            toldConference[left] = nil
            conferencesChanged = true
            broadcast(OutboundFrame(ServerFrame.left(left), .left))
        }
        if connections.isEmpty { emptySince = clock.now }
    }

    public var participantCount: Int { state.participantCount }
    public var connectionCount: Int { connections.count }

    /// Whether `participant` could join now (for join's early answer; `attach` decides for real).
    public func admits(_ participant: ParticipantID) -> Bool {
        state.contains(participant) || state.participantCount < state.limits.participantsPerRoom
    }

    /// Unloads the room if it has been empty for `idle` and has nothing left to commit; its commit loop then ends.
    func retireIfIdle(for idle: Duration) -> Bool {
        guard connections.isEmpty, log.isIdle, let emptySince, clock.now - emptySince >= idle else { return false }
        retire()
        return true
    }

    /// Marks the room unloaded and ends its commit loop once the work already asked for is done.
    func retire() {
        retiredFlag.store(true, ordering: .releasing)
        commitRequests.finish()
        conferenceKeeper?.finish()
    }

    /// Closes every connection with `code` once every accepted chat message has been committed and acked.
    public func closeAll(_ code: CloseCode, reason: String) async {
        while !log.isIdle {
            await withCheckedContinuation { idleWaiters.append($0) }
        }
        for connection in connections.values { connection.close(code, reason: reason) }
    }

    /// The room lives elsewhere now: stop at once and send every client away with 4003, so it joins again and
    /// finds the new home. Nothing pending was stored or acknowledged; the clients send it again there.
    public func moveAway() {
        retire()
        for connection in connections.values { connection.close(.moved, reason: "moved") }
        resumeIdleWaiters()
    }

    func resumeIdleWaiters() {
        guard log.isIdle || log.hasMoved else { return }
        let waiters = idleWaiters
        idleWaiters.removeAll()
        for waiter in waiters { waiter.resume() }
    }

    // MARK: Frames

    /// The latest position each connection sent since the last tick. Moves skip the actor: positions are
    /// last-writer-wins and only read at the tick, so a lock-protected mailbox is all they need.
    private let pendingMoves = Mutex<[ConnectionID: Position]>([:])

    public nonisolated func move(from connection: ConnectionID, to position: Position) {
        pendingMoves.withLock { $0[connection] = position }
    }

    public func media(from connection: ConnectionID, audio: Bool, video: Bool) {
        guard let id = state.participant(for: connection) else { return }
        if state.setMedia(id, audio: audio, video: video) {
            broadcast(OutboundFrame(ServerFrame.media(id, audio: audio, video: video), .media))
        }
    }

    /// `app` to one participant or to everyone else in the room.
    public func app(from connection: ConnectionID, data: JSONValue, to: ParticipantID?) {
        guard let outbound = connections[connection], let from = state.participant(for: connection) else { return }
        let frame = OutboundFrame(ServerFrame.relay("app", from: from, data: data), .app)
        guard let to else { return broadcast(frame, except: from) }
        guard state.contains(to) else {
            return sendError(.unknownParticipant, "no participant '\(to.rawValue.prefix(64))' in this room", to: outbound)
        }
        send(frame, toParticipant: to)
    }

    /// `signal` (WebRTC offer, answer, ICE candidate) to one participant of this room.
    public func signal(from connection: ConnectionID, to: ParticipantID, data: JSONValue) {
        guard let outbound = connections[connection], let from = state.participant(for: connection) else { return }
        guard state.contains(to) else {
            return sendError(.unknownParticipant, "no participant '\(to.rawValue.prefix(64))' in this room", to: outbound)
        }
        send(OutboundFrame(ServerFrame.relay("signal", from: from, data: data), .signal), toParticipant: to)
    }

    // MARK: Interest management

    /// Flushes this tick's coalesced moves: one `moves` frame per viewer, assembled from per-cell fragments
    /// that are encoded once; `enter`/`exit` where avatars crossed the edge of a viewer's area.
    public func tick() {
        let moves = pendingMoves.withLock { pending in
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        for (connection, position) in moves {
            if let id = state.participant(for: connection) { state.move(id, to: position) }
        }
        if !moves.isEmpty { conferencesChanged = true }
        planConferences()
        let result = state.tick()
        guard !result.isEmpty else { return }
        var fragments: [GridCell: [UInt8]] = [:]
        fragments.reserveCapacity(result.movesByCell.count)
        for (cell, avatars) in result.movesByCell { fragments[cell] = ServerFrame.moveEntries(avatars) }
        // One burst: each viewer's frames of this tick are written together. Introductions first, so a viewer
        // never gets moves of an avatar it has not been told about.
        var burst = FlushBurst()
        defer { burst.flush() }
        for (viewer, avatars) in result.enters {
            send(OutboundFrame(ServerFrame.enter(avatars), .enter), toParticipant: viewer, in: &burst)
        }
        for (viewer, ids) in result.exits {
            send(OutboundFrame(ServerFrame.exit(ids), .exit), toParticipant: viewer, in: &burst)
        }
        // Viewers in the same cell see the same cells: share the assembled frame too.
        var assembled: [[GridCell]: OutboundFrame] = [:]
        for (viewer, var cells) in result.cellsByViewer {
            cells.sort { ($0.y, $0.x) < ($1.y, $1.x) }
            let frame: OutboundFrame
            if let cached = assembled[cells] {
                frame = cached
            } else {
                frame = OutboundFrame(ServerFrame.moves(fragments: cells.map { fragments[$0]! }), .moves)
                assembled[cells] = frame
            }
            send(frame, toParticipant: viewer, in: &burst)
        }
    }

    // MARK: Fan-out

    /// Queues `frame` to one connection.
    func send(_ frame: OutboundFrame, to outbound: any Outbound) {
        if outbound.send(frame) { metrics.framesOut[frame.type]?.increment() }
    }

    func send(_ bytes: [UInt8], _ type: ServerFrame.FrameType, to outbound: any Outbound) {
        send(OutboundFrame(bytes, type), to: outbound)
    }

    func sendError(_ code: ErrorCode, _ message: String, ref: String? = nil, to outbound: any Outbound) {
        metrics.rejected(code)
        send(ServerFrame.error(code, message, ref: ref), .error, to: outbound)
    }

    /// Queues `frame` to every connection of `participant`, in `burst`.
    private func send(_ frame: OutboundFrame, toParticipant participant: ParticipantID, in burst: inout FlushBurst) {
        for connection in state.connections(of: participant) {
            if let outbound = connections[connection], outbound.send(frame, in: &burst) { metrics.framesOut[frame.type]?.increment() }
        }
    }

    /// Queues `frame` to every connection of `participant` and has it written.
    func send(_ frame: OutboundFrame, toParticipant participant: ParticipantID) {
        var burst = FlushBurst()
        defer { burst.flush() }
        send(frame, toParticipant: participant, in: &burst)
    }

    /// Queues the same frame to every connection but `except`'s, then flushes them together.
    func broadcast(_ frame: OutboundFrame, except: ParticipantID? = nil) {
        var burst = FlushBurst()
        defer { burst.flush() }
        var delivered: Int64 = 0
        for (connection, outbound) in connections {
            if let except, state.participant(for: connection) == except { continue }
            if outbound.send(frame, in: &burst) { delivered += 1 }
        }
        metrics.framesOut[frame.type]?.increment(by: delivered)
        metrics.fanoutDeliveries.increment(by: delivered)
    }
}
