public import PlazaCore
public import PlazaPlacement
import Foundation

/// What a node tells the registry when it starts: where clients reach it and how much it can take.
public struct NodeRegistration: Sendable, Equatable {
    public var id: String
    /// Base URL clients use for this node (`https://node-1.example.org`); join turns it into the WebSocket URL.
    public var url: String
    public var region: String
    /// Participants the node is sized for.
    public var capacity: Int
    /// What it is: `room-server` (rooms are placed on it), or a media server an agent registered (`jvb`,
    /// `janus`: conferences are placed on it; `jibri`: recordings are).
    public var kind: String

    public init(id: String, url: String, region: String, capacity: Int, kind: String = "room-server") {
        self.id = id
        self.url = url
        self.region = region
        self.capacity = capacity
        self.kind = kind
    }
}

/// A node's periodic report of its load.
public struct NodeReport: Sendable, Equatable {
    public var state: NodeState
    public var connections: Int
    public var rooms: Int
    public var participants: Int
    /// CPU in use, 0…1 of the machine.
    public var cpu: Double
    public var bytesOutPerSecond: Double
    /// Bytes received per second: a media bridge's (`bit_rate_download`); room servers report 0.
    public var bytesInPerSecond: Double
    /// Participants in its largest room or conference.
    public var largestRoom: Int

    public init(
        state: NodeState = .serving, connections: Int = 0, rooms: Int = 0, participants: Int = 0, cpu: Double = 0,
        bytesOutPerSecond: Double = 0, bytesInPerSecond: Double = 0, largestRoom: Int = 0
    ) {
        self.state = state
        self.connections = connections
        self.rooms = rooms
        self.participants = participants
        self.cpu = cpu
        self.bytesOutPerSecond = bytesOutPerSecond
        self.bytesInPerSecond = bytesInPerSecond
        self.largestRoom = largestRoom
    }
}

/// Milliseconds since the Unix epoch: the time unit of the fleet's store.
public func wallClockMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

extension Duration {
    /// The duration in whole milliseconds, the store's unit for TTLs.
    public var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

/// What the registry answers a heartbeat.
public struct HeartbeatAnswer: Sendable, Equatable {
    /// Rooms the node reported that live elsewhere now.
    public var lost: [RoomName]
    /// The autoscaler chose this node for scale-in: it must take no new rooms.
    public var drain: Bool
    /// For a recorder: the room it is to record, if one is assigned to it.
    public var recording: String?

    public init(lost: [RoomName] = [], drain: Bool = false, recording: String? = nil) {
        self.lost = lost
        self.drain = drain
        self.recording = recording
    }
}

/// A registered node as the registry knows it.
public struct NodeRecord: Sendable, Equatable {
    public var registration: NodeRegistration
    public var report: NodeReport
    /// Milliseconds since the Unix epoch of the last report (or of the registration).
    public var reportedAt: Int64

    public init(registration: NodeRegistration, report: NodeReport, reportedAt: Int64) {
        self.registration = registration
        self.report = report
        self.reportedAt = reportedAt
    }
}

/// Where a room lives: its home node, the epoch of this placement (a fencing token that grows every time the
/// room moves) and until when the home's lease runs.
public struct RoomPlacement: Sendable, Equatable {
    public var room: RoomName
    public var node: String
    public var url: String
    public var epoch: Int64
    public var leaseUntil: Int64
    /// The room's live conference on a media bridge, when it has one: read with the placement (by `place`), so
    /// a join that does not ask for a bridge still gets its room's without another round trip.
    public var conference: BridgePlacement?

    public init(room: RoomName, node: String, url: String, epoch: Int64, leaseUntil: Int64, conference: BridgePlacement? = nil) {
        self.room = room
        self.node = node
        self.url = url
        self.epoch = epoch
        self.leaseUntil = leaseUntil
        self.conference = conference
    }
}

/// The result of asking for a room's home.
public enum PlacementDecision: Sendable, Equatable {
    /// The room already had a live home.
    case existing(RoomPlacement)
    /// The room was placed now.
    case placed(RoomPlacement)
    /// No node is alive, serving and below capacity.
    case noCapacity

    public var placement: RoomPlacement? {
        switch self {
        case .existing(let placement), .placed(let placement): placement
        case .noCapacity: nil
        }
    }
}

/// The shared state of a fleet: the node registry and room placements with leases and epochs.
///
/// Times are milliseconds since the Unix epoch, passed in by the caller (so decisions stay testable); the
/// machines of a fleet must keep their clocks in step (NTP) to well within the lease and heartbeat TTLs.
public protocol PlacementStore: Sendable {
    /// Adds or updates a node; it counts as having reported at `now`.
    func register(_ node: NodeRegistration, now: Int64) async throws

    /// Records a node's load and state, and extends by `leaseTTL` the leases of the rooms it hosts (`rooms`)
    /// that are still its own. Answers the rooms of `rooms` it no longer owns (moved elsewhere: the node must
    /// stop serving them) and whether the fleet asked it to drain (its reported state then stays `draining`).
    func heartbeat(node: String, report: NodeReport, rooms: [RoomName], leaseTTL: Int64, now: Int64) async throws -> HeartbeatAnswer

    /// Every registered node, alive or not. A recorder with a recording assigned counts as busy (one room,
    /// one participant) even before its Jibri reports so.
    func nodes() async throws -> [NodeRecord]

    /// The room's home, with its live conference (`RoomPlacement.conference`): its live placement if it has one
    /// (the lease runs and the node reports within the heartbeat TTL), otherwise a node chosen by `Placement.choose` among the nodes' loads corrected by the
    /// rooms placed on them since their last report, with a new epoch and a lease of `leaseTTL`. Concurrent
    /// calls for one room, from any process, agree on one placement. With `external` loads, those replace the
    /// nodes' reported participants and CPU, and the correction counts the rooms placed since `external.since`.
    func place(
        _ room: RoomName, region: String?, policy: PlacementPolicy, external: ExternalLoads?, leaseTTL: Int64, now: Int64,
        using random: inout some RandomNumberGenerator
    ) async throws -> PlacementDecision

    /// The room's current placement row, live or not.
    func placement(of room: RoomName) async throws -> RoomPlacement?

    /// A node taking up a room: succeeds with the epoch when the room's placement is this node's and still
    /// leased, or when the room has no live placement (it is then placed here with a new epoch). Nil when the
    /// room lives elsewhere.
    func claim(_ room: RoomName, node: String, leaseTTL: Int64, now: Int64) async throws -> Int64?

    /// Gives up a room its node no longer hosts (it emptied), so its next join places it afresh. The lease ends
    /// but the row stays: the next placement of the room continues from its epoch, so epochs never repeat.
    func release(_ room: RoomName, node: String, epoch: Int64) async throws

    /// Appends chat messages only while `(node, epoch)` is the room's placement: a node that lost its room
    /// (its lease expired and the room moved) can no longer write for it. Throws `StoreError(.fenced)`.
    func append(_ messages: [ChatMessage], fencedBy node: String, epoch: Int64) async throws
}

extension PlacementStore {
    /// Placement by the nodes' own reports.
    public func place(
        _ room: RoomName, region: String?, policy: PlacementPolicy, leaseTTL: Int64, now: Int64,
        using random: inout some RandomNumberGenerator
    ) async throws -> PlacementDecision {
        try await place(room, region: region, policy: policy, external: nil, leaseTTL: leaseTTL, now: now, using: &random)
    }
}
