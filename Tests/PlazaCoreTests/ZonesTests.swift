import Testing
@testable import PlazaCore

@Suite struct ZonesTests {
    let room = Zone.rectangle(id: "room", name: "Room", kind: .meeting, x: 0, y: 0, width: 100, height: 50)

    @Test func aRectangleContainsItsInsideAndItsEdge() {
        #expect(room.contains(Position(x: 50, y: 25)))
        #expect(room.contains(Position(x: 0, y: 0)) && room.contains(Position(x: 100, y: 50)), "the outline counts as inside")
        #expect(!room.contains(Position(x: 101, y: 25)) && !room.contains(Position(x: 50, y: -1)))
    }

    @Test func aPolygonContainsWhatItsOutlineEncloses() {
        // An L shape: the notch at the top right is outside.
        let l = Zone(id: "l", name: "L", kind: .meeting, outline: [
            Position(x: 0, y: 0), Position(x: 50, y: 0), Position(x: 50, y: 50), Position(x: 100, y: 50), Position(x: 100, y: 100),
            Position(x: 0, y: 100),
        ])
        #expect(l.contains(Position(x: 25, y: 25)) && l.contains(Position(x: 75, y: 75)))
        #expect(!l.contains(Position(x: 75, y: 25)))
    }

    @Test func zonesThatTouchDoNotOverlapAndZonesThatShareAreaDo() {
        let beside = Zone.rectangle(id: "beside", name: "", kind: .meeting, x: 100, y: 0, width: 50, height: 50)
        #expect(!room.overlaps(beside) && !beside.overlaps(room))
        let crossing = Zone.rectangle(id: "crossing", name: "", kind: .meeting, x: 90, y: 10, width: 50, height: 10)
        #expect(room.overlaps(crossing))
        let same = Zone.rectangle(id: "same", name: "", kind: .meeting, x: 0, y: 0, width: 100, height: 50)
        #expect(room.overlaps(same), "the same outline")
        let inner = Zone.rectangle(id: "inner", name: "", kind: .meeting, x: 0, y: 0, width: 10, height: 10)
        #expect(room.overlaps(inner) && inner.overlaps(room), "one inside the other, sharing a corner")
        let far = Zone.rectangle(id: "far", name: "", kind: .meeting, x: 500, y: 500, width: 10, height: 10)
        #expect(!room.overlaps(far))
    }

    @Test func aPointIsInAtMostOneZone() {
        let beside = Zone.rectangle(id: "beside", name: "", kind: .meeting, x: 200, y: 0, width: 50, height: 50)
        #expect(Zone.zone(at: Position(x: 210, y: 10), in: [room, beside])?.id == "beside")
        #expect(Zone.zone(at: Position(x: 150, y: 10), in: [room, beside]) == nil)
    }
}
