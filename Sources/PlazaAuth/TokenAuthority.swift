// Room tokens: the HS256 tokens a join issues (and `hello` verifies), and the external auth service's tokens a
// join may accept instead (HS256, ES256/RS256 keys, or a JWKS).

public import PlazaCore
public import Foundation
import JWTKit
import Crypto

/// What a verified token grants.
public struct Grant: Sendable, Equatable {
    /// The participant's identity (`sub`).
    public var participant: ParticipantID
    /// The display name (`name`), if the token carries one.
    public var name: String?
    /// The room granted, or nil for every room (`"room": "*"`).
    public var room: RoomName?
    public var role: Role
    public var expiresAt: Date

    public init(participant: ParticipantID, name: String?, room: RoomName?, role: Role, expiresAt: Date) {
        (self.participant, self.name, self.room, self.role) = (participant, name, room, role)
        self.expiresAt = expiresAt
    }

    /// Whether this grant admits its holder to `room`.
    public func allows(_ room: RoomName) -> Bool { self.room == nil || self.room == room }
}

/// Why a token was refused.
public struct AuthError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Why a token was refused: an expired one gets `token_expired` (join again), any other `unauthorized`.
    public enum Kind: Sendable, Equatable {
        /// Malformed, wrongly signed, tampered with, or missing claims.
        case invalid
        /// `exp` has passed.
        case expired
        /// Valid, but not for this room or operation.
        case forbidden
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        (self.kind, self.message) = (kind, message)
    }

    public var description: String { message }
}

/// The claims of a Plaza token, and of tokens from an external auth service: `sub`, `name`, `room`
/// (a room name or `*`), `role` (`moderator` or `member`) and `exp`.
struct RoomClaims: JWTPayload {
    var sub: SubjectClaim
    var name: String?
    var room: String
    var role: String?
    var exp: ExpirationClaim
    var iat: IssuedAtClaim?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

/// Issues the short-lived room tokens returned by `join`, and verifies them and an external auth service's.
///
/// Two separate key collections so that a token signed with Plaza's own secret is never accepted as an
/// external one or the other way round, and an algorithm configured for one cannot be used for the other.
public struct TokenAuthority: Sendable {
    private let own: JWTKeyCollection
    /// The `kid` of tokens signed now.
    private let ownKeyID: JWKIdentifier
    private let external: JWTKeyCollection?

    /// Keys of an external auth service: `hmacSecret` or `publicKeyPEM` (not both) for tokens without a `kid`,
    /// and optionally a JWKS for tokens with one.
    public struct ExternalKeys: Sendable {
        /// Shared secret for HS256. Used for tokens without a `kid`.
        public var hmacSecret: String?
        /// PEM of an EC P-256 (ES256) or RSA (RS256) public key. Used for tokens without a `kid`; give either
        /// this or `hmacSecret`.
        public var publicKeyPEM: String?
        /// A JWKS document (`{"keys": [...]}`); its keys are chosen by the token's `kid`.
        public var jwksJSON: String?

        public init(hmacSecret: String? = nil, publicKeyPEM: String? = nil, jwksJSON: String? = nil) {
            (self.hmacSecret, self.publicKeyPEM, self.jwksJSON) = (hmacSecret, publicKeyPEM, jwksJSON)
        }

        public var isEmpty: Bool { hmacSecret == nil && publicKeyPEM == nil && jwksJSON == nil }
    }

    /// - Parameters:
    ///   - secret: Plaza's own HS256 signing secret (at least 32 bytes).
    ///   - previousSecrets: secrets it signed with before a rotation, still accepted so that no token issued
    ///     before it is refused before it expires.
    ///   - external: the external auth service's keys, or nil when only guests may join.
    public init(secret: String, previousSecrets: [String] = [], external: ExternalKeys?) async throws {
        precondition(secret.utf8.count >= 32, "the signing secret must be at least 32 bytes")
        own = JWTKeyCollection()
        ownKeyID = JWKIdentifier(string: Self.keyID(of: secret))
        // The first key added is also the default, used for tokens without a `kid` (issued before key ids).
        await own.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256, kid: ownKeyID)
        for previous in previousSecrets where previous != secret {
            await own.add(hmac: HMACKey(from: previous), digestAlgorithm: .sha256, kid: JWKIdentifier(string: Self.keyID(of: previous)))
        }
        guard let external, !external.isEmpty else {
            self.external = nil
            return
        }
        let keys = JWTKeyCollection()
        if let secret = external.hmacSecret {
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        }
        if let pem = external.publicKeyPEM {
            guard external.hmacSecret == nil else {
                throw AuthError(.invalid, "give the external auth service's HS256 secret or its public key, not both")
            }
            if let key = try? ES256PublicKey(pem: pem) {
                await keys.add(ecdsa: key)
            } else if let key = try? Insecure.RSA.PublicKey(pem: pem) {
                await keys.add(rsa: key, digestAlgorithm: .sha256)
            } else {
                throw AuthError(.invalid, "the external public key is neither an EC P-256 nor an RSA (≥2048 bit) PEM public key")
            }
        }
        if let jwks = external.jwksJSON {
            do {
                try await keys.add(jwksJSON: jwks)
            } catch {
                throw AuthError(.invalid, "the external JWKS could not be read: \(error)")
            }
        }
        self.external = keys
    }

    public var acceptsExternalTokens: Bool { external != nil }

    /// Signs a token for one room.
    public func issue(participant: ParticipantID, name: String, room: RoomName, role: Role, expiresAt: Date) async throws -> String {
        let claims = RoomClaims(
            sub: .init(value: participant.rawValue), name: name, room: room.rawValue, role: role.rawValue,
            exp: .init(value: expiresAt), iat: .init(value: Date())
        )
        return try await own.sign(claims, kid: ownKeyID)
    }

    /// A secret's key id: the start of its SHA-256, so that rotating needs no id of its own and the id tells
    /// nothing about the secret.
    public static func keyID(of secret: String) -> String {
        Data(SHA256.hash(data: Data(secret.utf8)).prefix(8)).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Verifies a token that Plaza issued.
    public func verifyOwn(_ token: String) async throws(AuthError) -> Grant {
        try await Self.verify(token, with: own, allowWildcard: false, iteratingKeys: true)
    }

    /// Verifies a token from the external auth service.
    public func verifyExternal(_ token: String) async throws(AuthError) -> Grant {
        guard let external else { throw AuthError(.invalid, "this server accepts no external tokens") }
        return try await Self.verify(token, with: external, allowWildcard: true, iteratingKeys: false)
    }

    /// `iteratingKeys`: a token whose `kid` is missing or names no key is tried with every key (Plaza's own
    /// tokens from before key ids were signed with what may now be a previous secret).
    private static func verify(
        _ token: String, with keys: JWTKeyCollection, allowWildcard: Bool, iteratingKeys: Bool
    ) async throws(AuthError) -> Grant {
        let claims: RoomClaims
        do {
            claims = try await keys.verify(token, as: RoomClaims.self, iteratingKeys: iteratingKeys)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure && error.failedClaim is ExpirationClaim {
            throw AuthError(.expired, "the token has expired")
        } catch {
            throw AuthError(.invalid, "the token is invalid")
        }
        let room: RoomName?
        if claims.room == "*" && allowWildcard {
            room = nil
        } else if let name = RoomName(claims.room) {
            room = name
        } else {
            throw AuthError(.invalid, "the token's room claim is not a room name")
        }
        let role: Role
        switch claims.role {
        case nil: role = .member
        case let value?:
            guard let parsed = Role(rawValue: value) else { throw AuthError(.invalid, "the token's role claim is unknown") }
            role = parsed
        }
        guard !claims.sub.value.isEmpty, claims.sub.value.utf8.count <= 128 else {
            throw AuthError(.invalid, "the token's sub claim must be 1–128 bytes")
        }
        return Grant(
            participant: ParticipantID(claims.sub.value), name: claims.name, room: room, role: role,
            expiresAt: claims.exp.value
        )
    }
}

/// Compares two secrets in time independent of where they differ.
public func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    var diff = UInt8(x.count == y.count ? 0 : 1)
    for i in 0..<max(x.count, y.count) {
        diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
    }
    return diff == 0
}
