public import PlazaCore
public import PlazaFleetModel
public import PlazaPlacement

/// Where each room lives: its home node, with a lease and an epoch (a fencing token).
///
/// Times are milliseconds since the Unix epoch, passed in by the caller; see `NodeRegistry` about clocks.
///
/// After a silence of the whole fleet longer than a lease — no room server's heartbeat reached the store, which
/// was down for everyone — every lease has run out at once, though the nodes kept their rooms (`LeaseWatch`).
/// For a heartbeat TTL after the first heartbeat back, placements stay where they were, lease or not: every
/// node has a heartbeat to renew its rooms before anyone may take them. A placement that finds no live node
/// while the fleet is silent, or coming back, is answered `.resuming` (try again), not `.noCapacity`.
public protocol RoomPlacements: FleetTimeSource {
    /// A room server's beat, in one round trip: records its load and state (as `NodeRegistry.report`) and extends
    /// by `leaseTTL` the leases of the rooms it hosts (`rooms`) that are still its own. Answers the rooms of
    /// `rooms` it no longer owns (moved elsewhere: the node must stop serving them) and whether the fleet asked
    /// it to drain (its reported state then stays `draining`).
    func heartbeat(node: NodeID, report: NodeReport, rooms: [RoomName], leaseTTL: Int64, now: Int64) async throws -> HeartbeatAnswer

    /// The room's home, with its live conference (`RoomPlacement.conference`): its live placement if it has one
    /// (the lease runs and the node reports within the heartbeat TTL), otherwise the node `Placement.choose`
    /// picks among the room servers' loads corrected by the rooms placed on them since their last report, with a
    /// new epoch and a lease of `leaseTTL`. Concurrent calls for one room, from any process, agree on one
    /// placement. With `external` loads, those replace the nodes' reported participants and CPU, and the
    /// correction counts the rooms placed since `external.since`.
    func place(
        _ room: RoomName, region: String?, policy: PlacementPolicy, external: ExternalLoads?, leaseTTL: Int64, now: Int64,
        using random: inout some RandomNumberGenerator
    ) async throws -> PlacementDecision

    /// The room's current placement row, live or not.
    func placement(of room: RoomName) async throws -> RoomPlacement?

    /// A node taking up a room: succeeds with its fence when the room's placement is this node's and still
    /// leased, or when the room has no live placement (it is then placed here with a new epoch). Nil when the
    /// room lives elsewhere.
    func claim(_ room: RoomName, node: NodeID, leaseTTL: Int64, now: Int64) async throws -> Fence?

    /// Gives up a room its node no longer hosts (it emptied), so its next join places it afresh. The lease ends
    /// but the row stays: the next placement of the room continues from its epoch, so epochs never repeat.
    func release(_ room: RoomName, fence: Fence) async throws
}

extension RoomPlacements {
    /// Placement by the nodes' own reports.
    public func place(
        _ room: RoomName, region: String?, policy: PlacementPolicy, leaseTTL: Int64, now: Int64,
        using random: inout some RandomNumberGenerator
    ) async throws -> PlacementDecision {
        try await place(room, region: region, policy: policy, external: nil, leaseTTL: leaseTTL, now: now, using: &random)
    }
}

/// What the placements answer a room server's beat.
public struct HeartbeatAnswer: Sendable, Equatable {
    /// Rooms the node reported that live elsewhere now.
    public var lost: [RoomName]
    /// The autoscaler chose this node for scale-in: it must take no new rooms.
    public var drain: Bool
    /// When the fleet last came back from a silence longer than a lease (fleet milliseconds), if it ever did: until
    /// a heartbeat TTL after it, placements stay where they were. A node tells its peers (`/readyz`), so that one
    /// whose own connection to the store is slower to come back keeps its rooms for that grace.
    public var fleetResumedAt: Int64?

    public init(lost: [RoomName] = [], drain: Bool = false, fleetResumedAt: Int64? = nil) {
        (self.lost, self.drain, self.fleetResumedAt) = (lost, drain, fleetResumedAt)
    }
}

/// Where a room lives: its home node, the epoch of this placement (a fencing token that grows every time the
/// room moves) and until when the home's lease runs.
public struct RoomPlacement: Sendable, Equatable {
    public var room: RoomName
    public var node: NodeID
    public var url: String
    public var epoch: Int64
    public var leaseUntil: Int64
    /// The room's live conference on a media bridge, when it has one: read with the placement (by `place`), so
    /// a join that does not ask for a bridge still gets its room's without another round trip.
    public var conference: BridgePlacement?

    public init(room: RoomName, node: NodeID, url: String, epoch: Int64, leaseUntil: Int64, conference: BridgePlacement? = nil) {
        (self.room, self.node, self.url, self.epoch, self.leaseUntil) = (room, node, url, epoch, leaseUntil)
        self.conference = conference
    }

    /// The right to write for the room this placement gives its node.
    public var fence: Fence { Fence(node: node, epoch: epoch) }
}

/// The result of asking for a room's home.
public enum PlacementDecision: Sendable, Equatable {
    /// The room already had a live home.
    case existing(RoomPlacement)
    /// The room was placed now.
    case placed(RoomPlacement)
    /// No node is alive, serving and below capacity.
    case noCapacity
    /// No node has reported yet since the fleet came back from a silence: ask again in a moment.
    case resuming

    public var placement: RoomPlacement? {
        switch self {
        case .existing(let placement), .placed(let placement): placement
        case .noCapacity, .resuming: nil
        }
    }
}
