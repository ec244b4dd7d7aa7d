// The room domain, with no networking and no clock of its own: who is in a room and where (`RoomState`), the
// spatial grid behind interest management, the chat log state machine (`ChatLog`) and its resume window, the
// limits, rate limiting, and the clock rooms are given. Everything here is a value or a pure function of its
// inputs, so rooms, tests and simulations run the same code.

/// Where an avatar is, as sent to viewers.
public struct AvatarState: Sendable, Equatable {
    public var id: ParticipantID
    public var position: Position
    public init(id: ParticipantID, position: Position) {
        (self.id, self.position) = (id, position)
    }
}

/// A participant as the roster shows it.
public struct ParticipantSnapshot: Sendable, Equatable {
    public var id: ParticipantID
    public var name: String
    public var role: Role
    public var position: Position
    public var audio: Bool
    public var video: Bool
}

/// What a room's clients should be sent after one tick of interest management.
public struct TickResult: Sendable {
    /// The coalesced moves of this tick, grouped by the cell each avatar is now in.
    public var movesByCell: [GridCell: [AvatarState]] = [:]
    /// For each viewer, the cells of `movesByCell` inside its area of interest.
    public var cellsByViewer: [ParticipantID: [GridCell]] = [:]
    /// Avatars that came into a viewer's area of interest.
    public var enters: [ParticipantID: [AvatarState]] = [:]
    /// Avatars that left a viewer's area of interest.
    public var exits: [ParticipantID: [ParticipantID]] = [:]

    public var isEmpty: Bool { movesByCell.isEmpty && enters.isEmpty && exits.isEmpty }
}

/// The state of one room, with no I/O: presence (participants and their connections), media state,
/// positions on a spatial grid with per-viewer interest, and the rules that limit them.
///
/// Positions are ephemeral: a move only records the latest position (last writer wins); `tick()` applies the
/// coalesced moves, updates the grid and computes enter/exit per viewer. Nothing here is ever stored.
public struct RoomState: Sendable {
    struct Participant: Sendable {
        var name: String
        var role: Role
        var position: Position
        /// Nil until the first tick places the participant on the grid.
        var cell: GridCell?
        var audio: Bool
        var video: Bool
        var connections: Set<ConnectionID>
        /// Avatars currently inside this participant's area of interest (excluding itself).
        var visible: Set<ParticipantID> = []
    }

    public let name: RoomName
    public let limits: RoomLimits
    public let arrivals: Arrivals
    private var grid: SpatialGrid
    private var participants: [ParticipantID: Participant] = [:]
    private var connections: [ConnectionID: ParticipantID] = [:]
    /// Participants whose position changed (or who joined) since the last tick.
    private var dirty: Set<ParticipantID> = []

    public init(
        name: RoomName, limits: RoomLimits, geometry: GridGeometry, arrivals: Arrivals = Arrivals(spawn: Position(x: 0, y: 0))
    ) {
        (self.name, self.limits, self.arrivals) = (name, limits, arrivals)
        self.grid = SpatialGrid(geometry: geometry)
    }

    public var participantCount: Int { participants.count }
    public var connectionCount: Int { connections.count }
    public var isEmpty: Bool { connections.isEmpty }

    /// Why a connection cannot join: the room's or the participant's limit.
    public enum JoinError: Error, Sendable, Equatable {
        case roomFull
        case tooManyConnections
    }

    /// Whether a join brought a new participant (announced to the room) or another connection of one already there.
    public enum JoinOutcome: Sendable, Equatable {
        /// The participant was not in the room: everyone should be told it joined.
        case joined(ParticipantSnapshot)
        /// Another connection of a participant already present: nobody else needs to know.
        case additionalConnection(ParticipantSnapshot)
    }

    /// Adds a connection for `id`. The initial media state is explicit (never assumed from a previous session
    /// of a participant that has left); an additional connection keeps the state the participant already has.
    public mutating func connect(
        _ connection: ConnectionID, as id: ParticipantID, name: String, role: Role, audio: Bool, video: Bool
    ) throws(JoinError) -> JoinOutcome {
        if var existing = participants[id] {
            guard existing.connections.count < limits.connectionsPerParticipant else { throw .tooManyConnections }
            existing.connections.insert(connection)
            participants[id] = existing
            connections[connection] = id
            return .additionalConnection(snapshot(id, existing))
        }
        guard participants.count < limits.participantsPerRoom else { throw .roomFull }
        let participant = Participant(
            name: name, role: role, position: arrivals.spot(present: participants.values.lazy.map(\.position)), cell: nil, audio: audio, video: video, connections: [connection]
        )
        participants[id] = participant
        connections[connection] = id
        dirty.insert(id)
        return .joined(snapshot(id, participant))
    }

    /// Removes a connection. Returns the participant's id when that was its last connection (it left the room).
    public mutating func disconnect(_ connection: ConnectionID) -> ParticipantID? {
        guard let id = connections.removeValue(forKey: connection), var participant = participants[id] else { return nil }
        participant.connections.remove(connection)
        guard participant.connections.isEmpty else {
            participants[id] = participant
            return nil
        }
        participants[id] = nil
        dirty.remove(id)
        if let cell = participant.cell {
            grid.remove(id, from: cell)
            for viewer in grid.occupants(around: cell) {
                participants[viewer]?.visible.remove(id)
            }
        }
        return id
    }

    public func participant(for connection: ConnectionID) -> ParticipantID? { connections[connection] }

    public func connections(of id: ParticipantID) -> Set<ConnectionID> { participants[id]?.connections ?? [] }

    public func contains(_ id: ParticipantID) -> Bool { participants[id] != nil }

    /// Every participant, for a `welcome` roster.
    public func roster() -> [ParticipantSnapshot] {
        participants.map { snapshot($0.key, $0.value) }.sorted { $0.id < $1.id }
    }

    public func snapshot(of id: ParticipantID) -> ParticipantSnapshot? {
        participants[id].map { snapshot(id, $0) }
    }

    private func snapshot(_ id: ParticipantID, _ p: Participant) -> ParticipantSnapshot {
        ParticipantSnapshot(id: id, name: p.name, role: p.role, position: p.position, audio: p.audio, video: p.video)
    }

    /// Records the participant's latest position; applied at the next tick.
    public mutating func move(_ id: ParticipantID, to position: Position) {
        guard participants[id] != nil else { return }
        participants[id]!.position = position
        dirty.insert(id)
    }

    /// Sets (never toggles) media state. Returns true when it changed, so only changes are announced.
    public mutating func setMedia(_ id: ParticipantID, audio: Bool, video: Bool) -> Bool {
        guard let p = participants[id], p.audio != audio || p.video != video else { return false }
        participants[id]!.audio = audio
        participants[id]!.video = video
        return true
    }

    /// Every participant id, in no particular order.
    public var participantIDs: [ParticipantID] { Array(participants.keys) }

    /// Every participant's position.
    public var positions: [ParticipantID: Position] { participants.mapValues(\.position) }

    /// Applies this tick's coalesced moves and computes who must be told what.
    public mutating func tick() -> TickResult {
        var result = TickResult()
        guard !dirty.isEmpty else { return result }
        let geometry = grid.geometry
        var cellChanges: [(id: ParticipantID, old: GridCell?, new: GridCell)] = []
        for id in dirty {
            guard var p = participants[id] else { continue }
            let newCell = geometry.cell(for: p.position)
            if p.cell != newCell {
                if let old = p.cell { grid.remove(id, from: old) }
                grid.insert(id, at: newCell)
                cellChanges.append((id, p.cell, newCell))
                p.cell = newCell
                participants[id] = p
            }
            result.movesByCell[newCell, default: []].append(AvatarState(id: id, position: p.position))
        }
        dirty.removeAll(keepingCapacity: true)

        // Viewers that changed cell recompute their whole view; the grid is already up to date.
        var changed = Set<ParticipantID>(minimumCapacity: cellChanges.count)
        for change in cellChanges {
            changed.insert(change.id)
            let now = Set(grid.occupants(around: change.new).lazy.filter { $0 != change.id })
            let before = participants[change.id]!.visible
            let entered = now.subtracting(before)
            let exited = before.subtracting(now)
            if !entered.isEmpty {
                result.enters[change.id, default: []].append(contentsOf: entered.map { avatar($0) })
            }
            if !exited.isEmpty { result.exits[change.id, default: []].append(contentsOf: exited) }
            participants[change.id]!.visible = now
        }
        // Viewers that stayed put only need to hear about avatars that crossed into or out of their area.
        for change in cellChanges {
            var candidates = Set(grid.occupants(around: change.new))
            if let old = change.old { candidates.formUnion(grid.occupants(around: old)) }
            for viewer in candidates where viewer != change.id && !changed.contains(viewer) {
                guard let viewerCell = participants[viewer]?.cell else { continue }
                let inView = geometry.sees(from: viewerCell, change.new)
                let had = participants[viewer]!.visible.contains(change.id)
                if inView && !had {
                    participants[viewer]!.visible.insert(change.id)
                    result.enters[viewer, default: []].append(avatar(change.id))
                } else if !inView && had {
                    participants[viewer]!.visible.remove(change.id)
                    result.exits[viewer, default: []].append(change.id)
                }
            }
        }
        // Each dirty cell's moves go to every viewer whose area covers it.
        for cell in result.movesByCell.keys {
            for viewer in grid.occupants(around: cell) {
                result.cellsByViewer[viewer, default: []].append(cell)
            }
        }
        return result
    }

    private func avatar(_ id: ParticipantID) -> AvatarState {
        AvatarState(id: id, position: participants[id]!.position)
    }

    /// Where the avatars a participant currently sees are: what a participant's new connection (another
    /// tab, a reconnect) is sent as its first `enter`.
    public func visibleAvatars(of id: ParticipantID) -> [AvatarState] {
        visible(to: id).sorted().map(avatar)
    }

    /// The avatars a participant currently sees (for tests and diagnostics).
    public func visible(to id: ParticipantID) -> Set<ParticipantID> { participants[id]?.visible ?? [] }
}
