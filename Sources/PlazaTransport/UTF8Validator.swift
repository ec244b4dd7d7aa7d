/// Checks UTF-8 a byte at a time, across the fragments of a WebSocket text message, so a message that is not
/// UTF-8 is refused (1007) as soon as its first bad byte arrives, not once it is whole. It follows RFC 3629:
/// no overlong forms, no surrogates, nothing above U+10FFFF.
struct UTF8Validator: Sendable {
    /// Continuation bytes the current character still needs.
    private var remaining = 0
    /// The range the next continuation byte must fall in (narrower than 0x80…0xBF right after a lead byte that
    /// would otherwise allow an overlong form, a surrogate or a code point past U+10FFFF).
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF

    /// Takes one byte; false when the text can no longer be UTF-8.
    mutating func feed(_ byte: UInt8) -> Bool {
        guard remaining == 0 else {
            guard byte >= lower, byte <= upper else { return false }
            (remaining, lower, upper) = (remaining - 1, 0x80, 0xBF)
            return true
        }
        switch byte {
        case 0x00...0x7F: return true
        case 0xC2...0xDF: (remaining, lower, upper) = (1, 0x80, 0xBF)
        case 0xE0: (remaining, lower, upper) = (2, 0xA0, 0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (remaining, lower, upper) = (2, 0x80, 0xBF)
        case 0xED: (remaining, lower, upper) = (2, 0x80, 0x9F)
        case 0xF0: (remaining, lower, upper) = (3, 0x90, 0xBF)
        case 0xF1...0xF3: (remaining, lower, upper) = (3, 0x80, 0xBF)
        case 0xF4: (remaining, lower, upper) = (3, 0x80, 0x8F)
        default: return false
        }
        return true
    }

    /// Whether the text so far ends on a whole character.
    var isComplete: Bool { remaining == 0 }

    /// Whether `bytes` are UTF-8 as a whole.
    static func isValid(_ bytes: some Sequence<UInt8>) -> Bool {
        var validator = UTF8Validator()
        return bytes.allSatisfy { validator.feed($0) } && validator.isComplete
    }
}
