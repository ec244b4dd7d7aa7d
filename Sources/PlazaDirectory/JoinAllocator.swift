public import PlazaCore
public import PlazaStore
import PlazaPlacement
public import PlazaTransport
import PlazaProtocol
import PlazaFleetModel

/// Where a join picks the node: a directory's half of `POST /api/v1/join` (and of a room's URL). The room's
/// live placement if it has one; otherwise `Placement.choose` picks a room server of the fleet (through the
/// store, which reads its candidates and writes the choice conditionally). The room's conference goes to a
/// media bridge when it needs one, placed the same way.
public struct JoinAllocator: RoomAllocator {
    let placements: any RoomPlacements
    let media: any MediaStore
    let policy: PlacementPolicy
    /// The lease a new placement starts with: the time its node has to take the room up (`cluster.leaseTTL`).
    let leaseTTL: Duration
    let configuration: MediaConfiguration
    /// Node load from Prometheus instead of the nodes' reports (`cluster.loadSource` prometheus).
    let prometheus: PrometheusLoadSource?

    public func home(of room: RoomName, for participant: ParticipantID?, region: String?, authority: String?) async throws -> RoomHome {
        var random = SystemRandomNumberGenerator()
        let decision: PlacementDecision
        do {
            decision = try await placements.place(
                room, region: region, policy: policy, external: prometheus?.latest, leaseTTL: leaseTTL.milliseconds,
                now: placements.fleetTime(), using: &random)
        } catch {
            throw Refusal.storeUnavailable("placement is unavailable")
        }
        guard let placement = decision.placement else {
            throw decision == .resuming
                ? Refusal.storeUnavailable("the fleet is coming back from a store outage; try again in a moment") : Refusal.noNode
        }
        return RoomHome(node: placement.node.rawValue, url: placement.url, conference: placement.conference)
    }

    /// The media bridge of a room whose conference needs one (by `media.bridgeRooms`, or because the join asks):
    /// placed like a room, on the less loaded of two live serving bridges. A join that does not ask still gets
    /// `current`, the bridge its room's conference already runs on (read with the room's placement).
    public func bridge(for room: RoomName, asked: Bool, region: String?, current: BridgePlacement?) async throws -> BridgePlacement? {
        guard asked || configuration.needsBridge(room.rawValue) else { return current }
        var random = SystemRandomNumberGenerator()
        let placement = try await storeCall {
            try await media.placeConference(
                room, kind: configuration.bridgeKind, region: region, policy: policy,
                participantCap: configuration.bridgeParticipantCap, leaseTTL: Int64(configuration.bridgeLeaseTTL * 1000),
                now: media.fleetTime(), using: &random)
        }
        guard let placement else { throw Refusal.bridgesUnavailable(retryAfter: configuration.retryAfter) }
        return placement
    }
}
