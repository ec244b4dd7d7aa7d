import Testing
import PlazaFleetModel
import Foundation
import PlazaTesting
import PlazaProtocol

@Suite(.serialized) struct ChatTests {
    @Test func twoClientsChat() async throws {
        let server = try await TestServer.start()
        let (ann, _) = try await server.enter("lobby", name: "Ann")
        let (bob, _) = try await server.enter("lobby", name: "Bob")
        ann.send(#"{"type":"chat","id":"m1","text":"hello Bob"}"#)
        let received = try await bob.next("chat")
        #expect(received.string("text") == "hello Bob")
        #expect(received.string("name") == "Ann")
        #expect(received.int("offset") == 1)
        let ack = try await ann.next("ack")
        #expect(ack.string("id") == "m1" && ack.int("offset") == 1)
        bob.send(#"{"type":"chat","id":"b1","text":"hi Ann"}"#)
        let reply = try await ann.next("chat")
        #expect(reply.string("text") == "hi Ann" && reply.int("offset") == 2)
        let metrics = try await server.request("GET", "/metrics").text
        #expect(metrics.contains(#"plaza_frames_out_total{type="chat"} 4"#), "two messages, two recipients each")
        #expect(!metrics.contains("plaza_websocket_messages_out_total 0\n"), "written messages are counted")
        try await server.stop()
    }

    @Test func resumeReturnsExactlyTheMissedMessages() async throws {
        let server = try await TestServer.start()
        let ann = try await server.join("lobby", name: "Ann")
        let (sender, _) = try await server.enter("lobby", name: "Sam")
        let first = try await server.connect()
        try await first.hello(ann.token)
        sender.send(#"{"type":"chat","id":"s1","text":"one"}"#)
        #expect(try await first.next("chat").int("offset") == 1)
        #expect(try await sender.next("ack").int("offset") == 1)
        first.connection.abort()
        for i in 2...4 {
            sender.send(#"{"type":"chat","id":"s\#(i)","text":"n\#(i)"}"#)
            #expect(try await sender.next("ack").int("offset") == Int64(i))
        }
        let again = try await server.connect()
        let welcome = try await again.hello(ann.token, since: 1)
        #expect(welcome.bool("recovered") == true)
        #expect(welcome.int("offset") == 4)
        var offsets: [Int64] = []
        for _ in 0..<3 { offsets.append(try await again.next("chat").int("offset") ?? -1) }
        #expect(offsets == [2, 3, 4])
        let extra = try await again.collect(for: 0.3).filter { $0.string("type") == "chat" }
        #expect(extra.isEmpty, "each missed message arrives once")
        sender.send(#"{"type":"chat","id":"s5","text":"live"}"#)
        #expect(try await again.next("chat").int("offset") == 5)
        try await server.stop()
    }

    @Test func aClientBeyondTheWindowGetsAFreshSnapshot() async throws {
        let server = try await TestServer.start { $0.roomServer.rooms.resumeWindow = 2 }
        let (sender, _) = try await server.enter("lobby")
        for i in 1...5 {
            sender.send(#"{"type":"chat","id":"m\#(i)","text":"x"}"#)
            _ = try await sender.next("ack")
        }
        let (late, welcome) = try await server.enter("lobby", since: 1)
        #expect(welcome.bool("recovered") == false)
        #expect(welcome.int("offset") == 5)
        #expect(try await late.collect(for: 0.3).filter { $0.string("type") == "chat" }.isEmpty)
        let (near, nearWelcome) = try await server.enter("lobby", since: 3)
        #expect(nearWelcome.bool("recovered") == true)
        #expect(try await near.next("chat").int("offset") == 4)
        try await server.stop()
    }

    @Test func aRetriedIDIsNotDuplicated() async throws {
        let server = try await TestServer.start()
        let (ann, _) = try await server.enter("lobby", name: "Ann")
        let (bob, _) = try await server.enter("lobby", name: "Bob")
        ann.send(#"{"type":"chat","id":"same","text":"once"}"#)
        ann.send(#"{"type":"chat","id":"same","text":"once"}"#)
        let acks = [try await ann.next("ack"), try await ann.next("ack")]
        #expect(acks.allSatisfy { $0.int("offset") == 1 })
        ann.send(#"{"type":"chat","id":"same","text":"once"}"#)
        #expect(try await ann.next("ack").int("offset") == 1)
        ann.send(#"{"type":"chat","id":"next","text":"two"}"#)
        #expect(try await ann.next("ack").int("offset") == 2)
        let seen = try await bob.collect(for: 0.3).filter { $0.string("type") == "chat" }
        #expect(seen.map { $0.int("offset") } == [1, 2], "Bob sees the retried message once")
        try await server.stop()
    }

    @Test func restartKeepsEveryAcknowledgedMessage() async throws {
        let server = try await TestServer.start()
        let ticket = try await server.join("lobby", name: "Ann")
        let ann = try await server.connect()
        try await ann.hello(ticket.token)
        for i in 1...20 { ann.send(#"{"type":"chat","id":"m\#(i)","text":"message \#(i)"}"#) }
        var acked: [Int64] = []
        for _ in 1...20 { acked.append(try await ann.next("ack").int("offset") ?? 0) }
        #expect(acked == Array(1...20))
        try await server.stop()

        let restarted = try await TestServer.start(dataDirectory: server.dataDirectory)
        let history = try await restarted.request("GET", "/api/v1/rooms/lobby/messages?since=0&limit=100", bearer: ticket.token)
        #expect(history.status == 200)
        #expect(history.json.array("messages").map { $0.int("offset") } == (1...20).map { Int64($0) })
        #expect(history.json.int("lastOffset") == 20)
        let again = try await restarted.connect()
        let welcome = try await again.hello(ticket.token, since: 18)
        #expect(welcome.bool("recovered") == true)
        #expect(try await again.next("chat").int("offset") == 19)
        again.send(#"{"type":"chat","id":"m20","text":"a retry after the restart"}"#)
        #expect(try await again.next("ack").int("offset") == 20, "a retry after a restart is not stored twice")
        again.send(#"{"type":"chat","id":"m21","text":"new"}"#)
        #expect(try await again.next("ack").int("offset") == 21)
        try await restarted.stop()
    }

    @Test func historyPagesForwardAndBack() async throws {
        let server = try await TestServer.start { $0.http.historyPageLimit = 3 }
        let ticket = try await server.join("lobby")
        let client = try await server.connect()
        try await client.hello(ticket.token)
        for i in 1...7 { client.send(#"{"type":"chat","id":"m\#(i)","text":"\#(i)"}"#) }
        for _ in 1...7 { _ = try await client.next("ack") }
        let latest = try await server.request("GET", "/api/v1/rooms/lobby/messages", bearer: ticket.token)
        #expect(latest.json.array("messages").map { $0.int("offset") } == [5, 6, 7])
        let back = try await server.request("GET", "/api/v1/rooms/lobby/messages?before=5&limit=10", bearer: ticket.token)
        #expect(back.json.array("messages").map { $0.int("offset") } == [2, 3, 4], "the page limit caps 'limit'")
        let bad = try await server.request("GET", "/api/v1/rooms/lobby/messages?since=-1", bearer: ticket.token)
        #expect(bad.status == 400 && bad.json["error"]?["code"] == .string("invalid_request"))
        try await server.stop()
    }
}
