/// Appends compact JSON to a byte array.
///
/// Server frames are written with this rather than `JSONEncoder` because fan-out encodes each frame once for
/// many recipients and the hot frames (`chat`, `moves`) are small and fixed in shape.
public struct JSONWriter: Sendable {
    public var bytes: [UInt8]

    public init(capacity: Int = 128) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always) public mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    @inline(__always) public mutating func raw(_ other: [UInt8]) {
        bytes.append(contentsOf: other)
    }

    @inline(__always) public mutating func byte(_ b: UInt8) {
        bytes.append(b)
    }

    public mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            var start = 0
            for i in 0..<utf8.count {
                let c = utf8[i]
                guard c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") else { continue }
                if start < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i])) }
                switch c {
                case UInt8(ascii: "\""): raw("\\\"")
                case UInt8(ascii: "\\"): raw("\\\\")
                case 0x0A: raw("\\n")
                case 0x0D: raw("\\r")
                case 0x09: raw("\\t")
                default:
                    raw("\\u00")
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    bytes.append(hex[Int(c >> 4)])
                    bytes.append(hex[Int(c & 0xF)])
                }
                start = i + 1
            }
            if start < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...])) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func int(_ v: Int64) {
        bytes.append(contentsOf: String(v).utf8)
    }

    /// Writes a finite number; non-finite values (never accepted from clients) are written as 0.
    public mutating func number(_ v: Double) {
        guard v.isFinite else { return byte(UInt8(ascii: "0")) }
        if v == v.rounded(), abs(v) < 1e15 {
            int(Int64(v))
        } else {
            bytes.append(contentsOf: v.description.utf8)
        }
    }

    public mutating func bool(_ v: Bool) {
        if v { raw("true") } else { raw("false") }
    }

    /// Writes `"key":` (the key is a trusted constant).
    @inline(__always) public mutating func key(_ k: StaticString) {
        byte(UInt8(ascii: "\""))
        raw(k)
        raw("\":")
    }

    public mutating func value(_ v: JSONValue) {
        switch v {
        case .null: raw("null")
        case .bool(let b): bool(b)
        case .number(let n): number(n)
        case .string(let s): string(s)
        case .array(let items):
            byte(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { byte(UInt8(ascii: ",")) }
                value(item)
            }
            byte(UInt8(ascii: "]"))
        case .object(let members):
            byte(UInt8(ascii: "{"))
            for (i, member) in members.enumerated() {
                if i > 0 { byte(UInt8(ascii: ",")) }
                string(member.key)
                byte(UInt8(ascii: ":"))
                value(member.value)
            }
            byte(UInt8(ascii: "}"))
        }
    }
}
