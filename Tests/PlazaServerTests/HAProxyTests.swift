import Testing
import Foundation
import PlazaTesting
import PlazaRoles
import PlazaTransport
import PlazaDirectory
import PlazaFleetModel
import PlazaProtocol
import PlazaStore
import PlazaWebSocketClient

/// The shipped HAProxy configuration (deploy/haproxy) with the real `haproxy` in front of two nodes and two
/// directories on one PostgreSQL store.
@Suite(.serialized) struct HAProxyTests {
    static let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy/haproxy/haproxy.cfg")

    static func join(_ proxy: String, _ room: String, name: String, bearer: String? = nil) async throws -> JSONValue {
        let answer = try await HTTP.join(proxy, room, name: name, bearer: bearer)
        #expect(answer.status == 200, "join \(room) through HAProxy: \(answer.status) \(answer.text)")
        return answer.json
    }

    @Test func joinsGoToTheDirectoriesAndSocketsToTheRoomsNode() async throws {
        let store = try PostgresServer.shared().createDatabase()
        let proxyPort = try LoopbackPort.free()
        let proxy = "http://127.0.0.1:\(proxyPort)"
        func behindProxy(_ id: String) -> (inout PlazaConfiguration) -> Void {
            { configuration in
                ClusterTests.fast(&configuration)
                configuration.http.publicURL = "\(proxy)/n/\(id)"
            }
        }
        let nodes = [
            "node-1": try await TestServer.startNode("node-1", fleetStore: store, configure: behindProxy("node-1")),
            "node-2": try await TestServer.startNode("node-2", fleetStore: store, configure: behindProxy("node-2")),
        ]
        let directories = [
            try await TestServer.startDirectory(fleetStore: store, configure: ClusterTests.fast),
            try await TestServer.startDirectory(fleetStore: store, configure: ClusterTests.fast),
        ]
        let configuration = try substituting(
            [
                ("bind 0.0.0.0:80", "bind 127.0.0.1:\(proxyPort)"),
                ("10.0.0.10:8080", "127.0.0.1:\(directories[0].port)"), ("10.0.0.20:8080", "127.0.0.1:\(directories[1].port)"),
                ("10.0.0.11:8081", "127.0.0.1:\(nodes["node-1"]!.port)"), ("10.0.0.12:8082", "127.0.0.1:\(nodes["node-2"]!.port)"),
                // Health checks every 200 ms instead of 2 s, so the test does not wait.
                ("inter 2s", "inter 200ms"),
            ], in: try String(contentsOf: Self.shipped, encoding: .utf8))
        let haproxy = try HAProxyServer.start(configuration: configuration)
        defer { haproxy.stop() }

        let ready = try await eventually { (try? await HTTP.request("GET", proxy + "/readyz"))?.status == 200 }
        #expect(ready, "HAProxy answers through a directory: \(haproxy.log.suffix(1_000))")
        // The web client comes from the directories too.
        let page = try await HTTP.request("GET", proxy + "/r/party")
        #expect(page.status == 200 && page.text.contains("<html"))

        // Join answers the WebSocket URL of the room's node behind the proxy; rooms spread over both nodes. (Both
        // nodes live in this process and report its CPU, which a busy moment can push to "full" for one report:
        // hence a short pause between rooms.)
        var homeOf: [String: String] = [:]
        for i in 0..<40 where Set(homeOf.values).count < 2 || i < 12 {
            let answer = try await Self.join(proxy, "room-\(i)", name: "Ann")
            let node = try #require(answer.string("node"))
            #expect(answer.string("url") == "ws://127.0.0.1:\(proxyPort)/n/\(node)/ws")
            homeOf["room-\(i)"] = node
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(Set(homeOf.values) == ["node-1", "node-2"], "\(homeOf)")

        // Two participants of one room, both through the proxy, reach its node and talk.
        let ann = try await Self.join(proxy, "room-0", name: "Ann")
        let bob = try await Self.join(proxy, "room-0", name: "Bob")
        let annClient: TestClient
        do { annClient = try await TestClient.connect(url: try #require(ann.string("url"))) } catch {
            Issue.record("\(error): \(haproxy.log.suffix(3_000))")
            throw error
        }
        _ = try await annClient.hello(try #require(ann.string("token")))
        let bobClient = try await TestClient.connect(url: try #require(bob.string("url")))
        _ = try await bobClient.hello(try #require(bob.string("token")))
        annClient.send(#"{"type":"chat","id":"c1","text":"through the proxy"}"#)
        #expect(try await annClient.next("ack").int("offset") == 1)
        #expect(try await bobClient.next("chat").string("text") == "through the proxy")

        // The room's node drains: no new rooms, but its sockets stay and its clients can reconnect through the
        // proxy (HAProxy checks nodes on /healthz, which a draining node still answers).
        let draining = try #require(homeOf["room-0"])
        let other = draining == "node-1" ? "node-2" : "node-1"
        await nodes[draining]!.roomServer.setDraining(true)
        let placements = nodes[draining]!.store
        #expect(try await eventually { try await placements.nodes().contains { $0.registration.id.rawValue == draining && $0.report.state == .draining } })
        for i in 40..<48 {
            #expect(try await Self.join(proxy, "room-\(i)", name: "Ann").string("node") == other)
        }
        annClient.send(#"{"type":"chat","id":"c2","text":"still here"}"#)
        #expect(try await annClient.next("ack").int("offset") == 2)
        bobClient.close()
        let again = try await Self.join(proxy, "room-0", name: "Bob", bearer: bob.string("token"))
        #expect(again.string("node") == draining)
        let bobAgain = try await TestClient.connect(url: try #require(again.string("url")))
        let welcome = try await bobAgain.hello(try #require(again.string("token")), since: 1)
        #expect(welcome.bool("recovered") == true)
        #expect(try await bobAgain.next("chat").string("text") == "still here")

        // A stopped directory is skipped: every join still succeeds.
        try await directories[0].stop()
        for i in 48..<58 {
            #expect(try await Self.join(proxy, "room-\(i)", name: "Ann").string("node") == other)
        }
        annClient.close()
        bobAgain.close()
        for server in [directories[1]] + Array(nodes.values) { try await server.stop() }
    }
}
