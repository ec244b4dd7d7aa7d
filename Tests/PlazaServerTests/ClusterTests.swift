import Testing
import Foundation
import PlazaTesting
import PlazaRoles
import PlazaTransport
import PlazaDirectory
import PlazaFleetModel
import PlazaStore
import PlazaCore
import PlazaProtocol

/// Fleet nodes in one process, sharing a real PostgreSQL store: one home per room, fencing, lost leases.
@Suite(.serialized) struct ClusterTests {
    /// Fast heartbeats so the tests do not wait for production timings.
    static func fast(_ configuration: inout PlazaConfiguration) {
        configuration.roomServer.heartbeatInterval = 0.2
        configuration.directory.heartbeatTTL = 2
        configuration.roomServer.leaseTTL = 2
        configuration.directory.leaseTTL = 2
    }

    /// Heartbeats slow enough that a write meets the fence before node-a's next heartbeat.
    static func slow(_ configuration: inout PlazaConfiguration) {
        configuration.roomServer.heartbeatInterval = 5
        configuration.directory.heartbeatTTL = 20
        configuration.roomServer.leaseTTL = 20
        configuration.directory.leaseTTL = 20
    }

    func twoNodes(_ timing: (inout PlazaConfiguration) -> Void = fast) async throws -> (TestServer, TestServer, String) {
        let store = try PostgresServer.shared().createDatabase()
        let a = try await TestServer.startNode("node-a", fleetStore: store, configure: timing)
        let b = try await TestServer.startNode("node-b", fleetStore: store, configure: timing)
        return (a, b, store)
    }

    @Test func aRoomLivesOnOneNodeAndOtherNodesSendItsClientsAway() async throws {
        let (a, b, _) = try await twoNodes()
        let (ann, _) = try await a.enter("kitchen", name: "Ann")
        // Bob's token works on any node (shared secret), but the room's home is node-a.
        let ticket = try await b.join("kitchen", name: "Bob")
        let bob = try await b.connect()
        bob.send(#"{"type":"hello","token":"\#(ticket.token)"}"#)
        let refused = try await bob.next("error")
        #expect(refused.string("code") == "moved")
        #expect(try await bob.closeCode() == 4003)
        let placement = try await a.store.placement(of: RoomName("kitchen")!)
        #expect(placement?.node == "node-a" && placement?.url == a.baseURL)
        ann.close()
        try await a.stop()
        try await b.stop()
    }

    @Test func aNodeThatLostItsRoomIsFencedAndTheNewHomeContinuesTheOffsets() async throws {
        let (a, b, _) = try await twoNodes(Self.slow)
        let room = RoomName("moving")!
        let (ann, _) = try await a.enter("moving", name: "Ann")
        ann.send(#"{"type":"chat","id":"m1","text":"first"}"#)
        #expect(try await ann.next("ack").int("offset") == 1)

        // node-a is cut off: its lease runs out and node-b takes the room up (as the store sees time pass).
        let placements = b.store
        let stolen = try await placements.claim(room, node: "node-b", leaseTTL: 60_000, now: wallClockMilliseconds() + 3_600_000)
        #expect(stolen?.epoch == 2)
        // node-a cannot write any more: the message is not acknowledged, and Ann is sent to the new home — by the
        // write meeting the fence, well before node-a's next heartbeat (5 s) would notice.
        ann.send(#"{"type":"chat","id":"m2","text":"second"}"#)
        #expect(try await ann.closeCode(timeout: 2) == 4003)
        #expect(!ann.drain().contains { $0.string("type") == "ack" })
        #expect(try await b.store.messages(in: room, after: 0, limit: 10).map(\.text) == ["first"], "nothing written by the fenced node")

        // Ann joins again, lands on node-b, resumes and sends the unacknowledged message again: stored once,
        // at the next offset.
        let ticket = try await b.join("moving", name: "Ann")
        let again = try await b.connect()
        let welcome = try await again.hello(ticket.token, since: 1)
        #expect(welcome.int("offset") == 1 && welcome.bool("recovered") == true)
        again.send(#"{"type":"chat","id":"m2","text":"second"}"#)
        #expect(try await again.next("ack").int("offset") == 2)
        let history = try await b.store.messages(in: room, after: 0, limit: 10)
        #expect(history.map(\.text) == ["first", "second"])
        again.close()
        try await a.stop()
        try await b.stop()
    }

    @Test func theHeartbeatSendsTheClientsOfALostRoomAway() async throws {
        let (a, b, _) = try await twoNodes()
        let (ann, _) = try await a.enter("quiet", name: "Ann")
        let placements = b.store
        _ = try await placements.claim(
            RoomName("quiet")!, node: "node-b", leaseTTL: 60_000, now: wallClockMilliseconds() + 3_600_000)
        // No chat needed: node-a's next heartbeat learns the room is gone.
        #expect(try await ann.closeCode() == 4003)
        let nodes = try await placements.nodes()
        #expect(nodes.map(\.registration.id) == ["node-a", "node-b"])
        #expect(nodes.allSatisfy { $0.report.state == .serving })
        try await a.stop()
        try await b.stop()
    }

    /// The node among `nodes` whose WebSocket URL a join answered with.
    func node(for joinAnswer: TestServer.HTTPResult, among nodes: [TestServer]) throws -> TestServer {
        let url = try #require(joinAnswer.json.string("url"))
        return try #require(nodes.first { url == "ws://127.0.0.1:\($0.port)/ws" }, "\(url) is one of the nodes")
    }

    @Test func directoriesSpreadNewRoomsAndSendLaterJoinersToTheSameNode() async throws {
        let (a, b, store) = try await twoNodes()
        let first = try await TestServer.startDirectory(fleetStore: store, configure: Self.fast)
        let second = try await TestServer.startDirectory(fleetStore: store, configure: Self.fast)
        var homes: [String: Int] = [:]
        for i in 0..<20 {
            let answer = try await first.request("POST", "/api/v1/join", body: #"{"room":"room-\#(i)","name":"Ann"}"#)
            #expect(answer.status == 200)
            homes[answer.json.string("node") ?? "?", default: 0] += 1
            let later = try await second.request("POST", "/api/v1/join", body: #"{"room":"room-\#(i)","name":"Bob"}"#)
            #expect(later.json.string("url") == answer.json.string("url"), "stickiness across directories")
            let lookup = try await second.request("GET", "/api/v1/rooms/room-\(i)/url")
            #expect(lookup.json.string("webSocketURL") == answer.json.string("url"))
        }
        #expect(homes["node-a", default: 0] >= 4 && homes["node-b", default: 0] >= 4, "rooms spread over both nodes: \(homes)")

        // The answer is usable: hello at that node is welcomed.
        let answer = try await first.request("POST", "/api/v1/join", body: #"{"room":"room-0","name":"Cy"}"#)
        let home = try node(for: answer, among: [a, b])
        let client = try await home.connect()
        let welcome = try await client.hello(try #require(answer.json.string("token")))
        #expect(welcome.string("room") == "room-0")
        client.close()

        // A directory has no WebSocket endpoint of its own.
        #expect(try await first.request("GET", "/ws").status == 404)
        for server in [first, second, a, b] { try await server.stop() }
    }

    @Test func racingJoinsThroughTwoDirectoriesAgree() async throws {
        let (a, b, store) = try await twoNodes()
        let first = try await TestServer.startDirectory(fleetStore: store, configure: Self.fast)
        let second = try await TestServer.startDirectory(fleetStore: store, configure: Self.fast)
        let urls = try await withThrowingTaskGroup(of: String?.self) { group in
            for i in 0..<20 {
                let directory = i % 2 == 0 ? first : second
                group.addTask {
                    try await directory.request("POST", "/api/v1/join", body: #"{"room":"contested","name":"P\#(i)"}"#).json.string("url")
                }
            }
            return try await group.reduce(into: Set<String?>()) { $0.insert($1) }
        }
        #expect(urls.count == 1 && urls.first! != nil, "\(urls)")
        for server in [first, second, a, b] { try await server.stop() }
    }

    @Test func aStoppedNodesRoomsMoveAndResumeWithTheirHistory() async throws {
        let (a, b, store) = try await twoNodes()
        let directory = try await TestServer.startDirectory(fleetStore: store, configure: Self.fast)
        let answer = try await directory.request("POST", "/api/v1/join", body: #"{"room":"survivor","name":"Ann"}"#)
        let home = try node(for: answer, among: [a, b])
        let survivor = home === a ? b : a
        let client = try await home.connect()
        _ = try await client.hello(try #require(answer.json.string("token")))
        for i in 1...5 {
            client.send(#"{"type":"chat","id":"m\#(i)","text":"message \#(i)"}"#)
            #expect(try await client.next("ack").int("offset") == Int64(i))
        }
        try await home.stop()

        // Within the heartbeat TTL the room becomes placeable again, on the surviving node.
        var moved: TestServer.HTTPResult?
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            let retry = try await directory.request(
                "POST", "/api/v1/join", body: #"{"room":"survivor","name":"Ann"}"#, bearer: answer.json.string("token"))
            if retry.status == 200, retry.json.string("url") == "ws://127.0.0.1:\(survivor.port)/ws" {
                moved = retry
                break
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        let rejoin = try #require(moved, "the room was placed on the surviving node")
        let resumed = try await survivor.connect()
        let welcome = try await resumed.hello(try #require(rejoin.json.string("token")), since: 5)
        #expect(welcome.int("offset") == 5 && welcome.bool("recovered") == true, "no acknowledged message lost")
        resumed.send(#"{"type":"chat","id":"m6","text":"message 6"}"#)
        #expect(try await resumed.next("ack").int("offset") == 6)
        resumed.close()
        for server in [directory, survivor] { try await server.stop() }
    }
}
