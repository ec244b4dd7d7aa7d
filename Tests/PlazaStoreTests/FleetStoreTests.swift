import Testing
import Foundation
import PlazaCore
import PlazaStore
import PlazaPlacement
import PlazaFleetModel
import PlazaTesting

/// The autoscaler's state, conferences on bridges and recordings, on both engines.
@Suite struct FleetStoreTests {
    let policy = PlacementPolicy(heartbeatTTL: 10_000, participantsPerNewRoom: 2)
    let t0: Int64 = 1_700_000_000_000

    func register(_ store: any SharedStore, _ id: NodeID, kind: NodeKind, capacity: Int = 100, participants: Int = 0, at now: Int64) async throws {
        try await store.register(NodeRegistration(id: id, url: "http://\(id).test", region: "eu", capacity: capacity, kind: kind), now: now)
        _ = try await store.report(node: id, NodeReport(participants: participants), now: now)
    }

    /// The room's conference as a join reads it: with the room's placement, on the room server `rooms-1`
    /// (registered, and reporting at `now`).
    func conference(_ store: any SharedStore, _ room: RoomName, at now: Int64) async throws -> BridgePlacement? {
        try await register(store, "rooms-1", kind: .roomServer, at: now)
        var random = SystemRandomNumberGenerator()
        return try await store.place(room, region: nil, policy: policy, leaseTTL: 10_000, now: now, using: &random).placement?.conference
    }

    @Test(arguments: StoreEngine.allCases)
    func poolsKeepTheirDesiredCapacityWithinTheirLimits(engine: StoreEngine) async throws {
        let store = try await engine.openNew()
        #expect(try await store.declare(FleetPool(name: "p", kind: .jvb, region: "eu", min: 2, max: 6, desired: 3)) == 3)
        #expect(try await store.setDesired(pool: "p", desired: 5))
        #expect(try await store.setDesired(pool: "nope", desired: 5) == false)
        // Declared again (an autoscaler restart): the decision stands; tighter limits clamp it.
        #expect(try await store.declare(FleetPool(name: "p", kind: .jvb, region: "eu", min: 2, max: 6, desired: 3)) == 5)
        #expect(try await store.declare(FleetPool(name: "p", kind: .jvb, region: "eu", min: 1, max: 4, desired: 3)) == 4)
        #expect(try await store.pools() == [FleetPool(name: "p", kind: .jvb, region: "eu", min: 1, max: 4, desired: 4)])
        #expect(try await store.policyMemory(pool: "p") == nil)
        try await store.savePolicyMemory(pool: "p", #"{"datapoints":{}}"#)
        #expect(try await store.policyMemory(pool: "p") == #"{"datapoints":{}}"#)
        try await store.close()
    }

    @Test(arguments: StoreEngine.allCases)
    func instancesAndActivitiesAreKeptForTheFleetAPI(engine: StoreEngine) async throws {
        let store = try await engine.openNew()
        try await store.save(FleetInstance(id: "pending-1", pool: "p", state: .launching, launchedAt: t0, stateSince: t0))
        try await store.save(FleetInstance(id: "b", pool: "q", state: .serving, launchedAt: t0 + 1, stateSince: t0 + 1))
        try await store.rename(instance: "pending-1", to: "i-123")
        #expect(try await store.setProtected(instance: "i-123", true) == "p")
        var gone = FleetInstance(id: "b", pool: "q", state: .terminated, launchedAt: t0 + 1, stateSince: t0 + 5)
        try await store.save(gone)
        #expect(try await store.setProtected(instance: "b", true) == nil, "a terminated instance cannot be protected")
        #expect(try await store.instances(pool: nil, includeTerminated: false).map(\.id) == ["i-123"])
        #expect(try await store.instances(pool: "p", includeTerminated: false).first?.protected == true)
        gone.healthFailures = 0
        #expect(try await store.instances(pool: nil, includeTerminated: true).last == gone)

        for step in 0..<5 {
            let recorded = try await store.record(
                ScalingActivity(
                    pool: step % 2 == 0 ? "p" : "q", at: t0 + Int64(step), action: "desired", from: step, to: step + 1,
                    cause: "operator", reason: "step \(step)", values: ["Average(cpu)": 0.5]))
            #expect(recorded.id > 0)
        }
        try await store.record(ScalingActivity(pool: "p", at: t0 + 9, action: "launch", instance: "i-123", cause: "min", reason: "r"))
        let latest = try await store.activities(pool: nil, limit: 3)
        #expect(latest.map(\.reason) == ["r", "step 4", "step 3"], "newest first")
        #expect(latest[0].from == nil && latest[0].instance == "i-123" && latest[1].values == ["Average(cpu)": 0.5])
        #expect(try await store.activities(pool: "q", limit: 10).map(\.reason) == ["step 3", "step 1"])
        try await store.close()
    }

    @Test(arguments: StoreEngine.allCases)
    func historyOlderThanTheRetentionIsPruned(engine: StoreEngine) async throws {
        let store = try await engine.openNew()
        try await store.record(ScalingActivity(pool: "p", at: t0, action: "launch", cause: "min", reason: "old"))
        try await store.record(ScalingActivity(pool: "p", at: t0 + 10_000, action: "launch", cause: "min", reason: "new"))
        try await store.save(FleetInstance(id: "gone", pool: "p", state: .terminated, launchedAt: t0, stateSince: t0))
        try await store.save(FleetInstance(id: "old-but-serving", pool: "p", state: .serving, launchedAt: t0, stateSince: t0))
        try await register(store, "jvb-1", kind: .jvb, at: t0)
        var random = SystemRandomNumberGenerator()
        _ = try await store.placeConference(
            RoomName("ended")!, kind: .jvb, region: nil, policy: policy, participantCap: 0, leaseTTL: 1_000, now: t0, using: &random)
        let live = try #require(
            try await store.placeConference(
                RoomName("live")!, kind: .jvb, region: nil, policy: policy, participantCap: 0, leaseTTL: 60_000, now: t0,
                using: &random))
        let room = RoomName("kept")!
        _ = try await store.claim(room, node: "n", leaseTTL: 1_000, now: t0)

        #expect(try await store.prune(before: t0 + 5_000) == 3)
        #expect(try await store.activities(pool: nil, limit: 10).map(\.reason) == ["new"])
        #expect(try await store.instances(pool: nil, includeTerminated: true).map(\.id) == ["old-but-serving"])
        #expect(try await store.placement(of: room)?.epoch == 1, "room placements stay")
        #expect(try await conference(store, RoomName("live")!, at: t0 + 5_000) == live)
        #expect(try await store.prune(before: t0 + 5_000) == 0)
        try await store.close()
    }

    @Test(arguments: StoreEngine.allCases)
    func aDrainedNodeTakesNoNewRoomsAndHearsItInItsHeartbeat(engine: StoreEngine) async throws {
        let store = try await engine.openNew()
        try await register(store, "a", kind: .roomServer, at: t0)
        try await register(store, "b", kind: .roomServer, participants: 50, at: t0)
        try await register(store, "bridge", kind: .jvb, at: t0)
        #expect(try await store.requestDrain(node: "a"))
        var random = SystemRandomNumberGenerator()
        for i in 0..<10 {
            let home = try await store.place(RoomName("r\(i)")!, region: nil, policy: policy, leaseTTL: 10_000, now: t0 + 1, using: &random)
            #expect(home.placement?.node == "b", "only room servers that are not draining take rooms")
        }
        let answer = try await store.heartbeat(node: "a", report: NodeReport(state: .serving), rooms: [], leaseTTL: 10_000, now: t0 + 2)
        #expect(answer.drain)
        #expect(try await store.nodes().first { $0.registration.id == "a" }?.report.state == .draining, "it stays draining")
        try await store.forget(node: "a")
        #expect(try await store.nodes().map(\.registration.id) == ["b", "bridge"])
        try await store.close()
    }

    @Test(arguments: StoreEngine.allCases)
    func conferencesStickToTheirBridgeWhichKeepsThemWhileDraining(engine: StoreEngine) async throws {
        let store = try await engine.openNew()
        try await register(store, "jvb-1", kind: .jvb, capacity: 1000, participants: 10, at: t0)
        try await register(store, "jvb-2", kind: .jvb, capacity: 1000, participants: 10, at: t0)
        try await register(store, "rooms-1", kind: .roomServer, at: t0)
        var random = SystemRandomNumberGenerator()
        let room = RoomName("standup")!
        let first = try #require(
            try await store.placeConference(
                room, kind: .jvb, region: "eu", policy: policy, participantCap: 0, leaseTTL: 60_000, now: t0, using: &random))
        #expect(first.bridge.rawValue.hasPrefix("jvb-") && first.url == "http://\(first.bridge).test")
        try await store.requestDrain(node: first.bridge)
        let again = try await store.placeConference(
            room, kind: .jvb, region: "eu", policy: policy, participantCap: 0, leaseTTL: 60_000, now: t0 + 1_000, using: &random)
        #expect(again?.bridge == first.bridge && again?.leaseUntil == t0 + 61_000, "a draining bridge keeps its conference")
        #expect(try await conference(store, room, at: t0 + 1_000) == again)
        #expect(try await conference(store, RoomName("p2p")!, at: t0 + 1_000) == nil)
        #expect(try await conference(store, room, at: t0 + 10_001) == nil, "its bridge went quiet")
        let other: NodeID = first.bridge == "jvb-1" ? "jvb-2" : "jvb-1"
        for i in 0..<5 {
            let next = try await store.placeConference(
                RoomName("new-\(i)")!, kind: .jvb, region: nil, policy: policy, participantCap: 0, leaseTTL: 60_000, now: t0 + 1_000,
                using: &random)
            #expect(next?.bridge == other, "never a draining bridge for a new conference")
        }
        // The cap: 10 participants on a bridge capped at 10 is full.
        #expect(
            try await store.placeConference(
                RoomName("capped")!, kind: .jvb, region: nil, policy: policy, participantCap: 10, leaseTTL: 60_000, now: t0 + 1_000,
                using: &random) == nil)
        #expect(
            try await store.placeConference(
                RoomName("janus")!, kind: .janus, region: nil, policy: policy, participantCap: 0, leaseTTL: 60_000, now: t0,
                using: &random) == nil, "no bridge of that kind")
        try await store.close()
    }

    @Test(arguments: StoreEngine.allCases)
    func aRoomsHeartbeatKeepsItsConferenceOnItsBridge(engine: StoreEngine) async throws {
        let store = try await engine.openNew()
        try await register(store, "jvb-1", kind: .jvb, at: t0)
        try await register(store, "rooms-1", kind: .roomServer, at: t0)
        var random = SystemRandomNumberGenerator()
        let room = RoomName("standup")!
        let fence = try #require(try await store.claim(room, node: "rooms-1", leaseTTL: 10_000, now: t0))
        #expect(fence.epoch == 1)
        let placed = try #require(
            try await store.placeConference(
                room, kind: .jvb, region: nil, policy: policy, participantCap: 0, leaseTTL: 5_000, now: t0, using: &random))
        #expect(placed.leaseUntil == t0 + 5_000)
        // Within both leases, the room's node renews its room to t0 + 14 s: the conference's lease follows.
        _ = try await store.heartbeat(node: "rooms-1", report: NodeReport(), rooms: [room], leaseTTL: 10_000, now: t0 + 4_000)
        _ = try await store.report(node: "jvb-1", NodeReport(), now: t0 + 4_000)
        #expect(try await conference(store, room, at: t0 + 6_000)?.leaseUntil == t0 + 14_000)
        // A heartbeat that would shorten it leaves it as it is.
        _ = try await store.heartbeat(node: "rooms-1", report: NodeReport(), rooms: [room], leaseTTL: 1_000, now: t0 + 6_000)
        #expect(try await conference(store, room, at: t0 + 6_500)?.leaseUntil == t0 + 14_000)
        try await store.close()
    }

    @Test(arguments: StoreEngine.allCases)
    func recordingsTakeAnIdleRecorderAndGiveItBack(engine: StoreEngine) async throws {
        let store = try await engine.openNew()
        try await register(store, "jibri-1", kind: .jibri, at: t0)
        try await register(store, "jibri-busy", kind: .jibri, participants: 1, at: t0)
        let room = RoomName("talk")!
        let started = try #require(try await store.startRecording(room, heartbeatTTL: 10_000, now: t0 + 1))
        #expect(started.started && started.recording.recorder == "jibri-1")
        let again = try #require(try await store.startRecording(room, heartbeatTTL: 10_000, now: t0 + 2))
        #expect(!again.started && again.recording == started.recording, "one recording per room")
        #expect(try await store.startRecording(RoomName("other")!, heartbeatTTL: 10_000, now: t0 + 3) == nil, "recorders_busy")
        // Busy in the registry from the moment it is assigned; never drained while recording; told in its heartbeat.
        #expect(try await store.nodes().first { $0.registration.id == "jibri-1" }?.report.participants == 1)
        #expect(try await store.requestDrain(node: "jibri-1") == false)
        let answer = try await store.report(node: "jibri-1", NodeReport(), now: t0 + 4)
        #expect(answer.recording == room)
        #expect(try await store.stopRecording(room)?.recorder == "jibri-1")
        #expect(try await store.stopRecording(room) == nil)
        #expect(try await store.startRecording(RoomName("other")!, heartbeatTTL: 10_000, now: t0 + 5)?.recording.recorder == "jibri-1")
        // A recorder that stops reporting loses its recording, and another takes the next one.
        try await register(store, "jibri-2", kind: .jibri, at: t0 + 20_000)
        let later = try #require(try await store.startRecording(RoomName("third")!, heartbeatTTL: 10_000, now: t0 + 20_001))
        #expect(later.recording.recorder == "jibri-2")
        #expect(try await store.stopRecording(RoomName("other")!) == nil, "the dead recorder's recording was cleared")
        try await store.close()
    }

    @Test(arguments: StoreEngine.allCases)
    func theLeaseHasOneHolderAmongManyRacing(engine: StoreEngine) async throws {
        let location = try engine.newLocation()
        let stores = [try await engine.open(location), try await engine.open(location)]
        let t0 = self.t0
        let terms = try await withThrowingTaskGroup(of: (String, Int64?).self) { group in
            for i in 0..<8 {
                group.addTask { ("h\(i)", try await stores[i % 2].lead(holder: "h\(i)", ttl: 10_000, now: t0)) }
            }
            return try await group.reduce(into: [(String, Int64?)]()) { $0.append($1) }
        }
        #expect(terms.filter { $0.1 != nil }.count == 1 && terms.compactMap(\.1) == [1], "\(terms)")
        for store in stores { try await store.close() }
    }
}
