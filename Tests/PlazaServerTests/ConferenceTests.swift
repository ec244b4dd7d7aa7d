import Testing
import Foundation
import PlazaTesting
import PlazaProtocol
import PlazaMedia
@testable import PlazaTransport
import PlazaFleetModel
import PlazaStore
import PlazaCore
import Synchronization

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
        // Nor with the café's pin, should she learn it: her token is not on the café room's own list.
        do {
            let withPin = try await JanusClient.open(apiURL: janus.apiURL, token: try #require(annConference.string("token")))
            _ = try await withPin.joinAsPublisher(room: cafe, pin: try #require(cidConference.string("pin")), display: annID)
            Issue.record("Ann's token admitted her to the café")
        } catch let refused as JanusClient.Refused {
            #expect(refused.code == 433, "not on the room's list: \(refused)")
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

    /// The last `conference` frame `client` gets within `seconds` (nil when none came).
    static func lastConference(_ client: TestClient, within seconds: Double) async throws -> JSONValue? {
        try await client.collect(for: seconds).last { $0.string("type") == "conference" }
    }

    @Test func whoeverIsInAZoneIsToldSoEvenAfterComingBackQuicklyOrReloading() async throws {
        let janus = try await JanusServer.start(roomAdminKey: Self.roomAdminKey)
        defer { janus.stop() }
        let server = try await Self.start(janus)
        let (bob, _) = try await server.enter("party", name: "Bob")
        bob.send(#"{"type":"move","x":700,"y":100}"#)
        _ = try await Self.conference(bob)
        // Ann steps in, out and in again, a tick apart each, faster than the bridge admits her.
        let ticket = try await server.join("party", name: "Ann")
        var ann = try await server.connect()
        _ = try await ann.hello(ticket.token)
        for x in [600, 300, 600] {
            ann.send(#"{"type":"move","x":\#(x),"y":100}"#)
            try await Task.sleep(for: .milliseconds(60))
        }
        let told = try #require(try await Self.lastConference(ann, within: 3), "Ann, back in the zone, was never told")
        #expect(told.string("conference") == "zone-meeting-room")
        let onJanus = try await JanusClient.open(apiURL: janus.apiURL, token: try #require(told.string("token")))
        _ = try await onJanus.joinAsPublisher(room: try #require(told.int("room")), pin: try #require(told.string("pin")), display: ticket.participant)
        // She reloads: her only connection closes and a new one joins with her token, in the zone.
        ann.close()
        ann = try await server.connect()
        _ = try await ann.hello(ticket.token)
        ann.send(#"{"type":"move","x":600,"y":100}"#)
        let again = try #require(try await Self.lastConference(ann, within: 3), "Ann, reloaded in the zone, was never told")
        #expect(again.string("conference") == "zone-meeting-room")
        try await server.stop()
    }

    /// Janus bridges registered in a fleet, as their agents would, reporting every half second until told to stop.
    final class Bridges: Sendable {
        let store: any SharedStore
        let silenced = Mutex<Set<String>>([])
        let task = Mutex<Task<Void, Never>?>(nil)

        init(_ store: any SharedStore, _ bridges: [(id: String, janus: JanusServer)]) async throws {
            self.store = store
            for (id, janus) in bridges {
                try await store.register(
                    NodeRegistration(
                        id: NodeID(id), url: "ws://\(id).example.test/janus", region: "default", capacity: 100, kind: .janus,
                        controlURL: janus.adminURL),
                    now: store.fleetTime())
            }
            let ids = bridges.map(\.id)
            task.withLock {
                $0 = Task { [store, self] in
                    while !Task.isCancelled {
                        for id in ids where !self.silenced.withLock({ $0.contains(id) }) {
                            _ = try? await store.report(node: NodeID(id), NodeReport(), now: store.fleetTime())
                        }
                        try? await Task.sleep(for: .milliseconds(500))
                    }
                }
            }
        }

        func silence(_ id: String) { _ = silenced.withLock { $0.insert(id) } }
        func stop() { task.withLock { $0?.cancel() } }
    }

    @Test func inAFleetARoomsConferencesGoToARegisteredJanusAvoidDrainingOnesAndMoveWhenItDies() async throws {
        let secret = "fleet-janus-" + UUID().uuidString
        let janusA = try await JanusServer.start(roomAdminKey: Self.roomAdminKey, adminSecret: secret)
        defer { janusA.stop() }
        let janusB = try await JanusServer.start(roomAdminKey: Self.roomAdminKey, adminSecret: secret)
        defer { janusB.stop() }
        let location = try PostgresServer.shared().createDatabase()
        let node = try await TestServer.startNode("node-a", fleetStore: location) {
            ClusterTests.fast(&$0)
            $0.space.tickHz = 20
            $0.roomServer.janus.adminSecret = secret
            $0.roomServer.janus.roomAdminKey = Self.roomAdminKey
        }
        let bridges = try await Bridges(node.store, [("janus-a", janusA), ("janus-b", janusB)])
        defer { bridges.stop() }
        let admins = ["janus-a": JanusAdmin(url: janusA.adminURL, secret: secret), "janus-b": JanusAdmin(url: janusB.adminURL, secret: secret)]

        let (ann, _) = try await node.enter("party", name: "Ann")
        let (bob, _) = try await node.enter("party", name: "Bob")
        ann.send(#"{"type":"move","x":600,"y":100}"#)
        bob.send(#"{"type":"move","x":700,"y":100}"#)
        let first = try await Self.conference(ann)
        let home = try #require(["janus-a", "janus-b"].first { first.string("url") == "ws://\($0).example.test/janus" })
        let other = home == "janus-a" ? "janus-b" : "janus-a"
        #expect(try await admins[home]!.exists(room: try #require(first.int("room"))))
        #expect(try await Self.conference(bob).int("room") == first.int("room"))

        // The home bridge drains: a new room's conference goes to the other; this room's stays where it is.
        #expect(try await node.store.requestDrain(node: NodeID(home)))
        let (cid, _) = try await node.enter("elsewhere", name: "Cid")
        let (dee, _) = try await node.enter("elsewhere", name: "Dee")
        cid.send(#"{"type":"move","x":600,"y":100}"#)
        dee.send(#"{"type":"move","x":700,"y":100}"#)
        #expect(try await Self.conference(cid).string("url") == "ws://\(other).example.test/janus")
        let quiet = try await ann.collect(for: 3)
        #expect(!quiet.contains { $0.string("type") == "conference" }, "a draining bridge keeps its conferences")

        // The home bridge dies: its agent stops reporting. After a heartbeat TTL (2 s here) the conference is
        // placed on the other, opened there, and everyone in it is told where to go.
        bridges.silence(home)
        (home == "janus-a" ? janusA : janusB).stop()
        let died = ContinuousClock.now
        let moved = try await Self.conference(ann, timeout: 15)
        #expect(moved.string("conference") == "zone-meeting-room" && moved.string("url") == "ws://\(other).example.test/janus")
        #expect(try await admins[other]!.exists(room: try #require(moved.int("room"))))
        #expect(try await Self.conference(bob, timeout: 5).int("room") == moved.int("room"))
        #expect(ContinuousClock.now - died < .seconds(2 + 6), "within the heartbeat TTL and a few seconds")
        try await node.stop()
    }

    @Test func aRestartedServerEndsTheConferencesItsEarlierRunLeftOnTheBridge() async throws {
        let janus = try await JanusServer.start(roomAdminKey: Self.roomAdminKey)
        defer { janus.stop() }
        let admin = JanusAdmin(url: janus.adminURL, secret: janus.adminSecret, roomAdminKey: Self.roomAdminKey)
        // What a crash left: a room of an earlier run of this server, one of another server's, one Plaza did not make.
        func leave(_ id: Int64, _ description: String?) async throws {
            let secret = JanusMarks.roomSecret(id, adminSecret: janus.adminSecret)
            try await admin.create(
                JanusAdmin.Room(id: id, secret: secret, pin: "pin", publishers: 4, bitrate: 128_000, description: description))
        }
        try await leave(4001, "plaza:local:ea51e7")
        try await leave(4002, "plaza:node-b:ea51e7")
        try await leave(4003, nil)
        for token in ["plaza.local.ea51e7.5ec7e7", "plaza.node-b.ea51e7.5ec7e7", "someone-elses"] { try await admin.add(token: token) }
        let server = try await Self.start(janus)
        try await eventually("the earlier run's conference is ended") { try await !admin.exists(room: 4001) }
        #expect(try await admin.exists(room: 4002), "another server's")
        #expect(try await admin.exists(room: 4003), "not Plaza's")
        try await eventually("the earlier run's token is taken back") { try await !admin.tokens().contains("plaza.local.ea51e7.5ec7e7") }
        #expect(Set(try await admin.tokens()).isSuperset(of: ["plaza.node-b.ea51e7.5ec7e7", "someone-elses"]))
        // What this run opens is its own: described so, with a secret only the admin secret's holders can derive.
        let (ann, _) = try await server.enter("party", name: "Ann")
        let (bob, _) = try await server.enter("party", name: "Bob")
        ann.send(#"{"type":"move","x":600,"y":100}"#)
        bob.send(#"{"type":"move","x":700,"y":100}"#)
        let room = try #require(try await Self.conference(ann).int("room"))
        let listed = try await admin.rooms().first { $0.id == room }
        #expect(listed?.description?.hasPrefix("plaza:local:") == true && listed?.description != "plaza:local:ea51e7")
        #expect(JanusMarks.roomSecret(room, adminSecret: janus.adminSecret) != JanusMarks.roomSecret(room, adminSecret: "other"))
        try await server.stop()
    }

    @Test func whoeverJoinsAConferenceUnderAnotherNameIsSentOut() async throws {
        let janus = try await JanusServer.start(roomAdminKey: Self.roomAdminKey)
        defer { janus.stop() }
        let server = try await Self.start(janus)
        let (ann, annWelcome) = try await server.enter("party", name: "Ann")
        let (bob, _) = try await server.enter("party", name: "Bob")
        ann.send(#"{"type":"move","x":600,"y":100}"#)
        bob.send(#"{"type":"move","x":700,"y":100}"#)
        let conference = try await Self.conference(ann)
        let room = try #require(conference.int("room")), pin = try #require(conference.string("pin"))
        let token = try #require(conference.string("token")), annID = try #require(annWelcome.string("you"))
        // Ann's browser as it should be, and a second session of hers naming itself otherwise (so that leaving
        // would not find it by her id).
        let honest = try await JanusClient.open(apiURL: janus.apiURL, token: token)
        _ = try await honest.joinAsPublisher(room: room, pin: pin, display: annID)
        let liar = try await JanusClient.open(apiURL: janus.apiURL, token: token)
        _ = try await liar.joinAsPublisher(room: room, pin: pin, display: "g-somebody-else")
        func displays() async throws -> [String] {
            let present = try await honest.request(["request": "listparticipants", "room": room])["participants"] as? [[String: Any]]
            return present?.compactMap { $0["display"] as? String } ?? []
        }
        try await eventually("the one under another name is sent out", seconds: 8) { try await displays() == [annID] }
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
