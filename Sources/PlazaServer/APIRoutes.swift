import Hummingbird
import PlazaCore
import PlazaProtocol
import PlazaAuth
import PlazaStore
import Foundation

/// The HTTP API v1 and the health endpoints.
struct APIRoutes {
    let node: PlazaNode

    func register(on router: Router<PlazaRequestContext>) {
        router.get("/healthz") { _, _ in Self.json(#"{"status":"ok"}"#) }
        router.get("/readyz") { _, _ in
            guard await node.isReady() else { throw APIError(.serviceUnavailable, .draining, "this node is draining") }
            if node.directory != nil {
                // A directory without its store can neither place rooms nor serve history.
                try await storeCall { try await node.store.ping() }
            }
            return Self.json(#"{"status":"ready"}"#)
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: node.metrics.registry.emitToBuffer())))
        }
        let api = router.group("api/v1")
        api.post("join") { request, context in try await join(request, context) }
        api.get("space") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: node.space.body)))
        }
        api.get("rooms") { request, _ in try await rooms(request) }
        api.get("rooms/:room/messages") { request, context in try await messages(request, context) }
        api.get("rooms/:room/url") { request, context in try await roomURL(request, context) }
        FleetRoutes(node: node).register(on: api)
        RecordingRoutes(node: node).register(on: api)
    }

    // MARK: join

    struct JoinRequest: Decodable {
        var room: String
        var name: String?
        /// A directory prefers nodes of this region for a new room.
        var region: String?
        /// Asks for the room's conference to run on a media bridge (it outgrew peer-to-peer).
        var bridge: Bool?
    }

    private func join(_ request: Request, _ context: PlazaRequestContext) async throws -> Response {
        let started = ContinuousClock.now
        let body: JoinRequest = try await decode(request)
        guard let room = RoomName(body.room) else {
            throw APIError(.badRequest, .invalidRoom, "room names are 1–64 characters from a-z A-Z 0-9 - _ . and do not start with '.'")
        }
        let grant: Grant
        if let token = Self.bearer(request), let own = try? await node.authority.verifyOwn(token) {
            // A room token from an earlier join renews itself: same participant, same name and role.
            guard own.allows(room) else { throw APIError(.forbidden, .forbidden, "the token is for another room") }
            grant = own
        } else if let token = Self.bearer(request) {
            do {
                grant = try await node.authority.verifyExternal(token)
            } catch {
                throw error.kind == .expired
                    ? APIError(.unauthorized, .tokenExpired, error.message) : APIError.unauthorized(error.message)
            }
            guard grant.allows(room) else { throw APIError(.forbidden, .forbidden, "the token does not grant this room") }
        } else if node.configuration.auth.guests {
            grant = Grant(participant: ParticipantID("g-" + randomID(length: 12)), name: nil, room: room, role: .member, expiresAt: .distantFuture)
        } else {
            throw APIError.unauthorized("this server admits no guests: send 'Authorization: Bearer <token>'")
        }
        guard let name = DisplayName.validate(grant.name ?? body.name ?? "") else {
            throw APIError(.badRequest, .invalidName, "names are 1–64 characters without control characters")
        }
        let home = try await home(of: room, for: grant.participant, region: body.region, request)
        let bridge = try await bridge(for: room, asked: body.bridge == true, region: body.region, current: home.conference)
        let expiresAt = min(Date().addingTimeInterval(node.configuration.auth.tokenTTL), grant.expiresAt)
        let token = try await node.authority.issue(
            participant: grant.participant, name: name, room: room, role: grant.role, expiresAt: expiresAt)
        var w = JSONWriter(capacity: 512)
        w.raw("{\"token\":")
        w.string(token)
        w.raw(",\"url\":")
        w.string(home.webSocketURL)
        w.raw(",\"room\":")
        w.string(room.rawValue)
        w.raw(",\"participant\":")
        w.string(grant.participant.rawValue)
        w.raw(",\"name\":")
        w.string(name)
        w.raw(",\"role\":")
        w.string(grant.role.rawValue)
        w.raw(",\"expiresAt\":")
        w.int(Int64(expiresAt.timeIntervalSince1970))
        // The lifetime as well, so a client with a wrong clock still renews in time.
        w.raw(",\"expiresIn\":")
        w.int(max(0, Int64(expiresAt.timeIntervalSinceNow)))
        w.raw(",\"node\":")
        w.string(home.node)
        w.raw(",\"iceServers\":")
        w.value(.array(node.iceServers))
        if let bridge {
            w.raw(",\"bridge\":{\"id\":")
            w.string(bridge.bridge)
            w.raw(",\"url\":")
            w.string(bridge.url)
            w.raw("}")
        }
        w.raw("}")
        node.metrics.joinLatency.record(.now - started)  // HTTP join only; hello has its own histogram
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }

    /// On a directory, the media bridge of a room whose conference needs one (by `media.bridgeRooms`, or
    /// because the join asks): placed like a room, on the less loaded of two live serving bridges. A join that
    /// does not ask still gets `current`, the bridge its room's conference already runs on (read with the
    /// room's placement).
    private func bridge(for room: RoomName, asked: Bool, region: String?, current: BridgePlacement?) async throws -> BridgePlacement? {
        let media = node.configuration.media
        // Bridges are a fleet's: a single server (`plaza serve`, a node asked directly) leaves media peer-to-peer.
        guard let directory = node.directory else { return nil }
        guard asked || media.needsBridge(room.rawValue) else { return current }
        var random = SystemRandomNumberGenerator()
        let placement = try await storeCall {
            try await directory.media.placeConference(
                room, kind: media.bridgeKind, region: region, policy: directory.policy,
                participantCap: media.bridgeParticipantCap, leaseTTL: Int64(media.bridgeLeaseTTL * 1000),
                now: wallClockMilliseconds(), using: &random)
        }
        guard let placement else {
            throw APIError(
                .serviceUnavailable, .bridgesUnavailable, "no media bridge can take this conference now",
                retryAfter: media.retryAfter)
        }
        return placement
    }

    /// Where a room's clients connect: its node's base URL and WebSocket URL.
    struct Home {
        var node: String
        var url: String
        /// On a directory, the room's live conference on a media bridge.
        var conference: BridgePlacement? = nil
        var webSocketURL: String {
            var url = self.url.hasSuffix("/") ? String(self.url.dropLast()) : self.url
            if url.hasPrefix("https://") { url = "wss://" + url.dropFirst(8) }
            else if url.hasPrefix("http://") { url = "ws://" + url.dropFirst(7) }
            return url + "/ws"
        }
    }

    /// The room's home. A directory places the room on a node of the fleet (or finds its live placement);
    /// a node answers for itself, if it can host the room (and `participant` fits in it).
    private func home(of room: RoomName, for participant: ParticipantID?, region: String?, _ request: Request) async throws -> Home {
        if let directory = node.directory {
            var random = SystemRandomNumberGenerator()
            let decision: PlacementDecision
            do {
                decision = try await directory.placements.place(
                    room, region: region, policy: directory.policy, external: directory.prometheus?.latest,
                    leaseTTL: directory.leaseTTL.milliseconds,
                    now: wallClockMilliseconds(), using: &random)
            } catch {
                throw APIError(.serviceUnavailable, .storeUnavailable, "placement is unavailable")
            }
            guard let placement = decision.placement else {
                throw APIError(.serviceUnavailable, .nodeFull, "no node can take a new room now")
            }
            return Home(node: placement.node, url: placement.url, conference: placement.conference)
        }
        switch await node.registry.canHost(room) {
        case .failure(.draining): throw APIError(.serviceUnavailable, .draining, "this node is draining")
        case .failure: throw APIError(.serviceUnavailable, .nodeFull, "this node hosts as many rooms as it may")
        case .success(let loaded?):
            if let participant, await !loaded.admits(participant) { throw APIError(.conflict, .roomFull, "the room is full") }
        case .success(nil): break
        }
        // `server.publicURL` when set; otherwise the address the caller used (its `Host` header).
        let base = node.configuration.server.publicURL
            ?? "http://" + (request.head.authority ?? "\(node.configuration.server.host):\(node.configuration.server.port)")
        return Home(node: node.membership?.registration.id ?? "local", url: base)
    }

    // MARK: room URL

    /// `GET /api/v1/rooms/{room}/url`: the node a room lives on, placing it first if it has no home.
    private func roomURL(_ request: Request, _ context: PlazaRequestContext) async throws -> Response {
        guard let roomParameter = context.parameters.get("room"), let room = RoomName(roomParameter) else {
            throw APIError(.badRequest, .invalidRoom, "invalid room name")
        }
        let home = try await home(of: room, for: nil, region: request.uri.queryParameters.get("region"), request)
        var w = JSONWriter(capacity: 256)
        w.raw("{\"room\":")
        w.string(room.rawValue)
        w.raw(",\"node\":")
        w.string(home.node)
        w.raw(",\"url\":")
        w.string(home.url)
        w.raw(",\"webSocketURL\":")
        w.string(home.webSocketURL)
        w.raw("}")
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }

    // MARK: history

    private func messages(_ request: Request, _ context: PlazaRequestContext) async throws -> Response {
        guard let roomParameter = context.parameters.get("room"), let room = RoomName(roomParameter) else {
            throw APIError(.badRequest, .invalidRoom, "invalid room name")
        }
        guard let token = Self.bearer(request) else {
            throw APIError.unauthorized("send the room token from join as 'Authorization: Bearer <token>'")
        }
        let grant = try await ownGrant(token)
        guard grant.allows(room) else { throw APIError(.forbidden, .forbidden, "the token is for another room") }
        let query = request.uri.queryParameters
        let pageLimit = node.configuration.chat.historyPageLimit
        func integer(_ key: String) throws -> Int64? {
            guard let raw = query.get(key) else { return nil }
            guard let value = Int64(raw), value >= 0 else {
                throw APIError(.badRequest, .invalidRequest, "'\(key)' must be a non-negative integer")
            }
            return value
        }
        let limit = Int(min(try integer("limit") ?? Int64(pageLimit), Int64(pageLimit)))
        let since = try integer("since")
        let before = try integer("before")
        guard since == nil || before == nil else {
            throw APIError(.badRequest, .invalidRequest, "give 'since' or 'before', not both")
        }
        let page: [ChatMessage]
        let last: Int64
        do {
            if let before {
                page = try await node.store.messages(in: room, before: before, limit: limit)
            } else if let since {
                page = try await node.store.messages(in: room, after: since, limit: limit)
            } else {
                page = try await node.store.latestMessages(in: room, limit: limit)
            }
            last = try await node.store.lastOffset(in: room)
        } catch {
            throw APIError(.serviceUnavailable, .storeUnavailable, "history is unavailable")
        }
        var w = JSONWriter(capacity: 64 + page.count * 128)
        w.raw("{\"room\":")
        w.string(room.rawValue)
        w.raw(",\"lastOffset\":")
        w.int(last)
        w.raw(",\"messages\":[")
        for (i, message) in page.enumerated() {
            if i > 0 { w.raw(",") }
            // The same object as a `chat` frame, less its `type`.
            var frame = ServerFrame.chat(message)
            let prefix = Array("{\"type\":\"chat\",".utf8)
            frame.replaceSubrange(0..<prefix.count, with: [UInt8(ascii: "{")])
            w.raw(frame)
        }
        w.raw("]}")
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }

    // MARK: admin

    /// Admin endpoints want `Authorization: Bearer <auth.adminToken>`.
    func requireAdmin(_ request: Request) throws {
        guard let token = Self.bearer(request), isAdmin(token) else {
            throw APIError.unauthorized("send the admin token as 'Authorization: Bearer <token>'")
        }
    }

    func isAdmin(_ token: String) -> Bool { constantTimeEquals(token, node.adminToken) }

    /// The grant of a room token this node issued; 401 `token_expired` or `unauthorized` when it is not valid.
    func ownGrant(_ token: String) async throws -> Grant {
        do {
            return try await node.authority.verifyOwn(token)
        } catch {
            throw error.kind == .expired ? APIError(.unauthorized, .tokenExpired, error.message) : APIError.unauthorized(error.message)
        }
    }

    private func rooms(_ request: Request) async throws -> Response {
        try requireAdmin(request)
        var entries: [(RoomName, Int, Int)] = []
        for room in await node.registry.loadedRooms {
            entries.append((room.name, await room.participantCount, await room.connectionCount))
        }
        entries.sort { $0.0 < $1.0 }
        var w = JSONWriter(capacity: 64 + entries.count * 64)
        w.raw("{\"rooms\":[")
        for (i, entry) in entries.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{\"room\":")
            w.string(entry.0.rawValue)
            w.raw(",\"participants\":")
            w.int(Int64(entry.1))
            w.raw(",\"connections\":")
            w.int(Int64(entry.2))
            w.raw("}")
        }
        w.raw("]}")
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }

    // MARK: helpers

    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// An answer of the operator APIs (fleet, recordings), where Foundation's encoder is fast enough.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(
            status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    static func bearer(_ request: Request) -> String? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1]).trimmingCharacters(in: .whitespaces)
    }

    /// The JSON body, at most `limits.requestBodyBytes`.
    func decode<T: Decodable>(_ request: Request) async throws -> T {
        let limit = node.configuration.limits.requestBodyBytes
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch {
            throw APIError(.contentTooLarge, .invalidRequest, "request body is larger than \(limit) bytes")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch {
            throw APIError(.badRequest, .invalidRequest, "the body is not the expected JSON object")
        }
    }
}
