/// One chat message as it is stored and replayed. `offset` is the room's monotonic sequence number.
public struct ChatMessage: Sendable, Equatable {
    public var room: RoomName
    public var offset: Int64
    /// The sender's message id: makes a retry idempotent.
    public var clientID: String
    public var sender: ParticipantID
    public var senderName: String
    public var text: String
    /// Milliseconds since the Unix epoch, stamped by the server when the message was accepted.
    public var timestamp: Int64

    public init(
        room: RoomName, offset: Int64, clientID: String, sender: ParticipantID, senderName: String, text: String,
        timestamp: Int64
    ) {
        (self.room, self.offset, self.clientID, self.sender) = (room, offset, clientID, sender)
        (self.senderName, self.text, self.timestamp) = (senderName, text, timestamp)
    }
}

/// The last `capacity` committed messages of a room, in offset order, each with its encoded frame.
///
/// Serves reconnect recovery from memory: because a room lives on one node, this window is authoritative, and
/// replaying from it inside the room's serial context cannot race with new messages. `Payload` is whatever the
/// transport wants to replay (the encoded `chat` frame); the domain does not look at it.
public struct ResumeWindow<Payload: Sendable>: Sendable {
    public let capacity: Int
    private var entries: [(offset: Int64, payload: Payload)] = []
    private var head = 0
    /// The offset of the newest committed message, or 0 in a room that has none.
    public private(set) var lastOffset: Int64

    public init(capacity: Int, lastOffset: Int64) {
        precondition(capacity >= 0)
        (self.capacity, self.lastOffset) = (capacity, lastOffset)
        entries.reserveCapacity(min(capacity, 1024))
    }

    /// Appends a committed message. Offsets must increase. Returns the payload the window let go of to make room,
    /// if it was full (or `payload` itself when the window keeps nothing).
    @discardableResult
    public mutating func append(offset: Int64, payload: Payload) -> Payload? {
        precondition(offset > lastOffset, "offsets must increase")
        lastOffset = offset
        guard capacity > 0 else { return payload }
        if entries.count < capacity {
            entries.append((offset, payload))
            return nil
        }
        let evicted = entries[head].payload
        entries[head] = (offset, payload)
        head = (head + 1) % capacity
        return evicted
    }

    /// What a reconnecting client gets: the messages it missed, or word that it must start from a fresh snapshot.
    public enum Recovery {
        /// Everything after `since`, oldest first (possibly empty).
        case recovered([Payload])
        /// `since` is older than the window, or newer than anything committed: the client needs a fresh snapshot.
        case notRecoverable
    }

    /// What a client that last saw `since` has missed.
    public func recover(since: Int64) -> Recovery {
        if since == lastOffset { return .recovered([]) }
        guard since < lastOffset, since >= 0 else { return .notRecoverable }
        let missed = lastOffset - since
        // Offsets are dense within a room, so the window holds the last `entries.count` offsets.
        guard missed <= Int64(entries.count) else { return .notRecoverable }
        var result: [Payload] = []
        result.reserveCapacity(Int(missed))
        let count = entries.count
        for index in 0..<count {
            let entry = entries[(head + index) % count]
            if entry.offset > since { result.append(entry.payload) }
        }
        return .recovered(result)
    }
}
