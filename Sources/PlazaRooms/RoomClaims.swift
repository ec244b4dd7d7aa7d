public import PlazaCore
public import PlazaStore
public import PlazaFleetModel

/// How a room server takes a room up and gives it back: alone (`plaza serve`: one process hosts every room,
/// nothing to fence) or under the room's placement in a fleet (`FleetClaims`).
public protocol RoomClaims: Sendable {
    /// Takes up `room`: the room's fence, `.alone` when none is needed, or `.elsewhere` when the room's
    /// placement is another node's.
    func claim(_ room: RoomName) async throws -> RoomClaim

    /// Gives up an emptied room so its next join places it afresh.
    func release(_ room: RoomName, _ claim: RoomClaim) async
}

/// What taking up a room gave.
public enum RoomClaim: Sendable, Equatable {
    /// One process hosts every room: writes need no fence.
    case alone
    /// The room is this node's under this fence.
    case fenced(Fence)
    /// The room lives on another node.
    case elsewhere

    var fence: Fence? { if case .fenced(let fence) = self { fence } else { nil } }
}

/// `plaza serve`: every room is this process's.
public struct SoleHost: RoomClaims {
    public init() {}
    public func claim(_ room: RoomName) async throws -> RoomClaim { .alone }
    public func release(_ room: RoomName, _ claim: RoomClaim) async {}
}

/// A fleet node: a room is taken up only under its placement, which the node's heartbeat keeps leased.
public struct FleetClaims: RoomClaims {
    public let placements: any RoomPlacements
    public let node: NodeID
    /// How long a claimed placement stays this node's without renewal (`cluster.leaseTTL`).
    public let leaseTTL: Duration

    public init(placements: any RoomPlacements, node: NodeID, leaseTTL: Duration) {
        (self.placements, self.node, self.leaseTTL) = (placements, node, leaseTTL)
    }

    public func claim(_ room: RoomName) async throws -> RoomClaim {
        let now = placements.fleetTime()
        guard let fence = try await placements.claim(room, node: node, leaseTTL: leaseTTL.milliseconds, now: now) else {
            return .elsewhere
        }
        return .fenced(fence)
    }

    public func release(_ room: RoomName, _ claim: RoomClaim) async {
        guard let fence = claim.fence else { return }
        try? await placements.release(room, fence: fence)
    }
}
