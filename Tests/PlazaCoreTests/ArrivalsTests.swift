import Testing
@testable import PlazaCore

/// A 6 × 4 map of 32-unit tiles: walls all round, and one solid tile east of the spawn's tile.
private func walledRoom(objects: [Ground.Box] = []) -> Ground {
    let rows = ["WWWWWW", "W.W..W", "W....W", "WWWWWW"]
    let solid = rows.flatMap { $0.map { $0 == "W" } }
    return Ground(tileSize: 32, columns: 6, rows: 4, solidTiles: solid, solidObjects: objects)
}

@Suite struct ArrivalsTests {
    @Test func theFirstArrivalStandsOnTheSpawnAndTheNextOnesAround() {
        let arrivals = Arrivals(spawn: Position(x: 500, y: 500))
        var present: [Position] = []
        for _ in 0..<20 {
            let spot = arrivals.spot(present: present)
            for other in present {
                let distance = ((spot.x - other.x) * (spot.x - other.x) + (spot.y - other.y) * (spot.y - other.y)).squareRoot()
                #expect(distance >= Arrivals.spacing, "\(spot) is too close to \(other)")
            }
            present.append(spot)
        }
        #expect(present[0] == Position(x: 500, y: 500))
        #expect(present[1] == Position(x: 532, y: 500), "the nearest ring, starting due east")
    }

    @Test func anArrivalIsNeverPlacedInAWallOrAnObjectOrOffTheMap() {
        let table = Ground.Box(minX: 96, minY: 64, maxX: 150, maxY: 96)
        let ground = walledRoom(objects: [table])
        let arrivals = Arrivals(spawn: Position(x: 48, y: 48), ground: ground)
        var present: [Position] = []
        for _ in 0..<4 {
            let spot = arrivals.spot(present: present)
            #expect(ground.isFree(spot, radius: Arrivals.avatarRadius), "\(spot) is not free ground")
            present.append(spot)
        }
        #expect(Set(present.map { "\($0.x),\($0.y)" }).count == 4)
    }

    @Test func whenNoSpotIsFreeTheSpawnIsUsed() {
        let ground = Ground(tileSize: 32, columns: 1, rows: 1, solidTiles: [false], solidObjects: [])
        let arrivals = Arrivals(spawn: Position(x: 16, y: 16), ground: ground)
        #expect(arrivals.spot(present: [Position(x: 16, y: 16)]) == Position(x: 16, y: 16))
    }

    @Test func freeGroundFollowsTheMapFormatsCollisionRules() {
        let ground = walledRoom(objects: [Ground.Box(minX: 100, minY: 70, maxX: 140, maxY: 90)])
        #expect(ground.isFree(Position(x: 48, y: 48), radius: 12))
        #expect(ground.isFree(Position(x: 44, y: 44), radius: 12), "touching a wall is not overlapping it")
        #expect(!ground.isFree(Position(x: 43, y: 48), radius: 12), "overlaps the west wall")
        #expect(!ground.isFree(Position(x: 80, y: 48), radius: 12), "the solid tile east of the spawn")
        #expect(!ground.isFree(Position(x: 120, y: 80), radius: 12), "inside the object")
        #expect(!ground.isFree(Position(x: 5, y: 5), radius: 12), "off the map")
    }

    @Test func aRoomSpreadsItsArrivals() throws {
        var state = RoomState(
            name: RoomName("r")!, limits: RoomLimits(), geometry: GridGeometry(cellSize: 100, radius: 1),
            arrivals: Arrivals(spawn: Position(x: 300, y: 300)))
        guard case .joined(let first) = try state.connect(ConnectionID(1), as: ParticipantID("a"), name: "A", role: .member, audio: false, video: false),
            case .joined(let second) = try state.connect(ConnectionID(2), as: ParticipantID("b"), name: "B", role: .member, audio: false, video: false)
        else {
            Issue.record("both should join")
            return
        }
        #expect(first.position == Position(x: 300, y: 300))
        #expect(second.position != first.position)
    }
}
