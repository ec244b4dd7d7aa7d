import Testing
import PlazaPlacement

@Suite struct PlacementTests {
    let policy = PlacementPolicy(heartbeatTTL: 15_000, participantsPerNewRoom: 2)
    let now: Int64 = 1_000_000

    @Test func onlyLiveServingNodesBelowCapacityAreChosen() {
        var random = SplitMix64(seed: 1)
        let nodes = [
            NodeLoad(id: "dead", capacity: 100, reportedAt: now - 16_000),
            NodeLoad(id: "draining", state: .draining, capacity: 100, reportedAt: now),
            NodeLoad(id: "full", capacity: 100, participants: 100, reportedAt: now),
            NodeLoad(id: "hot", capacity: 100, cpu: 1, reportedAt: now),
            NodeLoad(id: "filling", capacity: 100, participants: 90, reportedAt: now, placedSinceReport: 5),
            NodeLoad(id: "ok", capacity: 100, participants: 50, reportedAt: now - 15_000),
        ]
        for _ in 0..<100 {
            #expect(Placement.choose(from: nodes, region: nil, now: now, policy: policy, using: &random)?.id == "ok")
        }
        #expect(Placement.choose(from: Array(nodes.dropLast()), region: nil, now: now, policy: policy, using: &random) == nil)
    }

    @Test func thePreferredRegionWinsWhileItHasRoom() {
        var random = SplitMix64(seed: 2)
        var nodes = [
            NodeLoad(id: "eu-1", region: "eu", capacity: 100, participants: 80, reportedAt: now),
            NodeLoad(id: "us-1", region: "us", capacity: 100, reportedAt: now),
            NodeLoad(id: "us-2", region: "us", capacity: 100, reportedAt: now),
        ]
        for _ in 0..<50 {
            #expect(Placement.choose(from: nodes, region: "eu", now: now, policy: policy, using: &random)?.id == "eu-1")
        }
        nodes[0].participants = 100
        let elsewhere = Placement.choose(from: nodes, region: "eu", now: now, policy: policy, using: &random)
        #expect(elsewhere?.region == "us", "a full region overflows into the others rather than refusing")
    }

    @Test func theLessLoadedOfTwoCandidatesIsTaken() {
        var random = SplitMix64(seed: 3)
        let nodes = [
            NodeLoad(id: "busy", capacity: 100, participants: 70, reportedAt: now),
            NodeLoad(id: "quiet", capacity: 100, participants: 10, reportedAt: now),
        ]
        for _ in 0..<50 {
            #expect(Placement.choose(from: nodes, region: nil, now: now, policy: policy, using: &random)?.id == "quiet")
        }
    }

    /// 500 new rooms against 20 equal nodes whose reports are 5 s old: only the correction tells the
    /// directory what it placed, and no node may end above 1.3× the mean.
    /// The same when every node's CPU reading is its larger load term: the correction must count there too.
    @Test(arguments: [(UInt64(1), 0.0), (2, 0.0), (3, 0.0), (4, 0.0), (5, 0.0), (1, 0.2), (2, 0.2), (3, 0.2), (4, 0.2), (5, 0.2)])
    func aBurstDoesNotHerd(seed: UInt64, cpu: Double) {
        var random = SplitMix64(seed: seed)
        var nodes = (0..<20).map {
            NodeLoad(id: "n\($0)", capacity: 10_000, participants: 100, cpu: cpu, reportedAt: now - 5_000)
        }
        for _ in 0..<500 {
            let chosen = Placement.choose(from: nodes, region: nil, now: now, policy: policy, using: &random)!
            nodes[nodes.firstIndex { $0.id == chosen.id }!].placedSinceReport += 1
        }
        let counts = nodes.map(\.placedSinceReport)
        let mean = 500.0 / 20
        #expect(Double(counts.max()!) <= 1.3 * mean, "rooms per node: \(counts)")
    }
}
