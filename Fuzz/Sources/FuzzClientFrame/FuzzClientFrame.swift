// Differential: the client-frame decoder's fast path against the reference (`JSONDecoder`) on the same bytes.
// They must agree — the same frame (objects compared in key order), or the same error code — except on a number
// no Double holds (1e400, 1e-400): the reference calls that malformed JSON; the fast path lets validation name the
// field.
import FuzzSupport
@testable import PlazaProtocol

@_cdecl("FuzzClientFrame_main")
public func main(argc: CInt, argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv) { data, count in fuzz(data, count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let data else { return 0 }
    let start = UnsafeRawPointer(data)
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    // Text that is not UTF-8 never reaches the decoder: the WebSocket layer closes with 1007 first.
    guard String(validating: bytes, as: UTF8.self) != nil else { return 0 }
    let fast = Result { () throws(ClientFrame.DecodingError) in try ClientFrame.decode(bytes) }
    let reference = Result { () throws(ClientFrame.DecodingError) in try ClientFrame.decodeWithJSONDecoder(bytes) }
    switch (fast, reference) {
    case (.success(let a), .success(let b)):
        precondition(canonical(a) == canonical(b), "the fast path decoded \(a), the reference \(b)")
    case (.failure(let a), .failure(let b)):
        precondition(a.code == b.code || holdsANumberNoDoubleHolds(bytes), "the fast path failed with \(a), the reference with \(b)")
    case (.success(let a), .failure(let b)):
        precondition(holdsANumberNoDoubleHolds(bytes), "the fast path decoded \(a), the reference failed with \(b)")
    case (.failure(let a), .success(let b)):
        preconditionFailure("the fast path failed with \(a), the reference decoded \(b)")
    }
    return 0
}

/// Whether the fast path reads a number of `bytes` as one no Double holds (±∞ past its range, NaN below it).
private func holdsANumberNoDoubleHolds(_ bytes: [UInt8]) -> Bool {
    guard let fields = bytes.withUnsafeBytes({ FlatJSON.parse($0) }) else { return false }
    return fields.contains { if case .number(let value) = $0.value { !value.isFinite } else { false } }
}

/// The frame with the members of its JSON objects in key order: `JSONDecoder` keeps no order (docs/protocol.md
/// says members' order is not preserved), so two decodings of one object may list them differently.
private func canonical(_ frame: ClientFrame) -> ClientFrame {
    switch frame {
    case .app(let data, let to): .app(data: canonical(data), to: to)
    case .signal(let to, let data): .signal(to: to, data: canonical(data))
    default: frame
    }
}

private func canonical(_ value: JSONValue) -> JSONValue {
    switch value {
    case .array(let elements): .array(elements.map(canonical))
    case .object(let members): .object(members.map { ($0.key, canonical($0.value)) }.sorted { $0.key < $1.key })
    default: value
    }
}
