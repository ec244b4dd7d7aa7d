/// Whether bytes are one well-formed JSON text (RFC 8259), checked without building anything.
///
/// `JSONDecoder` reads lazily: a malformed value nested where a type was expected can surface as a type error
/// or as malformed JSON depending on which member it reaches first (the order of a dictionary's keys). The
/// client-frame decoder asks this instead when `JSONDecoder` fails, so a malformed frame is always
/// `invalid_json`, whatever the order. Iterative, so nesting depth costs no stack.
enum JSONSyntax {
    static func isWellFormed(_ bytes: some Collection<UInt8>) -> Bool {
        let bytes = Array(bytes)
        var scanner = Scanner(bytes: bytes)
        return scanner.document()
    }

    /// The text with every zero written with an exponent (`0e4`, `-0.00e+5`) written as `0` (`-0`), or nil when
    /// it has none or is not well-formed. Foundation's `JSONDecoder` refuses some of those (valid in RFC 8259) as
    /// corrupted data; the client-frame decoder reads the rewritten text instead, which holds the same values.
    static func zerosWithoutExponent(_ bytes: some Collection<UInt8>) -> [UInt8]? {
        let bytes = Array(bytes)
        guard isWellFormed(bytes) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var rewrote = false
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            if byte == UInt8(ascii: "\"") {
                // Well-formed, so the string ends at the first quote not escaped.
                let start = i
                i += 1
                while bytes[i] != UInt8(ascii: "\"") { i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1 }
                i += 1
                out.append(contentsOf: bytes[start..<i])
            } else if byte == UInt8(ascii: "-") || byte.isDigit {
                // Outside strings only numbers hold a sign or a digit.
                let start = i
                var zero = true
                var exponent = false
                while i < bytes.count, !exponent, bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: ".") || bytes[i].isDigit {
                    if bytes[i].isDigit, bytes[i] != UInt8(ascii: "0") { zero = false }
                    i += 1
                    exponent = i < bytes.count && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E"))
                }
                if exponent {
                    i += 1
                    while i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") || bytes[i].isDigit { i += 1 }
                }
                if exponent && zero {
                    if byte == UInt8(ascii: "-") { out.append(UInt8(ascii: "-")) }
                    out.append(UInt8(ascii: "0"))
                    rewrote = true
                } else {
                    out.append(contentsOf: bytes[start..<i])
                }
            } else {
                out.append(byte)
                i += 1
            }
        }
        return rewrote ? out : nil
    }

    private struct Scanner {
        let bytes: [UInt8]
        var i = 0

        /// The containers open, innermost last: `true` for an object (whose members are keyed).
        var open: [Bool] = []

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func document() -> Bool {
            var valueNext = true
            while true {
                skipSpace()
                if valueNext {
                    guard i < bytes.count else { return false }
                    switch bytes[i] {
                    case UInt8(ascii: "{"):
                        i += 1
                        skipSpace()
                        if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
                            i += 1
                            valueNext = false
                        } else {
                            open.append(true)
                            guard key() else { return false }
                        }
                    case UInt8(ascii: "["):
                        i += 1
                        skipSpace()
                        if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
                            i += 1
                            valueNext = false
                        } else {
                            open.append(false)
                        }
                    default:
                        guard scalar() else { return false }
                        valueNext = false
                    }
                    continue
                }
                guard let inObject = open.last else { return i == bytes.count }
                guard i < bytes.count else { return false }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1
                    if inObject { guard key() else { return false } }
                    valueNext = true
                } else if bytes[i] == (inObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    i += 1
                    open.removeLast()
                } else {
                    return false
                }
            }
        }

        /// A member's key and its colon.
        private mutating func key() -> Bool {
            skipSpace()
            guard string() else { return false }
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return false }
            i += 1
            return true
        }

        private mutating func scalar() -> Bool {
            switch bytes[i] {
            case UInt8(ascii: "\""): string()
            case UInt8(ascii: "t"): literal("true")
            case UInt8(ascii: "f"): literal("false")
            case UInt8(ascii: "n"): literal("null")
            default: number()
            }
        }

        private mutating func literal(_ word: StaticString) -> Bool {
            let count = word.utf8CodeUnitCount
            guard i + count <= bytes.count else { return false }
            for k in 0..<count where bytes[i + k] != word.utf8Start[k] { return false }
            i += count
            return true
        }

        private mutating func string() -> Bool {
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return false }
            i += 1
            while i < bytes.count {
                let byte = bytes[i]
                i += 1
                switch byte {
                case UInt8(ascii: "\""): return true
                case ..<0x20: return false
                case UInt8(ascii: "\\"):
                    guard i < bytes.count else { return false }
                    let escape = bytes[i]
                    i += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                        UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        continue
                    case UInt8(ascii: "u"):
                        guard i + 4 <= bytes.count, bytes[i..<i + 4].allSatisfy(\.isHexDigit) else { return false }
                        i += 4
                    default: return false
                    }
                default: continue
                }
            }
            return false
        }

        private mutating func number() -> Bool {
            if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, bytes[i].isDigit else { return false }
            if bytes[i] == UInt8(ascii: "0") { i += 1 } else { skipDigits() }
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
                i += 1
                guard i < bytes.count, bytes[i].isDigit else { return false }
                skipDigits()
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                i += 1
                if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
                guard i < bytes.count, bytes[i].isDigit else { return false }
                skipDigits()
            }
            return true
        }

        private mutating func skipDigits() {
            while i < bytes.count, bytes[i].isDigit { i += 1 }
        }

        private mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }
    }
}

extension UInt8 {
    fileprivate var isDigit: Bool { self >= 0x30 && self <= 0x39 }
    fileprivate var isHexDigit: Bool { isDigit || (self | 0x20 >= 0x61 && self | 0x20 <= 0x66) }
}
