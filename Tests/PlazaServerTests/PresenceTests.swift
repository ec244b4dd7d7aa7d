import Testing
import PlazaFleetModel
import Foundation
import PlazaTesting
import PlazaProtocol

@Suite(.serialized) struct PresenceTests {
    @Test func aParticipantJoinsOnceAcrossTabsAndLeavesWithItsLast() async throws {
        let server = try await TestServer.start()
        let (watcher, _) = try await server.enter("lobby", name: "Watcher")
        let ticket = try await server.join("lobby", name: "Tabs")
        let tab1 = try await server.connect()
        try await tab1.hello(ticket.token)
        let joined = try await watcher.next("joined")
        #expect(joined["participant"]?["id"] == .string(ticket.participant))
        let tab2 = try await server.connect()
        let welcome = try await tab2.hello(ticket.token)
        #expect(welcome.array("participants").count == 2)
        tab1.close()
        #expect(try await watcher.collect(for: 0.4).filter { ["joined", "left"].contains($0.string("type")) }.isEmpty)
        tab2.close()
        let left = try await watcher.next("left")
        #expect(left.string("id") == ticket.participant)
        try await server.stop()
    }

    @Test func aSecondTabSeesTheAvatarsInViewAtOnce() async throws {
        let server = try await TestServer.start()
        let (other, otherWelcome) = try await server.enter("park", name: "Other")
        let ticket = try await server.join("park", name: "Tabs")
        let tab1 = try await server.connect()
        try await tab1.hello(ticket.token)
        #expect(try await tab1.next("enter").array("avatars").first?.string("id") == otherWelcome.string("you"))
        let tab2 = try await server.connect()
        try await tab2.hello(ticket.token)
        #expect(try await tab2.next("enter", timeout: 1).array("avatars").first?.string("id") == otherWelcome.string("you"))
        _ = other
        try await server.stop()
    }

    @Test func settingMuteTwiceKeepsItMuted() async throws {
        let server = try await TestServer.start()
        let ticket = try await server.join("lobby", name: "Ann")
        let ann = try await server.connect()
        try await ann.hello(ticket.token, audio: true, video: true)
        let (bob, bobWelcome) = try await server.enter("lobby", name: "Bob")
        let annInRoster = bobWelcome.array("participants").first { $0.string("id") == ticket.participant }
        #expect(annInRoster?.bool("audio") == true, "the initial state is the one given at hello")
        ann.send(#"{"type":"media","audio":false,"video":true}"#)
        let media = try await bob.next("media")
        #expect(media.string("id") == ticket.participant && media.bool("audio") == false && media.bool("video") == true)
        ann.send(#"{"type":"media","audio":false,"video":true}"#)
        #expect(try await bob.collect(for: 0.3).filter { $0.string("type") == "media" }.isEmpty, "no change, no announcement")
        let (_, carolWelcome) = try await server.enter("lobby", name: "Carol")
        #expect(carolWelcome.array("participants").first { $0.string("id") == ticket.participant }?.bool("audio") == false)
        try await server.stop()
    }

    @Test func aConnectionThatStopsAnsweringPingsIsClosedAndLeaves() async throws {
        let server = try await TestServer.start { $0.roomServer.webSocket.pingInterval = 1 }
        let (watcher, _) = try await server.enter("lobby", name: "Watcher")
        let (silent, welcome) = try await server.enter("lobby", name: "Silent")
        _ = try await watcher.next("joined")
        silent.connection.setAnswersPings(false)
        let code = try await silent.closeCode(timeout: 10)
        #expect(code == 1001)
        let left = try await watcher.next("left", timeout: 10)
        #expect(left.string("id") == welcome.string("you"))
        try await server.stop()
    }

    @Test func appAndSignalStayInsideTheRoom() async throws {
        let server = try await TestServer.start()
        let (ann, _) = try await server.enter("room-a", name: "Ann")
        let (bob, bobWelcome) = try await server.enter("room-a", name: "Bob")
        let (eve, eveWelcome) = try await server.enter("room-b", name: "Eve")
        ann.send(#"{"type":"app","data":{"emote":"🎉"}}"#)
        let app = try await bob.next("app")
        #expect(app["data"]?["emote"] == .string("🎉"))
        ann.send(#"{"type":"signal","to":"\#(bobWelcome.string("you")!)","data":{"sdp":"offer"}}"#)
        #expect(try await bob.next("signal")["data"]?["sdp"] == .string("offer"))
        ann.send(#"{"type":"signal","to":"\#(eveWelcome.string("you")!)","data":{"sdp":"offer"}}"#)
        #expect(try await ann.next("error").string("code") == "unknown_participant")
        ann.send(#"{"type":"app","to":"\#(eveWelcome.string("you")!)","data":1}"#)
        #expect(try await ann.next("error").string("code") == "unknown_participant")
        let leaked = try await eve.collect(for: 0.3).filter { ["app", "signal"].contains($0.string("type")) }
        #expect(leaked.isEmpty)
        try await server.stop()
    }

    @Test func gracefulShutdownFlushesAcksThenClosesWithGoingAway() async throws {
        let server = try await TestServer.start()
        let ticket = try await server.join("lobby")
        let ann = try await server.connect()
        try await ann.hello(ticket.token)
        ann.send(#"{"type":"chat","id":"first","text":"before shutdown"}"#)
        let first = try await ann.next("ack").int("offset")
        for i in 1...50 { ann.send(#"{"type":"chat","id":"m\#(i)","text":"racing the shutdown"}"#) }
        try await Task.sleep(for: .milliseconds(5))
        try await server.stop()
        #expect(try await ann.closeCode() == 1001)
        let acked = Set(ann.drain().filter { $0.string("type") == "ack" }.compactMap { $0.int("offset") } + [first].compactMap { $0 })
        #expect(!acked.isEmpty)
        let restarted = try await TestServer.start(dataDirectory: server.dataDirectory)
        let stored = try await restarted.request("GET", "/api/v1/rooms/lobby/messages?since=0", bearer: ticket.token)
        let offsets = Set(stored.json.array("messages").compactMap { $0.int("offset") })
        #expect(acked.isSubset(of: offsets), "every acknowledged message was stored")
        try await restarted.stop()
    }
}
