import Foundation
import Crypto

/// How Plaza marks what it makes on a Janus, so that what a crashed room server left there can be found and ended:
/// each VideoRoom room is described `plaza:<owner>:<run>` (the room server's identity, and a value fresh for each
/// start), each token starts `plaza.<owner>.<run>.`, and a room's secret is derived from the admin secret and the
/// room's number, so that any holder of the admin secret (Plaza's processes, not browsers) can end the room.
public enum JanusMarks {
    public static func description(owner: String, run: String) -> String { "plaza:\(owner):\(run)" }

    public static func tokenPrefix(owner: String, run: String) -> String { "plaza.\(owner).\(run)." }

    /// The owner and run a room's description names, when Plaza made the room.
    public static func mark(ofDescription description: String?) -> (owner: String, run: String)? {
        guard let description, description.hasPrefix("plaza:") else { return nil }
        let parts = description.dropFirst("plaza:".count).split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    /// The owner and run a token names, when Plaza handed it out. Owners are fleet names (letters, digits, `-`,
    /// `_`) and runs have no dot, so the first two dots after `plaza.` end them.
    public static func mark(ofToken token: String) -> (owner: String, run: String)? {
        guard token.hasPrefix("plaza.") else { return nil }
        let parts = token.dropFirst("plaza.".count).split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    /// Room `number`'s secret: HMAC-SHA256 of the number under the admin secret. Without an admin secret, a random
    /// one (such a room cannot be ended by a later run).
    public static func roomSecret(_ number: Int64, adminSecret: String?) -> String {
        guard let adminSecret else { return UUID().uuidString + UUID().uuidString }
        let code = HMAC<SHA256>.authenticationCode(
            for: Data("plaza-room:\(number)".utf8), using: SymmetricKey(data: Data(adminSecret.utf8)))
        return code.map { String(format: "%02x", $0) }.joined()
    }
}
