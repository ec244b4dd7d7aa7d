import Testing
import PlazaCore
import PlazaFleetModel
import PlazaAutoscaling

/// The one occupancy rule, and the scale-in order that applies it.
@Suite struct ScaleInTests {
    let now: Int64 = 1_000_000

    func node(_ id: NodeID, kind: NodeKind = .roomServer, participants: Int = 0, rooms: Int = 0, recording: String? = nil) -> NodeRecord {
        NodeRecord(
            registration: NodeRegistration(id: id, url: "http://\(id)", region: "eu", capacity: 100, kind: kind),
            reported: NodeReport(rooms: rooms, participants: participants), reportedAt: now,
            assignment: recording.flatMap { RoomName($0) })
    }

    @Test func anInstanceIsBusyWithAnyoneOrAnyRoomOrAnAssignedJob() {
        #expect(node("a").occupancy == .idle)
        #expect(node("a", participants: 1).occupancy == .busy)
        #expect(node("a", rooms: 1).occupancy == .busy)
        let assigned = node("j", kind: .jibri, recording: "talk")
        #expect(assigned.occupancy == .busy, "a job the recorder has not reported yet")
        #expect(assigned.report.participants == 1 && assigned.report.rooms == 1, "counted in its report")
        #expect(InstanceMetric.idle.value(of: assigned) == 0 && InstanceMetric.idle.value(of: node("b")) == 1)
        #expect(!assigned.mayRecord(now: now, heartbeatTTL: 1_000) && node("k", kind: .jibri).mayRecord(now: now, heartbeatTTL: 1_000))
        #expect(!node("k", kind: .jibri).mayRecord(now: now + 1_001, heartbeatTTL: 1_000), "a silent recorder takes no job")
    }

    @Test func scaleInTakesTheEmptiestNeverAProtectedOneNorABusyRecorder() {
        func instance(_ id: InstanceID, launchedAt: Int64 = 0, protected: Bool = false) -> FleetInstance {
            FleetInstance(id: id, pool: "p", state: .serving, protected: protected, launchedAt: launchedAt, stateSince: 0)
        }
        let nodes = Dictionary(
            uniqueKeysWithValues: [node("busy", participants: 30), node("quiet", participants: 2), node("old", participants: 2),
                                   node("guarded")].map { ($0.registration.id, $0) })
        let order = ScaleIn.order(
            [instance("busy"), instance("quiet", launchedAt: 5), instance("old", launchedAt: 1), instance("guarded", protected: true),
             instance("new-unregistered")],
            kind: .roomServer, nodes: nodes)
        #expect(order.map(\.id) == ["new-unregistered", "quiet", "old", "busy"])

        let recorders = Dictionary(
            uniqueKeysWithValues: [node("j1", kind: .jibri, recording: "talk"), node("j2", kind: .jibri)].map { ($0.registration.id, $0) })
        #expect(ScaleIn.order([instance("j1"), instance("j2")], kind: .jibri, nodes: recorders).map(\.id) == ["j2"])
    }
}
