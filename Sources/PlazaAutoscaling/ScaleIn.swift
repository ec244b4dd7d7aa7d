public import PlazaFleetModel
import PlazaPlacement

/// Where scale-in picks an instance: which of a pool's instances goes first when capacity is above desired.
public enum ScaleIn {
    /// Candidates, first to go first: never a protected instance, never a busy recorder (`Occupancy`); instances
    /// that have not registered yet (nobody on them), then the fewest participants (fewest to move), then the
    /// lowest load, then the newest.
    public static func order(_ capacity: [FleetInstance], kind: NodeKind, nodes: [NodeID: NodeRecord]) -> [FleetInstance] {
        capacity.filter { instance in
            guard !instance.protected else { return false }
            if kind == .jibri, let node = nodes[instance.id.node], node.occupancy == .busy { return false }
            return true
        }.sorted { a, b in
            func order(_ instance: FleetInstance) -> (Int, Double) {
                guard let node = nodes[instance.id.node] else { return (-1, -1) }
                return (node.report.participants, InstanceMetric.load.value(of: node))
            }
            let (oa, ob) = (order(a), order(b))
            return oa != ob ? oa < ob : a.launchedAt > b.launchedAt
        }
    }
}

/// The figures an instance's report gives the policies, by the name a policy's `metric` uses.
public enum InstanceMetric: String, CaseIterable, Sendable {
    case participants, rooms, connections, cpu, bytesOut, bytesIn, largestRoom, load, idle

    public func value(of node: NodeRecord) -> Double {
        let report = node.report
        switch self {
        case .participants: return Double(report.participants)
        case .rooms: return Double(report.rooms)
        case .connections: return Double(report.connections)
        case .cpu: return report.cpu
        case .bytesOut: return report.bytesOutPerSecond
        case .bytesIn: return report.bytesInPerSecond
        case .largestRoom: return Double(report.largestRoom)
        case .load:
            // What placement sees of the instance, less the correction for rooms placed since its report.
            return Placement.correctedLoad(
                NodeLoad(
                    id: node.registration.id, capacity: node.registration.capacity, participants: report.participants,
                    cpu: report.cpu, reportedAt: node.reportedAt),
                policy: PlacementPolicy(participantsPerNewRoom: 0))
        case .idle:
            // 1 for an idle instance (a recorder without a job).
            return node.occupancy == .idle ? 1 : 0
        }
    }
}
