public import Foundation
public import PlazaCore
import Crypto

/// Time-limited TURN credentials in the shared-secret scheme that coturn (`use-auth-secret`) and other TURN
/// servers accept: the username carries its own expiry, and the server recomputes the password from the secret
/// both sides share, so Plaza never has to tell the TURN server who may relay.
public struct TURNCredentials: Sendable, Equatable {
    /// `<unix expiry>:<participant id>`.
    public let username: String
    /// base64(HMAC-SHA1(secret, username)).
    public let credential: String
    /// When the TURN server stops accepting them.
    public let expiresAt: Date

    /// Credentials for `participant`, valid for `lifetime` seconds from `now`.
    public init(secret: String, participant: ParticipantID, now: Date, lifetime: TimeInterval) {
        let expiry = Int64((now.timeIntervalSince1970 + lifetime).rounded(.down))
        username = "\(expiry):\(participant.rawValue)"
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Data(username.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        credential = Data(mac).base64EncodedString()
        expiresAt = Date(timeIntervalSince1970: TimeInterval(expiry))
    }
}
