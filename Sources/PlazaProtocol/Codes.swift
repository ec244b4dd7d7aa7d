/// A stable, machine-readable error code, sent in `error` frames and in HTTP error bodies.
///
/// The set may grow; clients must treat an unknown code like `internal`. Every code is listed in
/// `docs/protocol.md` with when it is sent and what a client should do.
public struct ErrorCode: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    // Frames
    /// The frame is not valid JSON (or not a JSON object).
    public static let invalidJSON = ErrorCode("invalid_json")
    /// The frame is JSON but a field is missing, has the wrong type or an invalid value.
    public static let invalidFrame = ErrorCode("invalid_frame")
    /// The frame's `type` is not one the server knows.
    public static let unknownType = ErrorCode("unknown_type")
    /// A frame other than `hello` arrived before the connection said hello.
    public static let helloRequired = ErrorCode("hello_required")
    /// A second `hello` on a connection that already joined.
    public static let alreadyJoined = ErrorCode("already_joined")
    /// The connection sends frames faster than `limits.framesPerSecond`.
    public static let rateLimited = ErrorCode("rate_limited")
    /// Chat text longer than `limits.chatTextLength`.
    public static let textTooLong = ErrorCode("text_too_long")
    /// `to` names a participant who is not in the room.
    public static let unknownParticipant = ErrorCode("unknown_participant")

    // Admission
    /// The room has `limits.participantsPerRoom` participants.
    public static let roomFull = ErrorCode("room_full")
    /// The node hosts `limits.roomsPerNode` rooms and this one is not among them.
    public static let nodeFull = ErrorCode("node_full")
    /// The participant already has `limits.connectionsPerParticipant` connections.
    public static let tooManyConnections = ErrorCode("too_many_connections")
    /// The node is draining: it accepts no new rooms.
    public static let draining = ErrorCode("draining")

    // Auth
    /// No credentials, or a token that is malformed, wrongly signed or tampered with.
    public static let unauthorized = ErrorCode("unauthorized")
    /// A token whose `exp` has passed.
    public static let tokenExpired = ErrorCode("token_expired")
    /// A valid token that does not grant this room or this operation.
    public static let forbidden = ErrorCode("forbidden")

    // Requests
    /// A room name that is empty, too long or has characters outside `a-z A-Z 0-9 - _ .`.
    public static let invalidRoom = ErrorCode("invalid_room")
    /// A display name that is empty, longer than 64 characters or has control characters.
    public static let invalidName = ErrorCode("invalid_name")
    /// A malformed HTTP request body or query.
    public static let invalidRequest = ErrorCode("invalid_request")
    /// An HTTP request head that did not arrive within `http.headerTimeout` (408).
    public static let requestTimeout = ErrorCode("request_timeout")
    /// An HTTP request head over `limits.headerBytes` or `limits.headerCount` (431), or a target over
    /// `limits.urlBytes` (414).
    public static let requestTooLarge = ErrorCode("request_too_large")
    /// The client's address holds `limits.connectionsPerAddress` connections (429), or the server
    /// `limits.connections` (503; only health endpoints are answered then).
    public static let connectionLimit = ErrorCode("connection_limit")
    /// No such route or resource.
    public static let notFound = ErrorCode("not_found")
    /// The store could not durably write; nothing was acknowledged.
    public static let storeUnavailable = ErrorCode("store_unavailable")
    /// The room lives on another node (or moved there): join again to learn where.
    public static let moved = ErrorCode("moved")
    /// Every recorder is busy (or none is registered): try again after the `Retry-After` seconds.
    public static let recordersBusy = ErrorCode("recorders_busy")
    /// The room's conference needs a media bridge and none can take it now: try again after `Retry-After`.
    public static let bridgesUnavailable = ErrorCode("bridges_unavailable")
    /// Anything else; the server logged it.
    public static let `internal` = ErrorCode("internal")
}

/// WebSocket close codes. 1000–1015 are RFC 6455's; Plaza's own codes follow the rule clients need:
/// 4000–4499 mean "reconnect (with `since`)", 4500–4999 mean "do not reconnect with the same token".
public struct CloseCode: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }

    /// The client closed, or the server is done with a connection normally.
    public static let normal = CloseCode(1000)
    /// The server is shutting down (reconnect through `POST /api/v1/join`), or the client did not answer
    /// a ping within `websocket.pingInterval` (reason "Ping timeout"; reconnect with `since`).
    public static let goingAway = CloseCode(1001)
    /// The client broke the WebSocket protocol (RFC 6455): an unmasked frame, reserved bits, an unknown opcode,
    /// fragments out of order, a control frame over 125 bytes, a close code it may not send.
    public static let protocolError = CloseCode(1002)
    /// A text message (or close reason) that is not UTF-8.
    public static let invalidPayload = CloseCode(1007)
    /// A frame larger than `limits.frameBytes`.
    public static let messageTooBig = CloseCode(1009)

    /// No `hello` within `websocket.helloTimeout`. Reconnect.
    public static let helloTimeout = CloseCode(4001)
    /// The outbound queue exceeded `limits.outboundQueueBytes`. Reconnect with `since`.
    public static let slowConsumer = CloseCode(4002)
    /// The room moved to another node. Join again to learn its new URL, then reconnect with `since`.
    public static let moved = CloseCode(4003)
    /// The connection kept flooding after `rate_limited` errors. Reconnect after a pause.
    public static let flooding = CloseCode(4004)

    /// The token was refused (`unauthorized`, `token_expired`, `forbidden`). Join again for a new token.
    public static let unauthorized = CloseCode(4501)
    /// The room is full.
    public static let roomFull = CloseCode(4502)
    /// The participant has too many connections.
    public static let tooManyConnections = CloseCode(4503)
    /// The node cannot host another room, or is draining.
    public static let nodeFull = CloseCode(4504)
}
