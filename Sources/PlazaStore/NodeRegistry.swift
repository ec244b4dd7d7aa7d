public import PlazaCore
public import PlazaFleetModel

/// The fleet's registry: every node (room servers, bridges, recorders) with its registration and last report.
///
/// Times are milliseconds since the Unix epoch, passed in by the caller (so decisions stay testable), who reads
/// them from `fleetTime()`: the store's clock, so a machine whose own clock is off does not stretch its leases.
public protocol NodeRegistry: FleetTimeSource {
    /// Adds or updates a node; it counts as having reported at `now`.
    func register(_ node: NodeRegistration, now: Int64) async throws

    /// An agent's beat: records the load and state of the bridge or recorder it stands beside, and answers what
    /// the fleet wants of it. A node the autoscaler asked to drain stays `draining` whatever it reports.
    func report(node: NodeID, _ report: NodeReport, now: Int64) async throws -> RegistryAnswer

    /// Every registered node, alive or not, with its assigned recording (`NodeRecord.assignment`, counted in its
    /// report).
    func nodes() async throws -> [NodeRecord]

    /// Marks a registered node draining: placement skips it from now on, and its next beat tells it so. False
    /// when the node has a recording assigned (a recorder given a job since the caller read it): it stays.
    @discardableResult
    func requestDrain(node: NodeID) async throws -> Bool

    /// Removes a terminated instance from the registry (its rooms, if any are left, are placed afresh).
    func forget(node: NodeID) async throws
}

/// What the registry answers an agent's beat.
public struct RegistryAnswer: Sendable, Equatable {
    /// The autoscaler chose this node for scale-in: it must take no new conferences or recordings.
    public var drain: Bool
    /// For a recorder: the room it is to record, if one is assigned to it.
    public var recording: RoomName?

    public init(drain: Bool = false, recording: RoomName? = nil) {
        (self.drain, self.recording) = (drain, recording)
    }
}
