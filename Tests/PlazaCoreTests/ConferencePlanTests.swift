import Testing
@testable import PlazaCore

/// Who talks to whom: zones over bubbles, bubbles to the bridge past `p2pMax`, and back after the hysteresis.
@Suite struct ConferencePlanTests {
    let settings = ConferencePlan.Settings(proximityRadius: 100, p2pMax: 4, bridgeHysteresis: .seconds(10))
    let zone = Zone.rectangle(id: "cafe", name: "Café", kind: .meeting, x: 1000, y: 0, width: 400, height: 400)

    /// `count` participants `p0`, `p1`, … in a row 50 units apart from `x`.
    func row(_ count: Int, from x: Double = 0, prefix: String = "p") -> [ParticipantID: Position] {
        Dictionary(uniqueKeysWithValues: (0..<count).map { (ParticipantID("\(prefix)\($0)"), Position(x: x + Double($0) * 50, y: 2000)) })
    }

    func plan(_ positions: [ParticipantID: Position], _ memory: inout ConferencePlan.Memory, at seconds: Int) -> [ParticipantID: ConferencePlan.Placement] {
        ConferencePlan.plan(positions: positions, zones: [zone], settings: settings, memory: &memory, now: .seconds(seconds))
    }

    func conferences(_ placements: [ParticipantID: ConferencePlan.Placement]) -> Set<String> {
        Set(placements.values.compactMap { if case .conference(let id, _) = $0 { id } else { nil } })
    }

    @Test func everyoneInAZoneIsInItsConferenceWhateverTheDistance() {
        var memory = ConferencePlan.Memory()
        let positions: [ParticipantID: Position] = [
            ParticipantID("a"): Position(x: 1010, y: 10), ParticipantID("b"): Position(x: 1390, y: 390),
            ParticipantID("alone"): Position(x: 1200, y: 200).with(y: 1),
        ]
        let placements = plan(positions, &memory, at: 0)
        #expect(placements.values.allSatisfy { $0 == .conference(id: "zone-cafe", zone: "cafe") })
    }

    @Test func aBubbleStaysPeerToPeerUpToP2PMaxAndMovesToTheBridgePastIt() {
        var memory = ConferencePlan.Memory()
        #expect(plan(row(4), &memory, at: 0).values.allSatisfy { $0 == .peerToPeer })
        let five = plan(row(5), &memory, at: 1)
        #expect(conferences(five) == ["bubble-1"] && five.count == 5)
        let six = plan(row(6), &memory, at: 2)
        #expect(six[ParticipantID("p5")] == .conference(id: "bubble-1", zone: nil), "a new joiner goes straight to the bridge")
    }

    @Test func aBridgedBubbleGoesBackOnlyAfterStayingSmallForTheHysteresis() {
        var memory = ConferencePlan.Memory()
        _ = plan(row(5), &memory, at: 0)
        #expect(conferences(plan(row(4), &memory, at: 1)) == ["bubble-1"], "at p2pMax it stays on the bridge")
        #expect(conferences(plan(row(3), &memory, at: 2)) == ["bubble-1"], "below it, the hysteresis starts")
        #expect(conferences(plan(row(3), &memory, at: 11)) == ["bubble-1"])
        #expect(plan(row(3), &memory, at: 12).values.allSatisfy { $0 == .peerToPeer }, "10 s below p2pMax")
        #expect(memory == ConferencePlan.Memory().with(nextNumber: 2))
    }

    @Test func growingAgainDuringTheHysteresisKeepsTheBridge() {
        var memory = ConferencePlan.Memory()
        _ = plan(row(5), &memory, at: 0)
        _ = plan(row(3), &memory, at: 1)
        _ = plan(row(5), &memory, at: 8)
        #expect(conferences(plan(row(3), &memory, at: 12)) == ["bubble-1"], "the clock started again at 12")
        #expect(plan(row(3), &memory, at: 22).values.allSatisfy { $0 == .peerToPeer })
    }

    @Test func walkingIntoAZoneLeavesTheBubbleForTheZone() {
        var memory = ConferencePlan.Memory()
        var positions = row(5)
        _ = plan(positions, &memory, at: 0)
        positions[ParticipantID("p0")] = Position(x: 1100, y: 100)
        let placements = plan(positions, &memory, at: 1)
        #expect(placements[ParticipantID("p0")] == .conference(id: "zone-cafe", zone: "cafe"))
        #expect(placements[ParticipantID("p1")] == .conference(id: "bubble-1", zone: nil))
    }

    @Test func aSplitLeavesTheConferenceToTheLargerPartAndASmallOtherGoesPeerToPeerAtOnce() {
        var memory = ConferencePlan.Memory()
        _ = plan(row(7), &memory, at: 0)
        // Apart: four at x 0…150, three at x 1500…1600.
        var positions = row(4)
        positions.merge(row(3, from: 1500, prefix: "q")) { $1 }
        var previous = memory
        previous.bubbles = ["bubble-1": .init(members: Set(positions.keys), smallSince: nil)]
        memory = previous
        let placements = plan(positions, &memory, at: 1)
        #expect(placements[ParticipantID("p0")] == .conference(id: "bubble-1", zone: nil))
        #expect(placements[ParticipantID("q0")] == .peerToPeer, "a part of 3 would only move twice on a bridge of its own")
        // A part past p2pMax gets a conference of its own.
        positions = row(5)
        positions.merge(row(6, from: 1500, prefix: "q")) { $1 }
        memory.bubbles = ["bubble-1": .init(members: Set(positions.keys), smallSince: nil)]
        let apart = plan(positions, &memory, at: 2)
        #expect(apart[ParticipantID("q0")] == .conference(id: "bubble-1", zone: nil))
        #expect(apart[ParticipantID("p0")] == .conference(id: "bubble-2", zone: nil))
    }

    @Test func twoBridgedBubblesThatMeetKeepTheLargersConference() {
        var memory = ConferencePlan.Memory()
        var positions = row(6)
        positions.merge(row(5, from: 3000, prefix: "q")) { $1 }
        let apart = plan(positions, &memory, at: 0)
        #expect(conferences(apart).count == 2)
        let larger = apart[ParticipantID("p0")]
        positions = row(6)
        positions.merge(row(5, from: 300, prefix: "q")) { $1 }
        let together = plan(positions, &memory, at: 1)
        #expect(Set(together.values) == [larger!])
        #expect(memory.bubbles.count == 1)
    }

    @Test func bubblesAreTransitiveAndFound() {
        // A chain 90 apart: everyone is within 100 of a neighbour, not of the far end.
        let chain = (0..<10).map { (ParticipantID("c\($0)"), Position(x: Double($0) * 90, y: 0)) }
        let apart = [(ParticipantID("x"), Position(x: 5000, y: 0))]
        let groups = ConferencePlan.bubbles(chain + apart, radius: 100)
        #expect(groups.count == 2 && groups.contains { $0.count == 10 })
        let wild = [(ParticipantID("far"), Position(x: 1e300, y: -1e300)), (ParticipantID("near"), Position(x: 0, y: 0))]
        #expect(ConferencePlan.bubbles(wild, radius: 100).count == 2, "no trap on positions far off any map")
    }
}

extension Position {
    fileprivate func with(y: Double) -> Position { Position(x: x, y: y) }
}

extension ConferencePlan.Memory {
    fileprivate func with(nextNumber: Int) -> Self {
        var memory = self
        memory.nextNumber = nextNumber
        return memory
    }
}
