import Testing
import Foundation
import PlazaTesting
import PlazaBench
import PlazaProtocol

/// `plaza serve --pools` with a `janus` pool, as a party host runs it on one machine: the local provider launches
/// `plaza janus`, which starts Debian's Janus with configuration of its own and registers it; meeting zones go on
/// it, browsers reach it on its WebSocket API with the credentials of their `conference` frame; stopping Plaza
/// stops Janus.
@Suite(.serialized) struct JanusPoolTests {
    static let pools = """
        {"pools": [
          {"name": "rooms", "kind": "room-server", "min": 1, "max": 1, "desired": 1, "period": 1, "warmup": 1,
           "provider": {"type": "local", "stopTimeout": 10}, "policies": [],
           "drain": {"deadline": 600, "atDeadline": "terminate"}, "health": {"unhealthyThreshold": 5, "registrationGrace": 60, "reportTTL": 5}},
          {"name": "bridges", "kind": "janus", "min": 1, "max": 1, "desired": 1, "period": 1, "warmup": 1,
           "provider": {"type": "local", "stopTimeout": 10}, "policies": [],
           "drain": {"deadline": 600, "atDeadline": "terminate"}, "health": {"unhealthyThreshold": 5, "registrationGrace": 60, "reportTTL": 5}}
        ]}
        """

    @Test func aJanusPoolCarriesTheMeetingZonesOfPlazaServe() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-janus-pool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let poolFile = folder.appendingPathComponent("pools.json")
        try Data(Self.pools.utf8).write(to: poolFile)
        let config = folder.appendingPathComponent("plaza.json")
        let settings = #"{"cluster": {"heartbeatInterval": 0.5, "heartbeatTTL": 2.5, "leaseTTL": 2.5}, "space": {"tickHz": 20}, "agent": {"interval": 0.5}}"#
        try Data(settings.utf8).write(to: config)
        let serve = try await BenchServer.start(
            executable: try PlazaExecutable.path(),
            arguments: ["serve", "--pools", poolFile.path, "--data-dir", folder.path, "--config", config.path], environment: [:])
        let adminToken = try String(contentsOf: folder.appendingPathComponent("admin-token"), encoding: .utf8)

        // The bridge registers: the fleet lists it serving, at its WebSocket URL.
        var bridge: (id: String, url: String)?
        try await eventually("the janus pool's instance serves", seconds: 30) {
            let fleet = try await HTTP.request("GET", serve.baseURL + "/api/v1/fleet", bearer: adminToken)
            let pool = fleet.json.array("pools").first { $0.string("name") == "bridges" }
            guard let instance = pool?.array("instances").first, instance.string("state") == "serving",
                let url = instance["node"]?.string("url")
            else { return false }
            bridge = (try #require(instance.string("id")), url)
            return true
        }
        let (id, url) = try #require(bridge)
        #expect(url.hasPrefix("ws://127.0.0.1:"))
        #expect(
            try String(contentsOf: folder.appendingPathComponent("janus-admin-secret"), encoding: .utf8).utf8.count >= 32,
            "the bridges' admin secret is generated in the data directory")

        // Two guests in the meeting room are put in its conference, on that bridge.
        func enter(_ name: String) async throws -> TestClient {
            let answer = try await HTTP.join(serve.baseURL, "party", name: name)
            #expect(answer.status == 200, "\(answer.text)")
            let client = try await TestClient.connect(url: try #require(answer.json.string("url")))
            try await client.hello(try #require(answer.json.string("token")))
            return client
        }
        let ann = try await enter("Ann"), bob = try await enter("Bob")
        ann.send(#"{"type":"move","x":600,"y":100}"#)
        bob.send(#"{"type":"move","x":700,"y":100}"#)
        let conference = try await ann.next("conference", timeout: 15)
        #expect(conference.string("conference") == "zone-meeting-room" && conference.string("url") == url)
        let token = try #require(conference.string("token")), pin = try #require(conference.string("pin"))
        let room = try #require(conference.int("room"))

        // What the web client does: Janus's WebSocket API, a session with the token, a publisher in the room.
        let janus = try await TestClient.connect(url: url, subprotocol: "janus-protocol")
        func ask(_ fields: String, _ transaction: String) async throws -> JSONValue {
            janus.send(#"{"transaction":"\#(transaction)","token":"\#(token)",\#(fields)}"#)
            while true {
                let message = try await janus.next(timeout: 10)
                if message.string("transaction") == transaction, message.string("janus") != "ack" { return message }
            }
        }
        let session = try #require(try await ask(#""janus":"create""#, "create")["data"]?.int("id"), "a session with Plaza's token")
        let handle = try #require(
            try await ask(#""janus":"attach","plugin":"janus.plugin.videoroom","session_id":\#(session)"#, "attach")["data"]?.int("id"))
        let joined = try await ask(
            #""janus":"message","session_id":\#(session),"handle_id":\#(handle),"body":{"request":"join","ptype":"publisher","room":\#(room),"pin":"\#(pin)","display":"x","token":"\#(token)"}"#,
            "join")
        #expect(joined["plugindata"]?["data"]?.string("videoroom") == "joined", "\(joined)")
        janus.close()
        ann.close()
        bob.close()

        // Stopping Plaza stops the bridge's Janus with it.
        func janusRuns() -> Bool {
            let processes = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            return processes.contains { pid in
                guard Int32(pid) != nil, let line = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
                return String(decoding: line, as: UTF8.self).contains("plaza-janus-\(id)/janus.jcfg")
            }
        }
        #expect(janusRuns(), "the instance's Janus is found while it serves")
        serve.stop()
        try await eventually("no Janus of the instance is left", seconds: 20) { !janusRuns() }
    }

    /// Polls `condition` every 200 ms for up to `seconds`.
    func eventually(_ what: String, seconds: Double, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("not within \(seconds) s: \(what)")
    }
}
