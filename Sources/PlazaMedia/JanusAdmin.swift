// Media bridges as Plaza drives them. Janus: its Admin API, through which Plaza manages what browsers may do on a
// bridge — the VideoRoom rooms that carry conferences (each with its own secret and pin) and the stored tokens
// that admit one participant each — and reads its load. Browsers talk to Janus themselves; no secret of this
// file reaches them.

import Foundation
import PlazaHTTPClient

/// Janus's Admin API over HTTP (`admin_base_path`, e.g. `http://127.0.0.1:7088/admin`), authenticated with its
/// `admin_secret`. VideoRoom requests go through `message_plugin`, which needs no session and no token, so
/// Plaza holds no Janus session of its own.
public struct JanusAdmin: Sendable {
    public let url: String
    let secret: String?
    /// The VideoRoom plugin's `admin_key`, when it is set: only then is creating rooms kept to Plaza.
    let roomAdminKey: String?
    let timeout: Duration

    public init(url: String, secret: String?, roomAdminKey: String? = nil, timeout: Duration = .seconds(5)) {
        (self.url, self.secret, self.roomAdminKey, self.timeout) = (url, secret, roomAdminKey, timeout)
    }

    /// A refusal from Janus or its VideoRoom plugin, with Janus's code (403 unauthorized, 427 room exists, 433 a
    /// wrong secret or pin, …) and reason.
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public var code: Int
        public var reason: String
        public var description: String { "janus \(code): \(reason)" }
    }

    /// A VideoRoom room: what a conference runs in.
    public struct Room: Sendable, Equatable {
        public var id: Int64
        /// Needed to change or destroy the room; Plaza keeps it.
        public var secret: String
        /// Needed to join the room; handed to the room's participants with their tokens.
        public var pin: String
        /// Most publishers at once.
        public var publishers: Int
        /// Each publisher's bitrate cap, bits per second.
        public var bitrate: Int
        /// Who made it, for whoever lists the rooms.
        public var description: String?

        public init(id: Int64, secret: String, pin: String, publishers: Int, bitrate: Int, description: String? = nil) {
            (self.id, self.secret, self.pin, self.publishers, self.bitrate) = (id, secret, pin, publishers, bitrate)
            self.description = description
        }
    }

    // MARK: Rooms

    /// Creates `room` (private, not saved to Janus's configuration). With `allowList`, a join must also carry a
    /// token of the room's own list (`allow`), besides the pin.
    public func create(_ room: Room, allowList: Bool = false) async throws {
        var request: [String: Any] = [
            "request": "create", "room": room.id, "secret": room.secret, "pin": room.pin, "publishers": room.publishers,
            "bitrate": room.bitrate, "is_private": true, "permanent": false,
        ]
        request["description"] = room.description
        request["admin_key"] = roomAdminKey
        _ = try await videoRoom(request, expecting: "created")
        if allowList {
            _ = try await videoRoom(
                ["request": "allowed", "room": room.id, "secret": room.secret, "action": "enable"], expecting: "success")
        }
    }

    /// Destroys room `id`; its participants are told and dropped.
    public func destroy(room id: Int64, secret: String) async throws {
        _ = try await videoRoom(["request": "destroy", "room": id, "secret": secret, "permanent": false], expecting: "destroyed")
    }

    /// A VideoRoom room as `list` shows it: its id and its participants (publishers joined, active or not).
    public struct RoomSummary: Sendable, Equatable {
        public var id: Int64
        public var participants: Int
        public var description: String?

        public init(id: Int64, participants: Int, description: String? = nil) {
            (self.id, self.participants, self.description) = (id, participants, description)
        }
    }

    /// Every VideoRoom room, private ones included (those need the plugin's `admin_key`, when it is set).
    public func rooms() async throws -> [RoomSummary] {
        var request: [String: Any] = ["request": "list"]
        request["admin_key"] = roomAdminKey
        let answer = try await videoRoom(request, expecting: "success")
        return (answer["list"] as? [[String: Any]] ?? []).compactMap { entry in
            (entry["room"] as? NSNumber).map {
                RoomSummary(
                    id: $0.int64Value, participants: (entry["num_participants"] as? NSNumber)?.intValue ?? 0,
                    description: entry["description"] as? String)
            }
        }
    }

    /// Whether room `id` exists.
    public func exists(room id: Int64) async throws -> Bool {
        let answer = try await videoRoom(["request": "exists", "room": id], expecting: "success")
        return answer["exists"] as? Bool ?? false
    }

    /// What Plaza marked on this Janus (`JanusMarks`): its tokens and rooms with their owners and runs.
    public struct Marked: Sendable {
        public var tokens: [(token: String, owner: String, run: String)] = []
        public var rooms: [(id: Int64, owner: String, run: String)] = []
    }

    /// Lists what Plaza marked here.
    public func marked() async throws -> Marked {
        var found = Marked()
        for token in try await tokens() {
            if let mark = JanusMarks.mark(ofToken: token) { found.tokens.append((token, mark.owner, mark.run)) }
        }
        for room in try await rooms() {
            if let mark = JanusMarks.mark(ofDescription: room.description) { found.rooms.append((room.id, mark.owner, mark.run)) }
        }
        return found
    }

    /// Takes back the tokens and destroys the rooms of `marked` whose mark `leftOver` picks (a room with its derived
    /// secret, so only with the admin secret); the number of rooms destroyed. List first (`marked()`), then decide
    /// on what is known after the listing: a room server that registers meanwhile is then already known.
    public func end(_ marked: Marked, where leftOver: (_ owner: String, _ run: String) -> Bool) async throws -> Int {
        guard secret != nil else { return 0 }
        for entry in marked.tokens where leftOver(entry.owner, entry.run) {
            do { try await remove(token: entry.token) } catch let failure as Failure where failure.code == Self.noSuchToken {}
        }
        var ended = 0
        for room in marked.rooms where leftOver(room.owner, room.run) {
            do {
                try await destroy(room: room.id, secret: JanusMarks.roomSecret(room.id, adminSecret: secret))
                ended += 1
            } catch let failure as Failure where failure.code == Self.noSuchRoom {
            }
        }
        return ended
    }

    /// Janus's error codes Plaza tells apart: a room that exists already; a room, a participant or a token that is
    /// gone already (what a dismissal or a sweep wanted done is then done).
    public static let roomExists = 427
    public static let noSuchRoom = 426
    public static let noSuchParticipant = 428
    public static let noSuchToken = 490

    /// A participant of a VideoRoom room: its id there and the display name it gave.
    public struct Participant: Sendable, Equatable {
        public var id: Int64
        public var display: String?
    }

    /// The room's participants (publishing or not).
    public func participants(room id: Int64, secret: String) async throws -> [Participant] {
        let answer = try await videoRoom(["request": "listparticipants", "room": id, "secret": secret], expecting: "participants")
        return (answer["participants"] as? [[String: Any]] ?? []).compactMap { entry in
            (entry["id"] as? NSNumber).map { Participant(id: $0.int64Value, display: entry["display"] as? String) }
        }
    }

    /// Adds `token` to room `id`'s own list of tokens a join must carry (`add`), or takes it off (`remove`).
    public func allow(_ token: String, room id: Int64, secret: String, _ allowed: Bool = true) async throws {
        _ = try await videoRoom(
            ["request": "allowed", "room": id, "secret": secret, "action": allowed ? "add" : "remove", "allowed": [token]],
            expecting: "success")
    }

    /// Sends participant `participant` out of room `id`: its publisher and the feeds others take of it end.
    public func kick(_ participant: Int64, room id: Int64, secret: String) async throws {
        _ = try await videoRoom(["request": "kick", "room": id, "secret": secret, "id": participant], expecting: "success")
    }

    // MARK: Tokens

    /// Admits the holder of `token` to Janus, for the VideoRoom plugin only.
    public func add(token: String) async throws {
        _ = try await call(["janus": "add_token", "token": token, "plugins": ["janus.plugin.videoroom"]])
    }

    /// Refuses `token` from now on: no new session, and no request on an open one.
    public func remove(token: String) async throws {
        _ = try await call(["janus": "remove_token", "token": token])
    }

    /// The tokens Janus admits.
    public func tokens() async throws -> [String] {
        let answer = try await call(["janus": "list_tokens"])
        let list = (answer["data"] as? [String: Any])?["tokens"] as? [[String: Any]] ?? []
        return list.compactMap { $0["token"] as? String }
    }

    // MARK: Load

    /// The sessions Janus holds (about one per participant connected to it).
    public func sessionCount() async throws -> Int { try await sessions().count }

    /// The ids of the sessions Janus holds.
    public func sessions() async throws -> [Int64] {
        let answer = try await call(["janus": "list_sessions"])
        // Without its list a Janus would look empty, and be stopped under its calls.
        guard let sessions = answer["sessions"] as? [NSNumber] else { throw Failure(code: 0, reason: "no session list") }
        return sessions.map(\.int64Value)
    }

    /// The plugin handles of session `id` (a participant's publisher and subscription); 0 for a session that ended
    /// meanwhile.
    public func handleCount(session id: Int64) async throws -> Int {
        do {
            let answer = try await call(["janus": "list_handles"], path: "/\(id)")
            return (answer["handles"] as? [Any])?.count ?? 0
        } catch let failure as Failure where failure.code == Self.noSuchSession {
            return 0
        }
    }

    /// Janus's "no such session".
    static let noSuchSession = 458

    // MARK: Calls

    /// A VideoRoom request through `message_plugin`; its answer's `response`, whose `videoroom` must be `expected`.
    private func videoRoom(_ request: [String: Any], expecting expected: String) async throws -> [String: Any] {
        let answer = try await call(["janus": "message_plugin", "plugin": "janus.plugin.videoroom", "request": request])
        let response = answer["response"] as? [String: Any] ?? [:]
        if let code = response["error_code"] as? Int {
            throw Failure(code: code, reason: response["error"] as? String ?? "refused")
        }
        guard response["videoroom"] as? String == expected else {
            throw Failure(code: 0, reason: "unexpected answer: \(response)")
        }
        return response
    }

    /// One Admin API call: `body` with a transaction and the secret; the answer when Janus says `success`.
    private func call(_ body: [String: Any], path: String = "") async throws -> [String: Any] {
        var body = body
        body["transaction"] = UUID().uuidString
        body["admin_secret"] = secret
        let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        let answer = try await HTTPCall.json(.POST, url + path, body: json, timeout: timeout).send()
        guard answer.status == 200, let object = (try? JSONSerialization.jsonObject(with: answer.body)) as? [String: Any] else {
            throw Failure(code: answer.status, reason: "the admin API answered HTTP \(answer.status)")
        }
        guard object["janus"] as? String == "success" else {
            let error = object["error"] as? [String: Any]
            throw Failure(code: error?["code"] as? Int ?? 0, reason: error?["reason"] as? String ?? "refused")
        }
        return object
    }
}
