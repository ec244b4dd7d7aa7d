public import PlazaStore
public import PlazaPlacement
import PlazaCore
import Foundation

/// This node's place in a fleet: the shared placement store, what it registers as, and the lease rules.
/// Absent on `plaza serve`, where one process hosts every room and nothing needs fencing.
public struct ClusterMembership: Sendable {
    public let placements: any PlacementStore
    public let registration: NodeRegistration
    /// How long a placement stays this node's without renewal (`cluster.leaseTTL`).
    public let leaseTTL: Duration
    /// How often the node reports and renews its leases (`cluster.heartbeatInterval`).
    public let heartbeatInterval: Duration

    public init(placements: any PlacementStore, registration: NodeRegistration, leaseTTL: Duration, heartbeatInterval: Duration) {
        self.placements = placements
        self.registration = registration
        self.leaseTTL = leaseTTL
        self.heartbeatInterval = heartbeatInterval
    }

    var leaseMilliseconds: Int64 { leaseTTL.milliseconds }
}

/// What makes a process a directory (`plaza directory`): it hosts no rooms, and join places each room on a
/// node of the fleet.
public struct DirectoryRole: Sendable {
    public let placements: any PlacementStore
    public let policy: PlacementPolicy
    /// The lease a new placement starts with: the time its node has to take the room up (`cluster.leaseTTL`).
    public let leaseTTL: Duration
    /// Node load from Prometheus instead of the nodes' reports (`cluster.loadSource` prometheus).
    public let prometheus: PrometheusLoadSource?
    /// The autoscaler's state, for the fleet API.
    public let fleet: any FleetStore
    /// Media bridges and recorders: conferences and recordings.
    public let media: any MediaStore

    init(
        placements: any PlacementStore, fleet: any FleetStore, media: any MediaStore, policy: PlacementPolicy,
        leaseTTL: Duration, prometheus: PrometheusLoadSource?
    ) {
        self.placements = placements
        self.fleet = fleet
        self.media = media
        self.policy = policy
        self.leaseTTL = leaseTTL
        self.prometheus = prometheus
    }
}

/// A room's right to write: its home node and the placement's epoch. The store refuses writes under an older
/// epoch, so a node that lost its room cannot add to its history.
struct Fence: Sendable {
    let placements: any PlacementStore
    let node: String
    let epoch: Int64
}

