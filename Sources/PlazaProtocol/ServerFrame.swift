public import PlazaCore

/// Encoders for every server-to-client frame. Each returns the frame's JSON bytes, encoded once and shared
/// by every recipient.
///
/// On the wire a WebSocket text message carries one or more frames separated by `\n` (a frame never contains
/// a raw newline: JSON strings escape it), so a connection can flush a batch of queued frames as one message.
public enum ServerFrame {
    /// Server frame types: a closed set, safe as a metrics label.
    public enum FrameType: String, Sendable, CaseIterable {
        case welcome, joined, left, chat, ack, moves, enter, exit, media, app, signal, error, pong, conference
    }

    /// Where a participant's media goes now (docs/protocol.md): a conference on a Janus bridge with what it takes
    /// to enter it, or, with `conference` nil, back to peer-to-peer calls.
    public struct Conference: Sendable, Equatable {
        /// The conference's id in its room: `zone-<zone id>` or `bubble-<n>`.
        public var id: String
        /// The bridge's WebSocket URL (Janus's API, subprotocol `janus-protocol`).
        public var url: String
        /// The VideoRoom room, its pin, and this participant's stored token.
        public var room: Int64
        public var pin: String
        public var token: String
        /// The meeting zone's id, nil for a bubble.
        public var zone: String?

        public init(id: String, url: String, room: Int64, pin: String, token: String, zone: String?) {
            (self.id, self.url, self.room, self.pin, self.token, self.zone) = (id, url, room, pin, token, zone)
        }
    }

    /// `conference`: a conference to enter, or nil to go back to peer-to-peer.
    public static func conference(_ conference: Conference?) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"type\":\"conference\",")
        w.key("conference")
        guard let conference else {
            w.raw("null}")
            return w.bytes
        }
        w.string(conference.id)
        w.raw(",\"kind\":\"janus\",")
        w.key("url")
        w.string(conference.url)
        w.raw(",")
        w.key("room")
        w.int(conference.room)
        w.raw(",")
        w.key("pin")
        w.string(conference.pin)
        w.raw(",")
        w.key("token")
        w.string(conference.token)
        w.raw(",")
        w.key("zone")
        if let zone = conference.zone { w.string(zone) } else { w.raw("null") }
        w.raw("}")
        return w.bytes
    }

    public static func welcome(
        you: ParticipantID, room: RoomName, participants: [ParticipantSnapshot], offset: Int64, recovered: Bool
    ) -> [UInt8] {
        var w = JSONWriter(capacity: 128 + participants.count * 80)
        w.raw("{\"type\":\"welcome\",")
        w.key("you")
        w.string(you.rawValue)
        w.raw(",")
        w.key("room")
        w.string(room.rawValue)
        w.raw(",")
        w.key("participants")
        w.raw("[")
        for (i, p) in participants.enumerated() {
            if i > 0 { w.raw(",") }
            writeParticipant(&w, p)
        }
        w.raw("],")
        w.key("offset")
        w.int(offset)
        w.raw(",")
        w.key("recovered")
        w.bool(recovered)
        w.raw("}")
        return w.bytes
    }

    public static func joined(_ p: ParticipantSnapshot) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"type\":\"joined\",")
        w.key("participant")
        writeParticipant(&w, p)
        w.raw("}")
        return w.bytes
    }

    public static func left(_ id: ParticipantID) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"type\":\"left\",")
        w.key("id")
        w.string(id.rawValue)
        w.raw("}")
        return w.bytes
    }

    public static func chat(_ m: ChatMessage) -> [UInt8] {
        var w = JSONWriter(capacity: 96 + m.text.utf8.count)
        w.raw("{\"type\":\"chat\",")
        writeChatFields(&w, m)
        return w.bytes
    }

    /// A chat message as the history API lists it: the `chat` frame's object without its `type`.
    public static func writeHistoryEntry(_ w: inout JSONWriter, _ m: ChatMessage) {
        w.raw("{")
        writeChatFields(&w, m)
    }

    /// A chat message's fields and the closing brace, shared by the frame and the history entry.
    private static func writeChatFields(_ w: inout JSONWriter, _ m: ChatMessage) {
        w.key("offset")
        w.int(m.offset)
        w.raw(",")
        w.key("id")
        w.string(m.clientID)
        w.raw(",")
        w.key("from")
        w.string(m.sender.rawValue)
        w.raw(",")
        w.key("name")
        w.string(m.senderName)
        w.raw(",")
        w.key("text")
        w.string(m.text)
        w.raw(",")
        w.key("ts")
        w.int(m.timestamp)
        w.raw("}")
    }

    public static func ack(id: String, offset: Int64) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"type\":\"ack\",")
        w.key("id")
        w.string(id)
        w.raw(",")
        w.key("offset")
        w.int(offset)
        w.raw("}")
        return w.bytes
    }

    /// The members of a `moves` array for one cell, without brackets, so that fragments of several cells
    /// can be joined with commas into one viewer's frame without re-encoding.
    public static func moveEntries(_ avatars: [AvatarState]) -> [UInt8] {
        var w = JSONWriter(capacity: avatars.count * 48)
        for (i, a) in avatars.enumerated() {
            if i > 0 { w.raw(",") }
            writeAvatar(&w, a)
        }
        return w.bytes
    }

    /// A `moves` frame from cell fragments made by `moveEntries`.
    public static func moves(fragments: [[UInt8]]) -> [UInt8] {
        var w = JSONWriter(capacity: 32 + fragments.reduce(0) { $0 + $1.count + 1 })
        w.raw("{\"type\":\"moves\",\"moves\":[")
        var first = true
        for fragment in fragments where !fragment.isEmpty {
            if !first { w.raw(",") }
            first = false
            w.raw(fragment)
        }
        w.raw("]}")
        return w.bytes
    }

    public static func enter(_ avatars: [AvatarState]) -> [UInt8] {
        var w = JSONWriter(capacity: 32 + avatars.count * 48)
        w.raw("{\"type\":\"enter\",\"avatars\":[")
        for (i, a) in avatars.enumerated() {
            if i > 0 { w.raw(",") }
            writeAvatar(&w, a)
        }
        w.raw("]}")
        return w.bytes
    }

    public static func exit(_ ids: [ParticipantID]) -> [UInt8] {
        var w = JSONWriter(capacity: 32 + ids.count * 24)
        w.raw("{\"type\":\"exit\",\"ids\":[")
        for (i, id) in ids.enumerated() {
            if i > 0 { w.raw(",") }
            w.string(id.rawValue)
        }
        w.raw("]}")
        return w.bytes
    }

    public static func media(_ id: ParticipantID, audio: Bool, video: Bool) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"type\":\"media\",")
        w.key("id")
        w.string(id.rawValue)
        w.raw(",")
        w.key("audio")
        w.bool(audio)
        w.raw(",")
        w.key("video")
        w.bool(video)
        w.raw("}")
        return w.bytes
    }

    /// `app` and `signal` share a shape: who sent it, and the opaque data.
    public static func relay(_ type: StaticString, from: ParticipantID, data: JSONValue) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"type\":\"")
        w.raw(type)
        w.raw("\",")
        w.key("from")
        w.string(from.rawValue)
        w.raw(",")
        w.key("data")
        w.value(data)
        w.raw("}")
        return w.bytes
    }

    public static func error(_ code: ErrorCode, _ message: String, ref: String? = nil) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"type\":\"error\",")
        w.key("code")
        w.string(code.rawValue)
        w.raw(",")
        w.key("message")
        w.string(message)
        if let ref {
            w.raw(",")
            w.key("ref")
            w.string(ref)
        }
        w.raw("}")
        return w.bytes
    }

    public static let pong: [UInt8] = Array("{\"type\":\"pong\"}".utf8)

    private static func writeParticipant(_ w: inout JSONWriter, _ p: ParticipantSnapshot) {
        w.raw("{")
        w.key("id")
        w.string(p.id.rawValue)
        w.raw(",")
        w.key("name")
        w.string(p.name)
        w.raw(",")
        w.key("role")
        w.string(p.role.rawValue)
        w.raw(",")
        w.key("x")
        w.number(p.position.x)
        w.raw(",")
        w.key("y")
        w.number(p.position.y)
        if let dir = p.position.dir {
            w.raw(",")
            w.key("dir")
            w.string(dir)
        }
        w.raw(",")
        w.key("audio")
        w.bool(p.audio)
        w.raw(",")
        w.key("video")
        w.bool(p.video)
        w.raw("}")
    }

    private static func writeAvatar(_ w: inout JSONWriter, _ a: AvatarState) {
        w.raw("{")
        w.key("id")
        w.string(a.id.rawValue)
        w.raw(",")
        w.key("x")
        w.number(a.position.x)
        w.raw(",")
        w.key("y")
        w.number(a.position.y)
        if let dir = a.position.dir {
            w.raw(",")
            w.key("dir")
            w.string(dir)
        }
        w.raw("}")
    }
}
