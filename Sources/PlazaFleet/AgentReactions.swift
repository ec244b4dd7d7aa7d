public import PlazaCore
public import PlazaFleetModel
public import PlazaStore

/// What an agent does once the registry has answered its report: ask its server to drain (once), start or stop the
/// recording the registry assigned, and give a recorder back when its recording ended on its own (the meeting
/// ended: Jibri was busy since the assignment and is idle now). Pure, so that a simulated recorder or bridge reacts
/// as the real agent does.
public struct AgentReactions: Sendable, Equatable {
    public private(set) var drainRequested = false
    /// The recording this recorder was told to make.
    public private(set) var recording: RoomName?
    /// Whether the recorder has been busy since `recording` was assigned.
    public private(set) var recordingSeen = false

    public enum Action: Sendable, Equatable {
        /// Ask the server to drain (JVB and Jibri: graceful shutdown).
        case drain
        /// Record `room` (nil: none), stopping `replacing` first when there is one.
        case record(RoomName?, replacing: RoomName?)
        /// `room`'s recording ended by itself: the recorder is free again.
        case recordingEnded(RoomName)
    }

    public init() {}

    /// The actions after one report of a `kind` server that is `busy` now, answered with `answer`. Each action is
    /// to be confirmed with `carriedOut` once done; one that failed comes again next time.
    public mutating func step(kind: NodeKind, busy: Bool, answer: RegistryAnswer) -> [Action] {
        var actions: [Action] = []
        if answer.drain, !drainRequested { actions.append(.drain) }
        guard kind == .jibri else { return actions }
        if answer.recording != recording {
            actions.append(.record(answer.recording, replacing: recording))
        } else if let room = recording {
            if busy { recordingSeen = true }
            if recordingSeen, !busy { actions.append(.recordingEnded(room)) }
        }
        return actions
    }

    /// `action` was carried out.
    public mutating func carriedOut(_ action: Action) {
        switch action {
        case .drain: drainRequested = true
        case .record(let room, _): (recording, recordingSeen) = (room, false)
        case .recordingEnded: recording = nil
        }
    }
}
