import Testing
import Foundation
import PlazaTesting
import PlazaProtocol
import PlazaMedia

/// Meeting zones and large bubbles on a real Janus (Debian's), driven by `plaza serve` through its Admin API:
/// the `conference` frame, the credentials it hands out and what they admit to (checked on Janus's own API).
@Suite(.serialized) struct ConferenceTests {
    static let roomAdminKey = "room-admin-" + UUID().uuidString
    static let publicURL = "ws://janus.example.test/janus"

    static func start(_ janus: JanusServer) async throws -> TestServer {
        try await TestServer.start {
            $0.space.tickHz = 20
            $0.space.bridgeHysteresis = 1
            $0.roomServer.janus.url = Self.publicURL
            $0.roomServer.janus.adminURL = janus.adminURL
            $0.roomServer.janus.adminSecret = janus.adminSecret
            $0.roomServer.janus.roomAdminKey = Self.roomAdminKey
        }
    }

    /// The next `conference` frame, skipping everything else.
    static func conference(_ client: TestClient, timeout: Double = 5) async throws -> JSONValue {
        try await client.next("conference", timeout: timeout)
    }

    @Test func everyoneInAMeetingZoneGetsItsConferenceAndCredentialsAdmitToThatOneOnly() async throws {
        let janus = try await JanusServer.start(roomAdminKey: Self.roomAdminKey)
        defer { janus.stop() }
        let server = try await Self.start(janus)
        let (ann, annWelcome) = try await server.enter("party", name: "Ann")
        let (bob, bobWelcome) = try await server.enter("party", name: "Bob")
        let (cid, _) = try await server.enter("party", name: "Cid")
        let annID = try #require(annWelcome.string("you")), bobID = try #require(bobWelcome.string("you"))
        // The built-in map's meeting room spans x 480–1056, y 32–224; its café x 1088–1504, y 32–416.
        ann.send(#"{"type":"move","x":600,"y":100}"#)
        bob.send(#"{"type":"move","x":1000,"y":200}"#)
        cid.send(#"{"type":"move","x":1200,"y":300}"#)
        let annConference = try await Self.conference(ann)
        let bobConference = try await Self.conference(bob)
        let cidConference = try await Self.conference(cid)
        #expect(annConference.string("conference") == "zone-meeting-room" && annConference.string("zone") == "meeting-room")
        #expect(annConference.string("kind") == "janus" && annConference.string("url") == Self.publicURL)
        #expect(bobConference.int("room") == annConference.int("room") && bobConference.string("pin") == annConference.string("pin"))
        #expect(bobConference.string("token") != annConference.string("token"), "a token per participant")
        #expect(cidConference.string("conference") == "zone-cafe" && cidConference.int("room") != annConference.int("room"))
        let room = try #require(annConference.int("room")), pin = try #require(annConference.string("pin"))
        let cafe = try #require(cidConference.int("room"))

        // Ann's token and the room's pin admit her to her zone's room on Janus.
        let annOnJanus = try await JanusClient.open(apiURL: janus.apiURL, token: try #require(annConference.string("token")))
        _ = try await annOnJanus.joinAsPublisher(room: room, pin: pin, display: annID)
        // Not to the café's: its pin is not hers.
        let elsewhere = try await JanusClient.open(apiURL: janus.apiURL, token: try #require(annConference.string("token")))
        do {
            _ = try await elsewhere.joinAsPublisher(room: cafe, pin: pin, display: annID)
            Issue.record("the meeting room's pin admitted to the café")
        } catch let refused as JanusClient.Refused {
            #expect(refused.code == 433, "a wrong pin: \(refused)")
        }
        // A token Plaza did not hand out admits to nothing.
        await #expect(throws: JanusClient.Refused.self) { _ = try await JanusClient.open(apiURL: janus.apiURL, token: "made-up") }
        let bobOnJanus = try await JanusClient.open(apiURL: janus.apiURL, token: try #require(bobConference.string("token")))
        _ = try await bobOnJanus.joinAsPublisher(room: room, pin: pin, display: bobID)

        // Ann walks out of the zone: told at once, her token is taken back and she is out of the room on Janus.
        ann.send(#"{"type":"move","x":300,"y":600}"#)
        #expect(try await Self.conference(ann)["conference"] == .null)
        try await eventually("Ann's token no longer works and she is out of the room") {
            guard (try? await annOnJanus.keepAlive()) == nil else { return false }
            let present = try await bobOnJanus.request(["request": "listparticipants", "room": room])["participants"] as? [[String: Any]]
            return present?.compactMap { $0["display"] as? String } == [bobID]
        }
        // Bob leaves the room altogether: the same.
        bob.close()
        try await eventually("Bob's token no longer works") { (try? await bobOnJanus.keepAlive()) == nil }
        // The café empties: its conference ends on Janus.
        cid.send(#"{"type":"move","x":300,"y":700}"#)
        #expect(try await Self.conference(cid)["conference"] == .null)
        let admin = JanusAdmin(url: janus.adminURL, secret: janus.adminSecret)
        try await eventually("the café's room is destroyed") { try await !admin.exists(room: cafe) }
        try await eventually("the meeting room's too") { try await !admin.exists(room: room) }
        #expect(try await admin.tokens().isEmpty, "every token taken back")
        try await server.stop()
    }

    @Test func aBubbleMovesToTheBridgePastP2PMaxAndBackAfterTheHysteresis() async throws {
        let janus = try await JanusServer.start(roomAdminKey: Self.roomAdminKey)
        defer { janus.stop() }
        let server = try await Self.start(janus)
        // Everyone stands in a row 40 units apart, far from the zones: one bubble.
        var clients: [TestClient] = []
        func arrive(_ name: String) async throws -> TestClient {
            let client = try await server.enter("party", name: name).0
            client.send(#"{"type":"move","x":\#(200 + 40 * clients.count),"y":700}"#)
            return client
        }
        for name in ["Ann", "Bob", "Cid", "Dee"] { clients.append(try await arrive(name)) }
        let quiet = try await clients[0].collect(for: 0.6)
        #expect(!quiet.contains { $0.string("type") == "conference" }, "four stay peer-to-peer")
        clients.append(try await arrive("Eve"))
        var rooms: Set<Int64> = []
        for client in clients {
            let conference = try await Self.conference(client)
            #expect(conference.string("conference") == "bubble-1" && conference["zone"] == .null)
            rooms.insert(try #require(conference.int("room")))
        }
        #expect(rooms.count == 1, "one conference for the bubble")
        // A sixth joiner goes straight to the bridge.
        let fay = try await arrive("Fay")
        #expect(try await Self.conference(fay).int("room") == rooms.first)
        clients.append(fay)

        // Three walk far apart: each alone goes back to peer-to-peer at once; the three left together wait out the
        // hysteresis (1 s) before they do too.
        let spots = [(100, 100), (1400, 900), (100, 900)]
        for (client, spot) in zip(clients.suffix(3), spots) { client.send(#"{"type":"move","x":\#(spot.0),"y":\#(spot.1)}"#) }
        for client in clients.suffix(3) { #expect(try await Self.conference(client)["conference"] == .null) }
        let shrunk = ContinuousClock.now
        for client in clients.prefix(3) { #expect(try await Self.conference(client)["conference"] == .null) }
        #expect(ContinuousClock.now - shrunk >= .milliseconds(900), "not before the hysteresis")
        let admin = JanusAdmin(url: janus.adminURL, secret: janus.adminSecret)
        try await eventually("the bubble's room is destroyed") { try await !admin.exists(room: rooms.first!) }
        try await server.stop()
    }

    /// Polls `condition` every 100 ms for up to `seconds`.
    func eventually(_ what: String, seconds: Double = 10, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("not within \(seconds) s: \(what)")
    }
}
