import PlazaCore
import PlazaRooms
import PlazaMedia

/// The conferences of a room server's rooms on one Janus (`media.janus*`), through its Admin API: a VideoRoom room
/// per conference with a secret and a pin of its own, a stored token per participant (VideoRoom only), taken back
/// and the participant kicked when it leaves. A browser enters with its token and the room's pin and must give its
/// Plaza participant id as its `display`, by which it is found to be kicked.
struct JanusConferenceBridge: ConferenceBridge {
    let admin: JanusAdmin
    /// Where browsers reach Janus.
    let publicURL: String
    let bitrate: Int

    /// Nil when no Janus is configured.
    init?(_ configuration: JanusConfiguration) {
        guard let url = configuration.url, let adminURL = configuration.adminURL else { return nil }
        admin = JanusAdmin(url: adminURL, secret: configuration.adminSecret, roomAdminKey: configuration.roomAdminKey)
        (publicURL, bitrate) = (url, configuration.bitrate)
    }

    /// Janus's "room already exists" and "no such room".
    static let roomExists = 427
    static let noSuchRoom = 426

    func open(_ id: String, of room: RoomName, publishers: Int) async throws -> BridgeRoom {
        var attempt = 0
        while true {
            // Below 2^53, so a browser's JavaScript holds the id exactly.
            let number = Int64.random(in: 1..<(1 << 53))
            let conference = BridgeRoom(url: publicURL, room: number, pin: Self.randomText(), secret: Self.randomText())
            do {
                try await admin.create(
                    JanusAdmin.Room(id: number, secret: conference.secret, pin: conference.pin, publishers: publishers, bitrate: bitrate))
                return conference
            } catch let failure as JanusAdmin.Failure where failure.code == Self.roomExists && attempt < 3 {
                attempt += 1
            }
        }
    }

    func admit(_ participant: ParticipantID, to conference: BridgeRoom) async throws -> String {
        let token = Self.randomText()
        try await admin.add(token: token)
        return token
    }

    func dismiss(_ participant: ParticipantID, token: String, from conference: BridgeRoom) async throws {
        // The token first: no new session, no request on an open one. Then out of the room, media and all.
        try await admin.remove(token: token)
        let present: [JanusAdmin.Participant]
        do {
            present = try await admin.participants(room: conference.room, secret: conference.secret)
        } catch let failure as JanusAdmin.Failure where failure.code == Self.noSuchRoom {
            return
        }
        for entry in present where entry.display == participant.rawValue {
            try await admin.kick(entry.id, room: conference.room, secret: conference.secret)
        }
    }

    func close(_ conference: BridgeRoom) async throws {
        do {
            try await admin.destroy(room: conference.room, secret: conference.secret)
        } catch let failure as JanusAdmin.Failure where failure.code == Self.noSuchRoom {
            // Gone already (the bridge restarted).
        }
    }

    /// 128 random bits as 32 hexadecimal digits: room secrets, pins and tokens.
    static func randomText() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let value = generator.next() as UInt64
            let hex = String(value, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }
}
