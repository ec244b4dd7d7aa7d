/// Per-room and per-connection limits enforced by the domain. Each one is configurable and documented in the
/// README's configuration table; each has a stable error code on the wire.
public struct RoomLimits: Sendable, Equatable {
    /// Most participants (distinct identities) in one room. Key `limits.participantsPerRoom`.
    public var participantsPerRoom: Int
    /// Most simultaneous connections for one participant (tabs). Key `limits.connectionsPerParticipant`.
    public var connectionsPerParticipant: Int
    /// Longest chat text, in Unicode scalars. Key `limits.chatTextLength`.
    public var chatTextLength: Int
    /// Longest client message id in a `chat` frame, in bytes. Key `limits.messageIDLength`.
    public var messageIDLength: Int

    public init(
        participantsPerRoom: Int = 1_000,
        connectionsPerParticipant: Int = 8,
        chatTextLength: Int = 4_000,
        messageIDLength: Int = 64
    ) {
        (self.participantsPerRoom, self.connectionsPerParticipant) = (participantsPerRoom, connectionsPerParticipant)
        (self.chatTextLength, self.messageIDLength) = (chatTextLength, messageIDLength)
    }
}
