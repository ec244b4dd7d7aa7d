import Testing
import PlazaPlacement
import PlazaFleetModel

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

    /// The sampled choice both store engines run: two rows read while the sample holds, every row when it does not.
    @Test func aDecisionReadsOnlyItsTwoCandidatesWhileTheyAreEligible() async throws {
        let candidates = (0..<100).map { PlacementCandidates.Node(id: "n\($0)", region: "eu") }
        var reads: [[NodeID]?] = []
        var random = SplitMix64(seed: 7)
        let chosen = try await Placement.choose(candidates: candidates, region: nil, now: now, policy: policy, using: &random) { only in
            reads.append(only)
            return (only ?? candidates.map(\.id)).map { id in
                NodeLoad(id: id, capacity: 100, participants: Int(id.rawValue.dropFirst())!, reportedAt: now)
            }
        }
        #expect(reads.count == 1 && reads[0]?.count == 2, "\(reads)")
        let sampled = try #require(reads[0])
        #expect(chosen?.id == sampled.min { Int($0.rawValue.dropFirst())! < Int($1.rawValue.dropFirst())! })
    }

    @Test func aSampleThatFallsShortReadsEveryLiveNode() async throws {
        let candidates = [PlacementCandidates.Node(id: "a", region: "eu"), PlacementCandidates.Node(id: "b", region: "eu")]
        let loads = [
            NodeLoad(id: "a", region: "eu", state: .draining, capacity: 100, reportedAt: now),
            NodeLoad(id: "b", region: "eu", capacity: 100, participants: 90, reportedAt: now),
            NodeLoad(id: "c", region: "us", capacity: 100, reportedAt: now),
        ]
        var reads: [[NodeID]?] = []
        var random = SplitMix64(seed: 1)
        // A sampled node went draining since the list was read: everything is read, and the choice is made there.
        let chosen = try await Placement.choose(candidates: candidates, region: "eu", now: now, policy: policy, using: &random) { only in
            reads.append(only)
            return only.map { ids in loads.filter { ids.contains($0.id) } } ?? loads
        }
        #expect(reads.count == 2 && reads[1] == nil && chosen?.id == "b")
        // A region with fewer than two candidates reads everything at once.
        reads = []
        _ = try await Placement.choose(candidates: candidates, region: "us", now: now, policy: policy, using: &random) { only in
            reads.append(only)
            return loads
        }
        #expect(reads.count == 1 && reads[0] == nil)
    }

    @Test func candidateListsAgeOut() {
        var candidates = PlacementCandidates()
        #expect(candidates.nodes(at: now) == nil)
        candidates.update([.init(id: "a", region: "eu")], readAt: now)
        #expect(candidates.nodes(at: now + PlacementCandidates.maximumAge - 1)?.count == 1)
        #expect(candidates.nodes(at: now + PlacementCandidates.maximumAge) == nil)
        #expect(candidates.nodes(at: now - 1) == nil, "a read from a later clock")
        candidates.invalidate()
        #expect(candidates.nodes(at: now) == nil)
    }
}
