/// A parser for the common case of a client frame: one JSON object whose values are strings, numbers,
/// booleans or null. Anything else (a nested `data`, malformed input, an unusual number) makes it return nil
/// and the caller falls back to `JSONDecoder`, which also produces the error codes. So this only ever adds
/// speed, never a second opinion on what is valid, with one deliberate exception: a number no Double holds —
/// beyond its range (`1e400`, read as ±∞) or so small it would round to zero (`1e-400`, read as NaN) —, which
/// `JSONDecoder` refuses as malformed, reads here as a value no field accepts, so the frame's validation names
/// the field instead of calling well-formed JSON invalid.
enum FlatJSON {
    /// 10⁰ through 10¹⁵, each exact in a Double.
    static let powersOfTen: [Double] = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15]

    enum Value: Equatable {
        case string(String)
        case number(Double)
        case bool(Bool)
        case null
    }

    static func parse(_ bytes: UnsafeRawBufferPointer) -> [(key: String, value: Value)]? {
        var p = Parser(bytes: bytes)
        return p.object()
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        var i = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }

        mutating func expect(_ byte: UInt8) -> Bool {
            skipSpace()
            guard i < bytes.count, bytes[i] == byte else { return false }
            i += 1
            return true
        }

        mutating func object() -> [(key: String, value: Value)]? {
            guard expect(UInt8(ascii: "{")) else { return nil }
            var members: [(key: String, value: Value)] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
                i += 1
            } else {
                while true {
                    skipSpace()
                    guard let key = string(), expect(UInt8(ascii: ":")), let value = value() else { return nil }
                    members.append((key, value))
                    if expect(UInt8(ascii: ",")) { continue }
                    guard expect(UInt8(ascii: "}")) else { return nil }
                    break
                }
            }
            skipSpace()
            return i == bytes.count ? members : nil
        }

        mutating func value() -> Value? {
            skipSpace()
            guard i < bytes.count else { return nil }
            switch bytes[i] {
            case UInt8(ascii: "\""): return string().map(Value.string)
            case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
            case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
            case UInt8(ascii: "n"): return literal("null") ? .null : nil
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return number().map(Value.number)
            default: return nil  // nested values: the slow path
            }
        }

        mutating func literal(_ word: StaticString) -> Bool {
            let count = word.utf8CodeUnitCount
            guard i + count <= bytes.count else { return false }
            for k in 0..<count where bytes[i + k] != word.utf8Start[k] { return false }
            i += count
            return true
        }

        /// A JSON number. Up to 15 significant digits without an exponent are exact in a Double, so one
        /// division by a power of ten gives the correctly rounded value; longer numbers and exponents are read
        /// by the standard library, which rounds correctly too. A number past a Double's range reads as ±∞ and
        /// a non-zero one that would round to zero as NaN, for the frame's validation to refuse.
        mutating func number() -> Double? {
            let start = i
            let negative = bytes[i] == UInt8(ascii: "-")
            if negative { i += 1 }
            var mantissa: Int64 = 0
            var significant = 0
            var nonZero = false
            var fractionDigits = 0
            let integerStart = i
            while i < bytes.count, isDigit(bytes[i]) {
                if significant < 16 { mantissa = mantissa * 10 + Int64(bytes[i] - 0x30) }
                nonZero = nonZero || bytes[i] != 0x30
                significant += 1
                i += 1
            }
            let integerDigits = i - integerStart
            guard integerDigits > 0, !(integerDigits > 1 && bytes[integerStart] == 0x30) else { return nil }
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
                i += 1
                let fractionStart = i
                while i < bytes.count, isDigit(bytes[i]) {
                    if significant < 16 { mantissa = mantissa * 10 + Int64(bytes[i] - 0x30) }
                    nonZero = nonZero || bytes[i] != 0x30
                    significant += 1
                    i += 1
                }
                fractionDigits = i - fractionStart
                guard fractionDigits > 0 else { return nil }
            }
            var exponent = false
            if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                exponent = true
                i += 1
                if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
                let exponentStart = i
                while i < bytes.count, isDigit(bytes[i]) { i += 1 }
                guard i > exponentStart else { return nil }
            }
            if !exponent, significant <= 15 {
                let value = Double(mantissa) / FlatJSON.powersOfTen[fractionDigits]
                return negative ? -value : value
            }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
            guard let value = Double(text) else { return nil }
            return value == 0 && nonZero ? .nan : value
        }

        private func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

        /// A string without escapes is taken as is; escapes other than the simple ones go to the slow path.
        mutating func string() -> String? {
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return nil }
            i += 1
            let start = i
            var plain = true
            while i < bytes.count {
                let c = bytes[i]
                if c == UInt8(ascii: "\"") {
                    let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<i])
                    i += 1
                    if plain { return String(validating: raw, as: UTF8.self) }
                    return unescape(raw)
                }
                if c < 0x20 { return nil }
                if c == UInt8(ascii: "\\") {
                    plain = false
                    i += 1  // skip the escaped character
                }
                i += 1
            }
            return nil
        }

        func unescape(_ raw: UnsafeRawBufferPointer) -> String? {
            var out: [UInt8] = []
            out.reserveCapacity(raw.count)
            var k = 0
            while k < raw.count {
                let c = raw[k]
                guard c == UInt8(ascii: "\\") else {
                    out.append(c)
                    k += 1
                    continue
                }
                guard k + 1 < raw.count else { return nil }
                switch raw[k + 1] {
                case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "/"): out.append(UInt8(ascii: "/"))
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                default: return nil  // \u escapes: the slow path
                }
                k += 2
            }
            return String(validating: out, as: UTF8.self)
        }
    }
}
