import Testing
import PlazaFleetModel
import Foundation
import PlazaTesting
import PlazaProtocol

@Suite(.serialized) struct SpaceTests {
    private func ids(_ frames: [JSONValue], _ type: String, _ key: String) -> [String] {
        frames.filter { $0.string("type") == type }.flatMap { frame in
            frame.array(key).compactMap { $0.stringValue ?? $0.string("id") }
        }
    }

    @Test func movesArriveOnlyWithinTheAreaOfInterestAndEnterExitFireAtTheEdge() async throws {
        // 100-unit cells, a 3×3 block of interest: an avatar 200 units away (two cells) is out of view.
        let server = try await TestServer.start {
            $0.space.cellSize = 100
            $0.space.interestRadius = 1
            $0.space.tickHz = 20
        }
        let (ann, annWelcome) = try await server.enter("park", name: "Ann")
        let (bob, bobWelcome) = try await server.enter("park", name: "Bob")
        let annID = annWelcome.string("you")!, bobID = bobWelcome.string("you")!
        let entered = try await ann.next("enter")
        #expect(entered.array("avatars").map { $0.string("id") } == [bobID], "avatars at the spawn see each other")

        bob.send(#"{"type":"move","x":50,"y":40,"dir":"right"}"#)
        var bobMove: JSONValue?
        while bobMove?.int("x") != 50 {  // the first flush may still carry the spawn position
            bobMove = try await ann.next("moves").array("moves").first { $0.string("id") == bobID }
        }
        #expect(bobMove?.int("y") == 40 && bobMove?.string("dir") == "right")

        bob.send(#"{"type":"move","x":250,"y":0}"#)
        let exit = try await ann.next("exit")
        #expect(exit.array("ids") == [.string(bobID)])
        #expect(try await bob.next("exit").array("ids") == [.string(annID)])

        _ = ann.drain()
        for x in stride(from: 260, through: 290, by: 10) { bob.send(#"{"type":"move","x":\#(x),"y":0}"#) }
        let unseen = try await ann.collect(for: 0.4)
        #expect(!ids(unseen, "moves", "moves").contains(bobID), "moves outside the area of interest are not sent")

        bob.send(#"{"type":"move","x":199,"y":0}"#)
        let back = try await ann.next("enter")
        #expect(back.array("avatars").first?.string("id") == bobID)
        #expect(back.array("avatars").first?.int("x") == 199, "enter carries the position")
        try await server.stop()
    }

    @Test func movesAreCoalescedIntoOneFramePerTick() async throws {
        let server = try await TestServer.start { $0.space.tickHz = 2 }
        let (ann, _) = try await server.enter("park", name: "Ann")
        let (bob, bobWelcome) = try await server.enter("park", name: "Bob")
        _ = try await ann.next("enter")
        _ = ann.drain()
        for x in 1...20 { bob.send(#"{"type":"move","x":\#(x),"y":1}"#) }
        let frames = try await ann.collect(for: 0.8).filter { $0.string("type") == "moves" }
        let bobEntries = frames.flatMap { $0.array("moves") }.filter { $0.string("id") == bobWelcome.string("you") }
        #expect(frames.count <= 2, "at 2 Hz, at most two flushes in 0.8 s")
        #expect(bobEntries.count <= 2 && bobEntries.last?.int("x") == 20, "last writer wins")
        try await server.stop()
    }
}
