/// The name of a room, as users and URLs spell it.
///
/// Validated on construction so that every `RoomName` in the system is safe to log, to put in a URL path and
/// to use as a store key: 1–64 characters from `a-z A-Z 0-9 - _ .`, not starting with `.`.
public struct RoomName: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: String

    /// The longest accepted room name, in characters.
    public static let maxLength = 64

    /// Returns nil when `rawValue` is not a valid room name.
    public init?(_ rawValue: String) {
        guard Self.isValid(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    public static func isValid(_ value: String) -> Bool {
        let utf8 = value.utf8
        guard !utf8.isEmpty, utf8.count <= maxLength, utf8.first != UInt8(ascii: ".") else { return false }
        return utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                true
            default:
                false
            }
        }
    }

    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A participant's stable identity within a room: the token's `sub`.
///
/// Every connection presenting a token with the same `sub` is the same participant (tabs, reconnects).
public struct ParticipantID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// One WebSocket connection on this node. Unique for the life of the process.
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public var description: String { "c\(rawValue)" }
}

/// A participant's role in a room, from its token.
public enum Role: String, Sendable, Codable {
    case moderator
    case member
}

/// Display names: 1–64 characters after trimming, no control characters.
public enum DisplayName {
    public static let maxLength = 64

    /// Returns the trimmed name, or nil when it is empty, too long or holds control characters.
    public static func validate(_ name: String) -> String? {
        let trimmed = name.trimmingWhitespace()
        guard !trimmed.isEmpty, trimmed.count <= maxLength else { return nil }
        guard !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return nil }
        return trimmed
    }
}

extension StringProtocol {
    /// The string without leading and trailing white space.
    public func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}

/// `length` random characters from an alphabet without look-alikes (no l, o, 0, 1): guest ids, instance ids.
public func randomID(length: Int) -> String {
    let alphabet = Array("abcdefghijkmnpqrstuvwxyz23456789")
    var generator = SystemRandomNumberGenerator()
    return String((0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
}
