import Foundation
import Crypto

/// How Plaza marks what it makes on a Janus, so that what a crashed room server left there can be found and ended:
/// each VideoRoom room is described `plaza:<owner>:<run>` (the room server's identity, and a value fresh for each
/// start), each token starts `plaza.<owner>.<run>.`, and a room's secret is derived from the admin secret and the
/// room's number, so that any holder of the admin secret (Plaza's processes, not browsers) can end the room.
public enum JanusMarks {
    public static func description(owner: String, run: String) -> String { "plaza:\(owner):\(run)" }

    public static func tokenPrefix(owner: String, run: String) -> String { "plaza.\(owner).\(run)." }

    /// The owner and run a room's description names, when Plaza made the room. Read from the right: the run is hex,
    /// while an owner (a node id such as `host.example.org-8080`) may hold anything.
    public static func mark(ofDescription description: String?) -> (owner: String, run: String)? {
        guard let description, description.hasPrefix("plaza:") else { return nil }
        let rest = description.dropFirst("plaza:".count)
        guard let colon = rest.lastIndex(of: ":") else { return nil }
        let (owner, run) = (rest[..<colon], rest[rest.index(after: colon)...])
        guard !owner.isEmpty, !run.isEmpty, run.allSatisfy(\.isHexDigit) else { return nil }
        return (String(owner), String(run))
    }

    /// The owner and run a token names, when Plaza handed it out: `plaza.<owner>.<run>.<secret>`, read from the right
    /// (run and secret are hex; the owner may hold dots).
    public static func mark(ofToken token: String) -> (owner: String, run: String)? {
        guard token.hasPrefix("plaza.") else { return nil }
        let parts = token.dropFirst("plaza.".count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 3 else { return nil }
        let (run, secret) = (parts[parts.count - 2], parts[parts.count - 1])
        let owner = parts.dropLast(2).joined(separator: ".")
        guard !owner.isEmpty, !run.isEmpty, !secret.isEmpty, run.allSatisfy(\.isHexDigit) else { return nil }
        return (owner, String(run))
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
