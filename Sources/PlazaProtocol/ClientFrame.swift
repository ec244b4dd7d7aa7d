// The wire protocol (docs/protocol.md): client frames decoded with a fast path that allocates little, server
// frames encoded once into bytes that fan-out shares, the stable error and close codes, and `Refusal`, the one
// mapping of a reason to them.

public import PlazaCore
import Foundation

/// A frame from a client, decoded and validated for shape (not for permissions or limits, which belong to
/// the room and the connection).
public enum ClientFrame: Sendable, Equatable {
    case hello(token: String, since: Int64?, audio: Bool?, video: Bool?)
    case chat(id: String, text: String)
    case move(Position)
    case media(audio: Bool, video: Bool)
    case app(data: JSONValue, to: ParticipantID?)
    case signal(to: ParticipantID, data: JSONValue)
    case ping

    /// The frame's `type`, for metrics labels (a closed set).
    public var type: FrameType {
        switch self {
        case .hello: .hello
        case .chat: .chat
        case .move: .move
        case .media: .media
        case .app: .app
        case .signal: .signal
        case .ping: .ping
        }
    }

    /// Client frame types: a closed set, safe as a metrics label.
    public enum FrameType: String, Sendable, CaseIterable {
        case hello, chat, move, media, app, signal, ping
    }

    /// Why a frame was refused before it reached a room.
    public struct DecodingError: Error, Sendable, Equatable {
        public var code: ErrorCode
        public var message: String
        /// The frame's `id`, when it had one, so a client can match the error to what it sent.
        public var ref: String?
    }

    /// The largest absolute coordinate accepted in a `move`.
    public static let maxCoordinate: Double = 1_000_000
    /// The longest `dir` accepted in a `move`, in bytes.
    public static let maxDirectionLength = 16

    /// All fields any client frame may carry; one decoding pass, then validation per type.
    struct Envelope: Decodable {
        init() {}
        var type: String?
        var token: String?
        /// Any JSON number here: validation says whether it is an offset (an integer from 0 to 2⁶³ − 1).
        var since: Double?
        var id: String?
        var text: String?
        var x: Double?
        var y: Double?
        var dir: String?
        var audio: Bool?
        var video: Bool?
        var data: JSONValue?
        var to: String?
    }

    public static func decode(_ bytes: some Collection<UInt8>) throws(DecodingError) -> ClientFrame {
        if let envelope = fastEnvelope(bytes) { return try validate(envelope) }
        return try decodeWithJSONDecoder(bytes)
    }

    /// The reference decoder: every frame the fast path declines, and the judge of validity and error codes.
    static func decodeWithJSONDecoder(_ bytes: some Collection<UInt8>) throws(DecodingError) -> ClientFrame {
        let envelope: Envelope
        do {
            envelope = try decodeEnvelope(Data(bytes))
        } catch Swift.DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            throw DecodingError(code: .invalidJSON, message: "the frame is not a JSON object")
        } catch Swift.DecodingError.typeMismatch(_, let context) where context.codingPath.isEmpty {
            throw DecodingError(code: .invalidJSON, message: "the frame is not a JSON object")
        } catch Swift.DecodingError.valueNotFound(_, let context) where context.codingPath.isEmpty {
            throw DecodingError(code: .invalidJSON, message: "the frame is not a JSON object")
        } catch let error as Swift.DecodingError {
            // Malformed JSON deep inside can surface as a type error, depending on the order JSONDecoder visits
            // members in: ask the syntax alone.
            guard JSONSyntax.isWellFormed(bytes) else {
                throw DecodingError(code: .invalidJSON, message: "the frame is not a JSON object")
            }
            throw DecodingError(code: .invalidFrame, message: describe(error))
        } catch {
            throw DecodingError(code: .invalidJSON, message: "the frame is not a JSON object")
        }
        return try validate(envelope)
    }

    /// `JSONDecoder`'s reading, and where it fails on a text holding a zero written with an exponent (which it may
    /// call corrupted, at the top or as a member's wrong type), a second one of the same values written without
    /// (see `JSONSyntax.zerosWithoutExponent`).
    private static func decodeEnvelope(_ data: Data) throws -> Envelope {
        do {
            return try JSONDecoder().decode(Envelope.self, from: data)
        } catch {
            guard let rewritten = JSONSyntax.zerosWithoutExponent(data) else { throw error }
            return try JSONDecoder().decode(Envelope.self, from: Data(rewritten))
        }
    }

    /// The envelope of a flat frame (no nested values), without `JSONDecoder`; nil sends the frame down the
    /// slow path, which decides validity and error codes.
    static func fastEnvelope(_ bytes: some Collection<UInt8>) -> Envelope? {
        let members: [(key: String, value: FlatJSON.Value)]?? = bytes.withContiguousStorageIfAvailable { buffer in
            FlatJSON.parse(UnsafeRawBufferPointer(buffer))
        }
        guard case .some(.some(let members)) = members else { return nil }
        var e = Envelope()
        var seen = Set<String>()
        for (key, value) in members {
            guard seen.insert(key).inserted else { return nil }  // duplicate keys: let JSONDecoder decide
            switch (key, value) {
            case (_, .null): continue  // an explicit null reads as absent, as with JSONDecoder's optionals
            case ("type", .string(let v)): e.type = v
            case ("token", .string(let v)): e.token = v
            case ("since", .number(let v)): e.since = v
            case ("id", .string(let v)): e.id = v
            case ("text", .string(let v)): e.text = v
            case ("x", .number(let v)): e.x = v
            case ("y", .number(let v)): e.y = v
            case ("dir", .string(let v)): e.dir = v
            case ("audio", .bool(let v)): e.audio = v
            case ("video", .bool(let v)): e.video = v
            case ("to", .string(let v)): e.to = v
            case ("data", .string(let v)): e.data = .string(v)
            case ("data", .number(let v)): e.data = .number(v)
            case ("data", .bool(let v)): e.data = .bool(v)
            case ("type", _), ("token", _), ("since", _), ("id", _), ("text", _), ("x", _), ("y", _), ("dir", _),
                ("audio", _), ("video", _), ("to", _), ("data", _):
                return nil  // a known field of the wrong type: the slow path reports it
            default: continue  // unknown fields are ignored, as by JSONDecoder
            }
        }
        return e
    }

    private static func validate(_ e: Envelope) throws(DecodingError) -> ClientFrame {
        guard let type = e.type else {
            throw DecodingError(code: .invalidFrame, message: "missing field 'type'", ref: e.id)
        }
        func missing(_ field: String) -> DecodingError {
            DecodingError(code: .invalidFrame, message: "'\(type)' needs field '\(field)'", ref: e.id)
        }
        switch type {
        case "hello":
            guard let token = e.token else { throw missing("token") }
            var since: Int64?
            if let value = e.since {
                guard value >= 0, let offset = Int64(exactly: value) else {
                    throw DecodingError(code: .invalidFrame, message: "'since' must be an integer ≥ 0")
                }
                since = offset
            }
            return .hello(token: token, since: since, audio: e.audio, video: e.video)
        case "chat":
            guard let id = e.id, !id.isEmpty else { throw missing("id") }
            guard let text = e.text else { throw missing("text") }
            return .chat(id: id, text: text)
        case "move":
            guard let x = e.x else { throw missing("x") }
            guard let y = e.y else { throw missing("y") }
            guard x.isFinite, y.isFinite, abs(x) <= maxCoordinate, abs(y) <= maxCoordinate else {
                throw DecodingError(code: .invalidFrame, message: "coordinates must be within ±\(Int(maxCoordinate))")
            }
            if let dir = e.dir, dir.utf8.count > maxDirectionLength {
                throw DecodingError(code: .invalidFrame, message: "'dir' is longer than \(maxDirectionLength) bytes")
            }
            return .move(Position(x: x, y: y, dir: e.dir))
        case "media":
            guard let audio = e.audio else { throw missing("audio") }
            guard let video = e.video else { throw missing("video") }
            return .media(audio: audio, video: video)
        case "app":
            guard let data = e.data else { throw missing("data") }
            return .app(data: data, to: e.to.map(ParticipantID.init))
        case "signal":
            guard let to = e.to else { throw missing("to") }
            guard let data = e.data else { throw missing("data") }
            return .signal(to: ParticipantID(to), data: data)
        case "ping":
            return .ping
        default:
            throw DecodingError(code: .unknownType, message: "unknown frame type '\(type.prefix(32))'", ref: e.id)
        }
    }

    private static func describe(_ error: Swift.DecodingError) -> String {
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            let field = context.codingPath.first?.stringValue ?? "?"
            return "field '\(field)' has the wrong type"
        case .keyNotFound(let key, _):
            return "missing field '\(key.stringValue)'"
        @unknown default:
            return "invalid frame"
        }
    }
}
