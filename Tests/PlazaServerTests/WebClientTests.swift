import Testing
import Foundation
import PlazaTesting
import PlazaRoles
import PlazaTransport
import PlazaDirectory
import PlazaFleetModel
import PlazaProtocol
import PlazaRooms

@Suite(.serialized) struct WebClientTests {
    @Test func theClientIsServedAtTheRootAndAtRoomLinks() async throws {
        let server = try await TestServer.start()
        let root = try await server.request("GET", "/")
        #expect(root.status == 200)
        #expect(root.contentType?.hasPrefix("text/html") == true)
        #expect(root.text.contains(#"<script type="module" src="/app/main.js">"#))
        let room = try await server.request("GET", "/r/birthday-party")
        #expect(room.status == 200 && room.text == root.text, "a room link opens the same page, which reads the room from the path")
        let module = try await server.request("GET", "/app/main.js")
        #expect(module.status == 200)
        #expect(module.contentType?.contains("javascript") == true, "browsers refuse modules served as another type")
        #expect(module.text.contains("import { Session"))
        let missing = try await server.request("GET", "/app/nothing-here.js")
        #expect(missing.status == 404 && missing.json["error"]?["code"] == .string("not_found"))
        try await server.stop()
    }

    @Test func theSpaceDescribesTheMapAndTheProximityRules() async throws {
        let server = try await TestServer.start { $0.space.proximityRadius = 200; $0.space.maxPeers = 4 }
        let space = try await server.request("GET", "/api/v1/space")
        #expect(space.status == 200)
        #expect(space.json["proximity"]?["radius"] == .number(200))
        #expect(space.json["proximity"]?["maxPeers"] == .number(4))
        #expect(space.json["cellSize"] == .number(256) && space.json["tickHz"] == .number(10))
        #expect(space.json["map"]?["format"] == .number(1))
        guard case .array(let tiles)? = space.json["map"]?["tiles"] else {
            Issue.record("the built-in map has tiles")
            return
        }
        #expect(tiles.count > 10)
        guard case .array(let zones)? = space.json["map"]?["zones"] else {
            Issue.record("the built-in map has meeting zones")
            return
        }
        #expect(zones.compactMap { $0["id"]?.stringValue } == ["meeting-room", "cafe"])
        #expect(zones.allSatisfy { $0["kind"] == .string("meeting") })
        try await server.stop()
    }

    @Test func newAvatarsAppearAtTheMapsSpawnUnlessConfigured() async throws {
        let directory = TestServer.temporaryDirectory()
        let mapPath = directory + "/small.json"
        try #"{"format":1,"tileSize":32,"spawn":{"x":48,"y":16},"legend":{".":{"kind":"floor"},"W":{"kind":"wall","solid":true}},"tiles":["W..W"]}"#
            .write(toFile: mapPath, atomically: true, encoding: .utf8)
        let server = try await TestServer.start {
            $0.space.map = mapPath
            $0.space.spawn = nil
        }
        let (_, welcome) = try await server.enter("garden", name: "Ann")
        guard case .array(let people)? = welcome["participants"] else {
            Issue.record("welcome lists participants")
            return
        }
        #expect(people.first?["x"] == .number(48) && people.first?["y"] == .number(16))
        try await server.stop()
    }

    @Test func aBrokenMapStopsTheServerWithTheReason() async throws {
        let directory = TestServer.temporaryDirectory()
        let cases: [(String, String)] = [
            (#"{"format":1,"tileSize":32,"spawn":{"x":16,"y":16},"legend":{".":{}},"tiles":["..","."]}"#, "row 1 has 1 tiles, expected 2"),
            (#"{"format":1,"tileSize":32,"spawn":{"x":16,"y":16},"legend":{".":{}},"tiles":[".X"]}"#, "tile 'X' in row 0 is not in the legend"),
            (#"{"format":1,"tileSize":32,"spawn":{"x":16,"y":16},"legend":{"W":{"solid":true}},"tiles":["WW"]}"#, "spawn is on a solid tile"),
            (#"{"format":1,"tileSize":32,"spawn":{"x":99,"y":16},"legend":{".":{}},"tiles":[".."]}"#, "outside the map"),
            (#"{"format":2,"tileSize":32,"spawn":{"x":16,"y":16},"legend":{".":{}},"tiles":[".."]}"#, "format 2 is not supported"),
            (#"{"tiles": "W"}"#, "not a Plaza map"),
            (#"{"format":1,"tileSize":32,"spawn":{"x":16,"y":16},"legend":{".":{}},"tiles":["....","...."],"zones":[{"id":"z","kind":"party","rect":{"x":0,"y":0,"width":32,"height":32}}]}"#, "zone 'z': unknown kind 'party' (known: meeting)"),
            (#"{"format":1,"tileSize":32,"spawn":{"x":16,"y":16},"legend":{".":{}},"tiles":["....","...."],"zones":[{"id":"z","kind":"meeting","rect":{"x":100,"y":0,"width":64,"height":32}}]}"#, "zone 'z': outside the map"),
            (#"{"format":1,"tileSize":32,"spawn":{"x":16,"y":16},"legend":{".":{}},"tiles":["....","...."],"zones":[{"id":"a","kind":"meeting","rect":{"x":0,"y":0,"width":64,"height":64}},{"id":"b","kind":"meeting","polygon":[{"x":32,"y":32},{"x":96,"y":32},{"x":96,"y":64}]}]}"#, "zones 'a' and 'b' overlap"),
            (#"{"format":1,"tileSize":32,"spawn":{"x":16,"y":16},"legend":{".":{}},"tiles":["....","...."],"zones":[{"id":"z","kind":"meeting"}]}"#, "zone 'z': give either rect or polygon"),
        ]
        for (index, (json, reason)) in cases.enumerated() {
            let path = directory + "/map-\(index).json"
            try json.write(toFile: path, atomically: true, encoding: .utf8)
            do {
                _ = try MapFile.load(path: path)
                Issue.record("map \(index) was accepted")
            } catch {
                #expect(error.key == "space.map")
                #expect(error.message.contains(reason), "\(error.message)")
            }
        }
    }
}
