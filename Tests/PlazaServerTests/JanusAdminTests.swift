import Testing
import Foundation
import PlazaTesting
import PlazaMedia
import PlazaHTTPClient

/// Plaza's side of a real Janus: conference rooms with their own secret and pin, created only by whoever holds
/// the VideoRoom's admin key, and participants admitted one token each.
@Suite(.serialized) struct JanusAdminTests {
    static let roomAdminKey = "room-admin-" + UUID().uuidString

    @Test func roomsAreCreatedWithASecretAndAPinAndDestroyedOnlyWithTheSecret() async throws {
        let janus = try await JanusServer.start(roomAdminKey: Self.roomAdminKey)
        defer { janus.stop() }
        let admin = JanusAdmin(url: janus.adminURL, secret: janus.adminSecret, roomAdminKey: Self.roomAdminKey)
        let room = JanusAdmin.Room(id: 4242, secret: "room-secret", pin: "room-pin", publishers: 12, bitrate: 512_000)
        try await admin.create(room)
        #expect(try await admin.exists(room: 4242))
        #expect(try await admin.participants(room: 4242, secret: "room-secret").isEmpty)
        await #expect(throws: JanusAdmin.Failure.self, "the same id twice") { try await admin.create(room) }
        let withoutKey = JanusAdmin(url: janus.adminURL, secret: janus.adminSecret)
        var other = room
        other.id = 4343
        await #expect(throws: JanusAdmin.Failure.self, "creating rooms needs the admin key") { try await withoutKey.create(other) }
        do {
            try await admin.destroy(room: 4242, secret: "not-the-secret")
            Issue.record("a wrong secret destroyed the room")
        } catch let failure as JanusAdmin.Failure {
            #expect(failure.code == 433, "\(failure)")
        }
        try await admin.destroy(room: 4242, secret: "room-secret")
        #expect(try await !admin.exists(room: 4242))
        let wrongSecret = JanusAdmin(url: janus.adminURL, secret: "wrong")
        await #expect(throws: JanusAdmin.Failure.self, "the admin API needs its secret") { _ = try await wrongSecret.tokens() }
    }

    @Test func aTokenAdmitsItsHolderUntilItIsRemoved() async throws {
        let janus = try await JanusServer.start()
        defer { janus.stop() }
        let admin = JanusAdmin(url: janus.adminURL, secret: janus.adminSecret)
        func createSession(_ token: String?) async throws -> String? {
            var body: [String: Any] = ["janus": "create", "transaction": UUID().uuidString]
            body["token"] = token
            let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
            let answer = try await HTTPCall.json(.POST, janus.apiURL, body: json).send()
            return (try JSONSerialization.jsonObject(with: answer.body) as? [String: Any])?["janus"] as? String
        }
        #expect(try await createSession(nil) == "error", "stored-token authentication: no token, no session")
        let token = "participant-" + UUID().uuidString
        try await admin.add(token: token)
        #expect(try await admin.tokens().contains(token))
        #expect(try await createSession(token) == "success")
        #expect(try await admin.sessionCount() == 1)
        try await admin.remove(token: token)
        #expect(try await !admin.tokens().contains(token))
        #expect(try await createSession(token) == "error")
    }
}
