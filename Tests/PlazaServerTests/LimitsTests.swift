import Testing
import PlazaFleetModel
import Foundation
import PlazaTesting
import PlazaProtocol
import NIOCore

@Suite(.serialized) struct LimitsTests {
    @Test func badFramesGetTheirErrorsAndTheRoomKeepsServing() async throws {
        let server = try await TestServer.start {
            $0.roomServer.webSocket.frameBytes = 1024
            $0.roomServer.webSocket.framesPerSecond = 20
            $0.roomServer.webSocket.frameBurst = 20
        }
        let (witness, _) = try await server.enter("lobby", name: "Witness")
        let (talker, _) = try await server.enter("lobby", name: "Talker")

        let early = try await server.connect()
        early.send(#"{"type":"chat","id":"x","text":"before hello"}"#)
        #expect(try await early.next("error").string("code") == "hello_required")

        let (bad, _) = try await server.enter("lobby", name: "Bad")
        bad.send("this is not json")
        #expect(try await bad.next("error").string("code") == "invalid_json")
        bad.send(#"{"type":"teleport"}"#)
        #expect(try await bad.next("error").string("code") == "unknown_type")
        bad.send(#"{"type":"chat","text":"no id"}"#)
        #expect(try await bad.next("error").string("code") == "invalid_frame")
        bad.send(#"{"type":"chat","id":"long","text":"\#(String(repeating: "x", count: 900))"}"#)
        _ = try await bad.next("ack")

        let (flooder, _) = try await server.enter("lobby", name: "Flooder")
        for _ in 0..<60 { flooder.send(#"{"type":"ping"}"#) }
        #expect(try await flooder.next("error").string("code") == "rate_limited")

        let (huge, _) = try await server.enter("lobby", name: "Huge")
        huge.send(#"{"type":"chat","id":"big","text":"\#(String(repeating: "x", count: 2000))"}"#)
        #expect(try await huge.closeCode() == 1009)

        talker.send(#"{"type":"chat","id":"still","text":"still serving"}"#)
        let chats = try await collectChats(witness, until: "still serving")
        #expect(chats.contains("still serving"))
        try await server.stop()
    }

    private func collectChats(_ client: TestClient, until text: String) async throws -> [String] {
        var texts: [String] = []
        while !texts.contains(text) { texts.append(try await client.next("chat").string("text") ?? "") }
        return texts
    }

    @Test func aClientThatKeepsFloodingIsClosed() async throws {
        let server = try await TestServer.start {
            $0.roomServer.webSocket.framesPerSecond = 10
            $0.roomServer.webSocket.frameBurst = 10
            $0.roomServer.webSocket.floodClose = 50
        }
        let (flooder, _) = try await server.enter("lobby")
        for _ in 0..<200 { flooder.send(#"{"type":"ping"}"#) }
        #expect(try await flooder.closeCode() == 4004)
        try await server.stop()
    }

    @Test func aConnectionWithoutHelloIsClosed() async throws {
        let server = try await TestServer.start { $0.roomServer.webSocket.helloTimeout = 0.3 }
        let silent = try await server.connect()
        #expect(try await silent.closeCode(timeout: 5) == 4001)
        try await server.stop()
    }

    @Test func chatTextLongerThanTheLimitIsRefused() async throws {
        let server = try await TestServer.start { $0.roomServer.rooms.limits.chatTextLength = 10 }
        let (ann, _) = try await server.enter("lobby")
        ann.send(#"{"type":"chat","id":"ok","text":"0123456789"}"#)
        #expect(try await ann.next("ack").string("id") == "ok")
        ann.send(#"{"type":"chat","id":"long","text":"0123456789x"}"#)
        let error = try await ann.next("error")
        #expect(error.string("code") == "text_too_long" && error.string("ref") == "long")
        try await server.stop()
    }

    @Test func roomNodeAndConnectionLimitsAreEnforced() async throws {
        let server = try await TestServer.start {
            $0.roomServer.rooms.limits.participantsPerRoom = 2
            $0.roomServer.rooms.limits.connectionsPerParticipant = 1
            $0.roomServer.rooms.roomsPerNode = 1
        }
        let first = try await server.join("lobby", name: "One")
        let second = try await server.join("lobby", name: "Two")
        let third = try await server.join("lobby", name: "Three")
        let a = try await server.connect()
        try await a.hello(first.token)
        let b = try await server.connect()
        try await b.hello(second.token)
        let c = try await server.connect()
        c.send(#"{"type":"hello","token":"\#(third.token)"}"#)
        #expect(try await c.next("error").string("code") == "room_full")
        #expect(try await c.closeCode() == 4502)
        let refused = try await server.request("POST", "/api/v1/join", body: #"{"room":"lobby","name":"Four"}"#)
        #expect(refused.status == 409 && refused.json["error"]?["code"] == .string("room_full"))

        let tab = try await server.connect()
        tab.send(#"{"type":"hello","token":"\#(first.token)"}"#)
        #expect(try await tab.next("error").string("code") == "too_many_connections")
        #expect(try await tab.closeCode() == 4503)

        let other = try await server.request("POST", "/api/v1/join", body: #"{"room":"elsewhere","name":"X"}"#)
        #expect(other.status == 503 && other.json["error"]?["code"] == .string("node_full"))
        try await server.stop()
    }

    @Test func aSlowReaderIsDisconnectedWhileAFastOneKeepsReceiving() async throws {
        let server = try await TestServer.start {
            $0.roomServer.webSocket.outboundQueueBytes = 256 * 1024
            $0.roomServer.webSocket.framesPerSecond = 100_000
            $0.roomServer.webSocket.frameBurst = 100_000
            $0.roomServer.webSocket.closeTimeout = 1
        }
        let slowTicket = try await server.join("lobby", name: "Slow")
        let slow = try await server.connect(receiveBufferBytes: 8 * 1024)
        try await slow.hello(slowTicket.token)
        let (fast, _) = try await server.enter("lobby", name: "Fast")
        let (sender, _) = try await server.enter("lobby", name: "Sender")
        slow.connection.setReading(false)
        // 10 MB addressed to the slow reader alone: more than the server's socket buffer (at most 4 MB here)
        // and its queue can hold. Meanwhile ordinary chat goes to everyone.
        let blob = String(repeating: "z", count: 15_000)
        let chats = 100
        Task {
            for i in 1...700 {
                sender.send(#"{"type":"app","to":"\#(slowTicket.participant)","data":"\#(blob)"}"#)
                if i % 7 == 0 {
                    sender.send(#"{"type":"chat","id":"m\#(i / 7)","text":"still here"}"#)
                    try? await Task.sleep(for: .milliseconds(10))
                }
            }
        }
        var last: Int64 = 0
        while last < Int64(chats) {
            do {
                last = try await fast.next("chat", timeout: 20).int("offset") ?? 0
            } catch {
                // Say where it stopped, so a failure explains itself.
                let metrics = try await server.request("GET", "/metrics")
                let nonZero = metrics.text.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.hasSuffix(" 0") && !$0.hasSuffix(" 0.0") }
                Issue.record("the fast reader stalled at offset \(last): \(nonZero.joined(separator: "; "))")
                throw error
            }
        }
        #expect(last == Int64(chats), "the fast reader got everything")
        slow.connection.setReading(true)
        // Its socket is dropped if it cannot take the close frame in time; otherwise it reads 4002.
        let code = try await slow.closeCode(timeout: 20)
        #expect(code == nil || code == 4002)
        let metrics = try await server.request("GET", "/metrics")
        #expect(metrics.text.contains(#"plaza_slow_consumer_disconnects_total{cause="queue_bytes"} 1"#))
        try await server.stop()
    }
}
