import Testing
import Foundation
import Logging
import PlazaCore
import PlazaStore
import PlazaPlacement
import PlazaFleetModel
import PlazaPostgres
import PlazaTesting

/// The node registry and placements, on both engines: a real PostgreSQL server, and SQLite files that several
/// store instances open at once as the processes of one machine do.
@Suite struct PlacementStoreTests {
    let policy = PlacementPolicy(heartbeatTTL: 10_000, participantsPerNewRoom: 2)
    let lease: Int64 = 10_000
    let t0: Int64 = 1_700_000_000_000

    func store(_ engine: StoreEngine, _ location: String? = nil) async throws -> (any SharedStore, String) {
        let location = try location ?? engine.newLocation()
        return (try await engine.open(location), location)
    }

    func register(_ store: any SharedStore, _ ids: [NodeID], region: String = "eu", capacity: Int = 100) async throws {
        for id in ids {
            try await store.register(NodeRegistration(id: id, url: "http://\(id).test", region: region, capacity: capacity), now: t0)
        }
    }

    @Test(arguments: StoreEngine.allCases)
    func nodesRegisterAndReport(engine: StoreEngine) async throws {
        let (store, _) = try await store(engine)
        try await register(store, ["n1", "n2"])
        _ = try await store.heartbeat(
            node: "n1",
            report: NodeReport(
                state: .draining, connections: 5, rooms: 2, participants: 4, cpu: 0.5, bytesOutPerSecond: 1e6, bytesInPerSecond: 2e5,
                largestRoom: 3),
            rooms: [], leaseTTL: lease, now: t0 + 1_000)
        let nodes = try await store.nodes()
        #expect(nodes.map(\.registration.id) == ["n1", "n2"])
        #expect(
            nodes[0].report
                == NodeReport(
                    state: .draining, connections: 5, rooms: 2, participants: 4, cpu: 0.5, bytesOutPerSecond: 1e6,
                    bytesInPerSecond: 2e5, largestRoom: 3))
        #expect(nodes[0].reportedAt == t0 + 1_000 && nodes[1].reportedAt == t0)
        try await store.close()
    }

    @Test(arguments: StoreEngine.allCases)
    func aPlacedRoomSticksToItsNode(engine: StoreEngine) async throws {
        let (store, _) = try await store(engine)
        try await register(store, ["n1", "n2", "n3"])
        var random = SystemRandomNumberGenerator()
        let room = RoomName("party")!
        guard case .placed(let first) = try await store.place(room, region: "eu", policy: policy, leaseTTL: lease, now: t0, using: &random)
        else { Issue.record("a new room is placed"); return }
        #expect(first.epoch == 1 && first.url == "http://\(first.node).test")
        for step in 1...20 {
            let again = try await store.place(room, region: "eu", policy: policy, leaseTTL: lease, now: t0 + Int64(step * 100), using: &random)
            #expect(again == .existing(first))
        }
        #expect(try await store.placement(of: room) == first)
        try await store.close()
    }

    @Test(arguments: StoreEngine.allCases)
    func placementAvoidsDeadDrainingAndLoadedNodes(engine: StoreEngine) async throws {
        let (store, _) = try await store(engine)
        try await register(store, ["dead", "draining", "busy", "quiet"])
        let now = t0 + 20_000
        for (id, report): (NodeID, NodeReport) in [
            ("draining", NodeReport(state: .draining)), ("busy", NodeReport(participants: 80)), ("quiet", NodeReport(participants: 5)),
        ] {
            _ = try await store.heartbeat(node: id, report: report, rooms: [], leaseTTL: lease, now: now)
        }
        var random = SystemRandomNumberGenerator()
        var homes: [NodeID: Int] = [:]
        for i in 0..<20 {
            let decision = try await store.place(RoomName("r\(i)")!, region: nil, policy: policy, leaseTTL: lease, now: now, using: &random)
            homes[decision.placement!.node, default: 0] += 1
        }
        #expect(homes["dead"] == nil && homes["draining"] == nil)
        #expect(homes["quiet", default: 0] > homes["busy", default: 0], "\(homes)")
        _ = try await store.heartbeat(node: "quiet", report: NodeReport(participants: 100), rooms: [], leaseTTL: lease, now: now)
        _ = try await store.heartbeat(node: "busy", report: NodeReport(cpu: 1), rooms: [], leaseTTL: lease, now: now)
        #expect(try await store.place(RoomName("full")!, region: nil, policy: policy, leaseTTL: lease, now: now, using: &random) == .noCapacity)
        try await store.close()
    }

    @Test(arguments: StoreEngine.allCases)
    func racingDirectoriesAgreeOnOneHome(engine: StoreEngine) async throws {
        let (first, url) = try await store(engine)
        let (second, _) = try await store(engine, url)
        try await register(first, (1...10).map { NodeID("n\($0)") })
        let t0 = self.t0, policy = self.policy, lease = self.lease
        for round in 0..<5 {
            let room = RoomName("race-\(round)")!
            let decisions = try await withThrowingTaskGroup(of: RoomPlacement?.self) { group in
                for i in 0..<16 {
                    let directory = i % 2 == 0 ? first : second
                    group.addTask {
                        var random = SystemRandomNumberGenerator()
                        return try await directory.place(room, region: nil, policy: policy, leaseTTL: lease, now: t0 + 1, using: &random).placement
                    }
                }
                return try await group.reduce(into: [RoomPlacement?]()) { $0.append($1) }
            }
            #expect(Set(decisions.map { $0?.node }).count == 1, "one home for \(room): \(decisions)")
            #expect(Set(decisions.map { $0?.epoch }) == [1])
        }
        try await first.close()
        try await second.close()
    }

    @Test(arguments: StoreEngine.allCases)
    func aLostLeaseMovesTheRoomAndFencesTheOldHome(engine: StoreEngine) async throws {
        let (store, _) = try await store(engine)
        try await register(store, ["a", "b"])
        let room = RoomName("moving")!
        // Node a takes the room up (as a client connected to it) and writes.
        let fenceA = try #require(try await store.claim(room, node: "a", leaseTTL: lease, now: t0))
        #expect(try await store.claim(room, node: "b", leaseTTL: lease, now: t0 + 1) == nil, "b cannot take a leased room")
        try await store.append([message(room, 1)], fence: fenceA)
        #expect(try await store.heartbeat(node: "a", report: NodeReport(), rooms: [room], leaseTTL: lease, now: t0 + 5_000).lost == [])

        // a stops renewing (paused, partitioned); after the lease, b takes the room up with a higher epoch.
        let later = t0 + 5_000 + lease + 1
        _ = try await store.heartbeat(node: "b", report: NodeReport(), rooms: [], leaseTTL: lease, now: later)
        let fenceB = try #require(try await store.claim(room, node: "b", leaseTTL: lease, now: later))
        #expect(fenceB.epoch > fenceA.epoch)
        await #expect {
            try await store.append([message(room, 2, id: "late")], fence: fenceA)
        } throws: { ($0 as? StoreError)?.kind == .fenced }
        // The new home continues the same offsets.
        #expect(try await store.lastOffset(in: room) == 1)
        try await store.append([message(room, 2)], fence: fenceB)
        #expect(try await store.messages(in: room, after: 0, limit: 10).map(\.offset) == [1, 2])
        // a's next heartbeat learns that it lost the room.
        #expect(try await store.heartbeat(node: "a", report: NodeReport(), rooms: [room], leaseTTL: lease, now: later + 1).lost == [room])
        try await store.close()
    }

    @Test(arguments: StoreEngine.allCases)
    func ofNodesClaimingAFreeRoomAtOnceOneGetsIt(engine: StoreEngine) async throws {
        // Two stores on one database: the claims race as separate processes' would.
        let (store, location) = try await store(engine)
        let (other, _) = try await self.store(engine, location)
        let ids: [NodeID] = (1...8).map { "n\($0)" }
        try await register(store, ids)
        let room = RoomName("contested")!
        let lease = self.lease
        // A free room, and a room whose home's lease ran out: either way exactly one claimant wins.
        var winners: [NodeID] = []
        for now in [t0, t0 + 2 * lease] {
            let claims = try await withThrowingTaskGroup(of: (NodeID, Fence?).self) { group in
                for (i, id) in ids.enumerated() {
                    let claimant = i % 2 == 0 ? store : other
                    group.addTask { (id, try await claimant.claim(room, node: id, leaseTTL: lease, now: now)) }
                }
                return try await group.reduce(into: [(NodeID, Fence?)]()) { $0.append($1) }
            }
            let won = claims.filter { $0.1 != nil }
            #expect(won.count == 1, "one claim wins at \(now): \(claims)")
            winners += won.map(\.0)
        }
        try await other.close()
        // The epoch grows when the room changes hands (the same node winning twice keeps its epoch).
        let placement = try #require(try await store.placement(of: room))
        #expect(placement.node == winners.last && placement.epoch == (winners.first == winners.last ? 1 : 2))
        try await store.close()
    }

    @Test(arguments: StoreEngine.allCases)
    func aDeadHomesRoomsArePlacedAgainAndAReleasedRoomIsFree(engine: StoreEngine) async throws {
        let (store, _) = try await store(engine)
        try await register(store, ["a", "b"])
        var random = SystemRandomNumberGenerator()
        let room = RoomName("orphan")!
        _ = try await store.heartbeat(node: "b", report: NodeReport(participants: 99), rooms: [], leaseTTL: lease, now: t0)
        // A long lease: only a's silence, not the lease, may free the room.
        let first = try #require(try await store.place(room, region: nil, policy: policy, leaseTTL: 60_000, now: t0, using: &random).placement)
        #expect(first.node == "a", "b is nearly full")
        // a dies: no heartbeat, while b beats on. Once a's reports are older than the TTL the room goes to b, epoch 2.
        let later = t0 + policy.heartbeatTTL + 1
        _ = try await store.heartbeat(node: "b", report: NodeReport(participants: 99), rooms: [], leaseTTL: lease, now: t0 + lease / 2)
        _ = try await store.heartbeat(node: "b", report: NodeReport(), rooms: [], leaseTTL: lease, now: later)
        let moved = try #require(try await store.place(room, region: nil, policy: policy, leaseTTL: lease, now: later, using: &random).placement)
        #expect(moved.node == "b" && moved.epoch == first.epoch + 1)
        // b empties the room and releases it; the next join places it afresh, under a new epoch.
        try await store.release(room, fence: moved.fence)
        #expect(try await store.placement(of: room)?.leaseUntil == 0)
        _ = try await store.heartbeat(node: "a", report: NodeReport(), rooms: [], leaseTTL: lease, now: later + 1)
        let again = try #require(try await store.place(room, region: nil, policy: policy, leaseTTL: lease, now: later + 1, using: &random).placement)
        #expect(again.epoch == moved.epoch + 1, "epochs never repeat")
        try await store.close()
    }

    /// The store was down for the whole fleet: every lease ran out at once, though the nodes kept their rooms.
    @Test(arguments: StoreEngine.allCases)
    func aFleetComingBackFromASilenceKeepsItsPlacementsForAHeartbeatTTL(engine: StoreEngine) async throws {
        let (store, _) = try await store(engine)
        try await register(store, ["a", "b"])
        var random = SystemRandomNumberGenerator()
        let room = RoomName("kept")!
        _ = try await store.heartbeat(node: "b", report: NodeReport(participants: 99), rooms: [], leaseTTL: lease, now: t0)
        let first = try #require(try await store.place(room, region: nil, policy: policy, leaseTTL: lease, now: t0, using: &random).placement)
        #expect(first.node == "a")
        // Silence: nobody beats for three leases. Before any node is back, a new room is "try again", not "full".
        let back = t0 + 3 * lease
        #expect(try await store.place(RoomName("new")!, region: nil, policy: policy, leaseTTL: lease, now: back, using: &random) == .resuming)
        #expect(try await store.place(room, region: nil, policy: policy, leaseTTL: lease, now: back, using: &random) == .resuming)
        // b is back first, and learns when the fleet resumed (it tells a, whose connection is slower to come back):
        // a's room stays a's, though its lease ran out and a has not beaten yet.
        let firstBack = try await store.heartbeat(node: "b", report: NodeReport(), rooms: [], leaseTTL: lease, now: back)
        #expect(firstBack.fleetResumedAt == back)
        #expect(try await store.heartbeat(node: "b", report: NodeReport(), rooms: [], leaseTTL: lease, now: back + 2_000).fleetResumedAt == back)
        #expect(try await store.place(room, region: nil, policy: policy, leaseTTL: lease, now: back + 1, using: &random).placement?.node == "a")
        // a beats within the grace and renews it (expired or not): the room is a's as ever, same epoch.
        let renewed = try await store.heartbeat(node: "a", report: NodeReport(), rooms: [room], leaseTTL: lease, now: back + 100)
        #expect(renewed.lost.isEmpty)
        #expect(try await store.place(room, region: nil, policy: policy, leaseTTL: lease, now: back + 200, using: &random) == .existing(
            RoomPlacement(room: room, node: "a", url: first.url, epoch: first.epoch, leaseUntil: back + 100 + lease)))
        // Once a stops beating (dead after all), its room moves when its lease and reports are stale and the grace
        // is over, b beating on meanwhile.
        var time = back + 300
        while time < back + 100 + lease + policy.heartbeatTTL {
            _ = try await store.heartbeat(node: "b", report: NodeReport(), rooms: [], leaseTTL: lease, now: time)
            time += lease / 2
        }
        _ = try await store.heartbeat(node: "b", report: NodeReport(), rooms: [], leaseTTL: lease, now: time)
        let moved = try await store.place(room, region: nil, policy: policy, leaseTTL: lease, now: time + 1, using: &random)
        #expect(moved.placement?.node == "b" && moved.placement?.epoch == first.epoch + 1, "\(moved)")
        try await store.close()
    }

    @Test(arguments: StoreEngine.allCases)
    func externalLoadsReplaceTheReportsAndCountRoomsPlacedSince(engine: StoreEngine) async throws {
        let (store, _) = try await store(engine)
        try await register(store, ["a", "b"])
        var random = SystemRandomNumberGenerator()
        // By their reports both are idle; Prometheus says a is full.
        let external = ExternalLoads(samples: ["a": .init(participants: 100, cpu: 0.2), "b": .init(participants: 10)], since: t0)
        for i in 0..<5 {
            let home = try await store.place(
                RoomName("x\(i)")!, region: nil, policy: policy, external: external, leaseTTL: lease, now: t0 + 1, using: &random)
            #expect(home.placement?.node == "b")
        }
        // Rooms placed since the samples count: b, at 10 + 5 rooms × 2 of 100, is at 0.2, and full at 45 rooms.
        for i in 5..<50 {
            _ = try await store.place(
                RoomName("x\(i)")!, region: nil, policy: policy, external: external, leaseTTL: lease, now: t0 + 1, using: &random)
        }
        #expect(
            try await store.place(RoomName("full")!, region: nil, policy: policy, external: external, leaseTTL: lease, now: t0 + 1, using: &random)
                == .noCapacity)
        try await store.close()
    }

    private func message(_ room: RoomName, _ offset: Int64, id: String? = nil) -> ChatMessage {
        ChatMessage(room: room, offset: offset, clientID: id ?? "m\(offset)", sender: ParticipantID("p"), senderName: "P", text: "t", timestamp: offset)
    }
}
