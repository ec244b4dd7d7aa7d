/// Why the server refuses a request or ends a connection, and the one mapping from that reason to the wire: the
/// code of the `error` frame or HTTP error body, the WebSocket close code a connection meeting it is closed
/// with, and the HTTP status an API call meeting it is answered with. The WebSocket session and the HTTP API both
/// speak through it, so a reason never gets two different codes.
public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    /// How a WebSocket that meets this reason is closed.
    public var close: CloseCode
    /// The HTTP status an API call that meets this reason answers (`503`, `409`…).
    public var status: Int
    /// Seconds the caller should wait before trying again (`Retry-After`), for an answer that says "busy".
    public var retryAfter: Int?

    public init(_ code: ErrorCode, _ message: String, close: CloseCode, status: Int, retryAfter: Int? = nil) {
        (self.code, self.message, self.close, self.status) = (code, message, close, status)
        self.retryAfter = retryAfter
    }

    public var description: String { "\(code): \(message)" }

    /// The room has `limits.participantsPerRoom` participants.
    public static let roomFull = Refusal(.roomFull, "the room is full", close: .roomFull, status: 409)
    /// The participant has `limits.connectionsPerParticipant` connections.
    public static let tooManyConnections = Refusal(
        .tooManyConnections, "too many connections for this participant", close: .tooManyConnections, status: 409)
    /// The node hosts `limits.roomsPerNode` rooms and this one is not among them.
    public static let nodeFull = Refusal(.nodeFull, "this node hosts as many rooms as it may", close: .nodeFull, status: 503)
    /// The node takes no new rooms.
    public static let draining = Refusal(.draining, "this node is draining; join again", close: .nodeFull, status: 503)
    /// The room lives on another node now.
    public static let moved = Refusal(.moved, "this room lives on another node; join again", close: .moved, status: 409)
    /// No node of the fleet can take a new room.
    public static let noNode = Refusal(.nodeFull, "no node can take a new room now", close: .nodeFull, status: 503)

    /// The room's conference needs a media bridge and none can take it now (HTTP only).
    public static func bridgesUnavailable(retryAfter: Int) -> Refusal {
        Refusal(
            .bridgesUnavailable, "no media bridge can take this conference now", close: .goingAway, status: 503,
            retryAfter: retryAfter)
    }

    /// Every recorder is busy (HTTP only).
    public static func recordersBusy(retryAfter: Int) -> Refusal {
        Refusal(.recordersBusy, "every recorder is busy; try again later", close: .goingAway, status: 503, retryAfter: retryAfter)
    }

    /// The store could not be reached: nothing was written. Over HTTP, `Retry-After` says when to try again.
    public static func storeUnavailable(_ message: String) -> Refusal {
        Refusal(.storeUnavailable, message, close: .goingAway, status: 503, retryAfter: storeRetryAfter)
    }

    /// Seconds a caller refused for want of the store waits before trying again: outages that stop PostgreSQL
    /// for a few seconds are the common case, and a join retried every second or two finds it back soon.
    public static let storeRetryAfter = 2

    /// No credentials, or a token that is malformed, wrongly signed or tampered with.
    public static func unauthorized(_ message: String) -> Refusal {
        Refusal(.unauthorized, message, close: .unauthorized, status: 401)
    }

    /// A token whose `exp` has passed.
    public static func tokenExpired(_ message: String) -> Refusal {
        Refusal(.tokenExpired, message, close: .unauthorized, status: 401)
    }

    /// A valid token that does not grant this room or this operation.
    public static func forbidden(_ message: String) -> Refusal {
        Refusal(.forbidden, message, close: .unauthorized, status: 403)
    }
}
