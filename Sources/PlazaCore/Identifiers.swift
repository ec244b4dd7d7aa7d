import Foundation

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

/// Display names, as people see them beside an avatar and a message: NFC-normalized, 1–64 characters after
/// trimming, with at least one visible character, and none of the characters that let a name pass for another —
/// controls, bidirectional overrides and isolates (which reorder what follows: "evil" shown as "live"), and
/// zero-width characters (which make two names that look the same differ, or a name look empty). A zero-width
/// joiner is kept between two emoji, where it joins them into one (a family, a flag).
public enum DisplayName {
    public static let maxLength = 64

    /// Why a name is refused.
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        /// Empty, or only white space.
        case missing
        case tooLong
        /// Nothing in it that can be seen.
        case invisible
        /// A control, bidirectional or zero-width character.
        case hiddenCharacters

        public var description: String {
            switch self {
            case .missing: "a name is required: 1–64 characters, at least one of them visible"
            case .tooLong: "names are at most \(DisplayName.maxLength) characters"
            case .invisible: "a name needs at least one visible character"
            case .hiddenCharacters: "names may not contain control, bidirectional or zero-width characters"
            }
        }
    }

    /// The name as it is shown (trimmed, NFC), or why it is refused.
    public static func check(_ name: String) -> Result<String, Problem> {
        let trimmed = name.precomposedStringWithCanonicalMapping.trimmingWhitespace()
        guard !trimmed.isEmpty else { return .failure(.missing) }
        guard trimmed.count <= maxLength else { return .failure(.tooLong) }
        let scalars = Array(trimmed.unicodeScalars)
        for (index, scalar) in scalars.enumerated() where isHidden(scalar) {
            let joinsEmoji = scalar.value == 0x200D && index > 0 && index + 1 < scalars.count
                && scalars[index - 1].properties.isEmoji && scalars[index + 1].properties.isEmoji
            if !joinsEmoji { return .failure(.hiddenCharacters) }
        }
        guard scalars.contains(where: isVisible) else { return .failure(.invisible) }
        return .success(trimmed)
    }

    /// The name as it is shown, or nil when it is refused.
    public static func validate(_ name: String) -> String? { try? check(name).get() }

    private static func isHidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true  // bidirectional controls
        case 0x200B...0x200D, 0x2060, 0xFEFF, 0x180E: return true  // zero-width
        default: return scalar.properties.generalCategory == .control
        }
    }

    private static func isVisible(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .decimalNumber, .letterNumber,
            .otherNumber, .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
            .finalPunctuation, .otherPunctuation, .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            return true
        default:
            return false
        }
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

/// 32 random bytes from the system's generator, as 64 hex digits: secrets, pins and tokens.
public func randomSecret() -> String {
    var generator = SystemRandomNumberGenerator()
    let digits = Array("0123456789abcdef")
    return String((0..<32).flatMap { _ in
        let byte = UInt8.random(in: 0...255, using: &generator)
        return [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]]
    })
}

/// `length` random characters from an alphabet without look-alikes (no l, o, 0, 1): guest ids, instance ids.
public func randomID(length: Int) -> String {
    let alphabet = Array("abcdefghijkmnpqrstuvwxyz23456789")
    var generator = SystemRandomNumberGenerator()
    return String((0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
}
