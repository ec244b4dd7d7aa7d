import Testing
import PlazaFleetModel
import Foundation
import PlazaTesting
import PlazaProtocol
import PlazaAuth
import PlazaCore
import JWTKit
import _CryptoExtras

@Suite(.serialized) struct AuthTests {
    @Test func tamperedExpiredAndForeignTokensAreRefused() async throws {
        let server = try await TestServer.start()
        let ticket = try await server.join("room-a", name: "Ann")

        var parts = ticket.token.split(separator: ".").map(String.init)
        let payload = Data(base64URL: parts[1])!
        let forged = String(decoding: payload, as: UTF8.self).replacingOccurrences(of: "room-a", with: "room-b")
        parts[1] = Data(forged.utf8).base64URLEncoded()
        let tampered = try await server.connect()
        tampered.send(#"{"type":"hello","token":"\#(parts.joined(separator: "."))"}"#)
        #expect(try await tampered.next("error").string("code") == "unauthorized")
        #expect(try await tampered.closeCode() == 4501)

        let expiredToken = try await server.roomServer.api.authority.issue(
            participant: ParticipantID("p"), name: "Old", room: RoomName("room-a")!, role: .member, expiresAt: Date().addingTimeInterval(-60))
        let expired = try await server.connect()
        expired.send(#"{"type":"hello","token":"\#(expiredToken)"}"#)
        #expect(try await expired.next("error").string("code") == "token_expired")

        let stranger = try await TokenAuthority(secret: String(repeating: "s", count: 40), external: nil)
        let wrongKey = try await stranger.issue(
            participant: ParticipantID("p"), name: "X", room: RoomName("room-a")!, role: .member, expiresAt: Date().addingTimeInterval(60))
        let wrong = try await server.connect()
        wrong.send(#"{"type":"hello","token":"\#(wrongKey)"}"#)
        #expect(try await wrong.next("error").string("code") == "unauthorized")

        let otherRoom = try await server.request("GET", "/api/v1/rooms/room-b/messages", bearer: ticket.token)
        #expect(otherRoom.status == 403 && otherRoom.json["error"]?["code"] == .string("forbidden"))
        let noToken = try await server.request("GET", "/api/v1/rooms/room-a/messages")
        #expect(noToken.status == 401)
        let ownRoom = try await server.request("GET", "/api/v1/rooms/room-a/messages", bearer: ticket.token)
        #expect(ownRoom.status == 200)
        try await server.stop()
    }

    @Test func externalHS256TokensGateJoinWhenGuestsAreOff() async throws {
        let secret = String(repeating: "k", count: 48)
        let server = try await TestServer.start {
            $0.auth.guests = false
            $0.auth.externalHMACSecret = secret
        }
        let anonymous = try await server.request("POST", "/api/v1/join", body: #"{"room":"lobby","name":"Anon"}"#)
        #expect(anonymous.status == 401 && anonymous.json["error"]?["code"] == .string("unauthorized"))

        let issuer = try await TokenAuthority(secret: secret, external: nil)
        let member = try await issuer.issue(
            participant: ParticipantID("user-42"), name: "Dana", room: RoomName("lobby")!, role: .moderator, expiresAt: Date().addingTimeInterval(300))
        let joined = try await server.request("POST", "/api/v1/join", body: #"{"room":"lobby"}"#, bearer: member)
        #expect(joined.status == 200)
        #expect(joined.json.string("participant") == "user-42" && joined.json.string("name") == "Dana" && joined.json.string("role") == "moderator")

        let elsewhere = try await server.request("POST", "/api/v1/join", body: #"{"room":"other"}"#, bearer: member)
        #expect(elsewhere.status == 403 && elsewhere.json["error"]?["code"] == .string("forbidden"))

        let late = try await issuer.issue(
            participant: ParticipantID("user-42"), name: "Dana", room: RoomName("lobby")!, role: .member, expiresAt: Date().addingTimeInterval(-5))
        let expired = try await server.request("POST", "/api/v1/join", body: #"{"room":"lobby"}"#, bearer: late)
        #expect(expired.status == 401 && expired.json["error"]?["code"] == .string("token_expired"))
        try await server.stop()
    }

    @Test func externalES256TokensFromAPublicKeyFile() async throws {
        let key = ES256PrivateKey()
        let keyFile = TestServer.temporaryDirectory() + "/auth.pem"
        try key.publicKey.pemRepresentation.write(toFile: keyFile, atomically: true, encoding: .utf8)
        let server = try await TestServer.start {
            $0.auth.guests = false
            $0.auth.externalPublicKeyFile = keyFile
        }
        let signer = JWTKeyCollection()
        await signer.add(ecdsa: key)
        let token = try await signer.sign(ExternalClaims(sub: .init(value: "u1"), name: "Eli", room: "*", exp: .init(value: Date().addingTimeInterval(60))))
        let joined = try await server.request("POST", "/api/v1/join", body: #"{"room":"anywhere"}"#, bearer: token)
        #expect(joined.status == 200 && joined.json.string("role") == "member", "'*' grants every room")
        let other = ES256PrivateKey()
        let otherSigner = JWTKeyCollection()
        await otherSigner.add(ecdsa: other)
        let forged = try await otherSigner.sign(ExternalClaims(sub: .init(value: "u1"), name: "Eli", room: "*", exp: .init(value: Date().addingTimeInterval(60))))
        let refused = try await server.request("POST", "/api/v1/join", body: #"{"room":"anywhere"}"#, bearer: forged)
        #expect(refused.status == 401)
        try await server.stop()
    }

    @Test func externalRS256TokensFromAPublicKeyFile() async throws {
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let keyFile = TestServer.temporaryDirectory() + "/auth-rsa.pem"
        try rsa.publicKey.pemRepresentation.write(toFile: keyFile, atomically: true, encoding: .utf8)
        let server = try await TestServer.start {
            $0.auth.guests = false
            $0.auth.externalPublicKeyFile = keyFile
        }
        let signer = JWTKeyCollection()
        await signer.add(rsa: try Insecure.RSA.PrivateKey(backing: rsa), digestAlgorithm: .sha256)
        let token = try await signer.sign(ExternalClaims(sub: .init(value: "r1"), name: "Rae", room: "lobby", exp: .init(value: Date().addingTimeInterval(60))))
        let joined = try await server.request("POST", "/api/v1/join", body: #"{"room":"lobby"}"#, bearer: token)
        #expect(joined.status == 200 && joined.json.string("participant") == "r1")
        try await server.stop()
    }

    @Test func externalTokensFromAJWKSAreChosenByKid() async throws {
        let key = ES256PrivateKey()
        let (x, y) = key.publicKey.parameters!
        let jwks = #"{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":"k1","x":"\#(x)","y":"\#(y)"}]}"#
        let jwksFile = TestServer.temporaryDirectory() + "/jwks.json"
        try jwks.write(toFile: jwksFile, atomically: true, encoding: .utf8)
        let server = try await TestServer.start {
            $0.auth.guests = false
            $0.auth.externalJWKSFile = jwksFile
        }
        let signer = JWTKeyCollection()
        await signer.add(ecdsa: key, kid: "k1")
        let claims = ExternalClaims(sub: .init(value: "j1"), name: "Jo", room: "lobby", exp: .init(value: Date().addingTimeInterval(60)))
        let joined = try await server.request("POST", "/api/v1/join", body: #"{"room":"lobby"}"#, bearer: try await signer.sign(claims, kid: "k1"))
        #expect(joined.status == 200 && joined.json.string("participant") == "j1")
        let stranger = JWTKeyCollection()
        await stranger.add(ecdsa: ES256PrivateKey(), kid: "k1")
        let forged = try await stranger.sign(claims, kid: "k1")
        #expect(try await server.request("POST", "/api/v1/join", body: #"{"room":"lobby"}"#, bearer: forged).status == 401)
        try await server.stop()
    }

    @Test func aRoomTokenRenewsItselfThroughJoin() async throws {
        let server = try await TestServer.start()
        let first = try await server.join("lobby", name: "Ann")
        let renewed = try await server.request("POST", "/api/v1/join", body: #"{"room":"lobby"}"#, bearer: first.token)
        #expect(renewed.status == 200)
        #expect(renewed.json.string("participant") == first.participant && renewed.json.string("name") == "Ann")
        let elsewhere = try await server.request("POST", "/api/v1/join", body: #"{"room":"other"}"#, bearer: first.token)
        #expect(elsewhere.status == 403)
        try await server.stop()
    }

    @Test func theAdminAPINeedsTheAdminToken() async throws {
        let server = try await TestServer.start { $0.auth.adminToken = "admin-secret-for-tests" }
        _ = try await server.enter("lobby", name: "Ann")
        _ = try await server.enter("lobby", name: "Bob")
        #expect(try await server.request("GET", "/api/v1/rooms").status == 401)
        #expect(try await server.request("GET", "/api/v1/rooms", bearer: "wrong").status == 401)
        let rooms = try await server.request("GET", "/api/v1/rooms", bearer: "admin-secret-for-tests")
        #expect(rooms.status == 200)
        #expect(rooms.json.array("rooms").first?.string("room") == "lobby")
        #expect(rooms.json.array("rooms").first?.int("participants") == 2)
        try await server.stop()
    }

    @Test func joinValidatesRoomAndName() async throws {
        let server = try await TestServer.start { $0.http.requestBodyBytes = 1024 }
        let padding = String(repeating: " ", count: 1024)
        let tooLarge = try await server.request("POST", "/api/v1/join", body: #"{"room":"ok","name":"A"}"#.dropLast() + padding + "}")
        #expect(tooLarge.status == 413 && tooLarge.json["error"]?["code"] == .string("invalid_request"))
        let atLimit = try await server.request("POST", "/api/v1/join", body: #"{"room":"ok","name":"A"}"#.dropLast() + padding.dropFirst(1024 - 1000) + "}")
        #expect(atLimit.status == 200, "a body under the limit is accepted")
        let badRoom = try await server.request("POST", "/api/v1/join", body: #"{"room":"no spaces","name":"A"}"#)
        #expect(badRoom.status == 400 && badRoom.json["error"]?["code"] == .string("invalid_room"))
        let badName = try await server.request("POST", "/api/v1/join", body: #"{"room":"ok","name":"  "}"#)
        #expect(badName.status == 400 && badName.json["error"]?["code"] == .string("invalid_name"))
        let badBody = try await server.request("POST", "/api/v1/join", body: "{")
        #expect(badBody.status == 400 && badBody.json["error"]?["code"] == .string("invalid_request"))
        let ready = try await server.request("GET", "/readyz")
        #expect(ready.status == 200)
        await server.roomServer.setDraining(true)
        #expect(try await server.request("GET", "/readyz").status == 503)
        try await server.stop()
    }
}

/// The claims an external auth service puts in its tokens.
struct ExternalClaims: JWTPayload {
    var sub: SubjectClaim
    var name: String
    var room: String
    var exp: ExpirationClaim
    func verify(using algorithm: some JWTAlgorithm) async throws { try exp.verifyNotExpired() }
}

extension Data {
    init?(base64URL: String) {
        var s = base64URL.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        self.init(base64Encoded: s)
    }

    func base64URLEncoded() -> String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
