public import Hummingbird
public import PlazaCore
import PlazaProtocol
public import PlazaAuth
public import PlazaStore
public import PlazaRooms
public import PlazaMetrics
public import Logging
import Foundation
public import HTTPTypes

/// What the HTTP API of any role answers from: its settings, tokens, the space it serves and the chat history.
public struct APIContext: Sendable {
    public let http: HTTPConfiguration
    public let auth: AuthConfiguration
    public let authority: TokenAuthority
    /// Bearer token of the admin API (`auth.adminToken`).
    public let adminToken: String
    /// Where history is read from.
    public let history: any ChatStore
    public let metrics: PlazaMetrics
    public let logger: Logger
    /// The `iceServers` handed out by join, parsed once.
    let iceServers: [JSONValue]
    /// The `iceServers` of one join: the configured ones, then the TURN relay with credentials for `participant`.
    func iceServers(for participant: ParticipantID, now: Date) -> [JSONValue] {
        let turn = http.turn
        guard let secret = turn.secret, !turn.urls.isEmpty else { return iceServers }
        let credentials = TURNCredentials(secret: secret, participant: participant, now: now, lifetime: turn.ttl)
        return iceServers + [
            .object([
                ("urls", .array(turn.urls.map { .string($0) })), ("username", .string(credentials.username)),
                ("credential", .string(credentials.credential)),
            ])
        ]
    }

    /// The whole `GET /api/v1/space` body, encoded once.
    let spaceBody: [UInt8]

    public init(
        http: HTTPConfiguration, auth: AuthConfiguration, space: SpaceConfiguration, map: MapFile, authority: TokenAuthority,
        adminToken: String, history: any ChatStore, metrics: PlazaMetrics, logger: Logger
    ) {
        (self.http, self.auth, self.authority, self.adminToken) = (http, auth, authority, adminToken)
        (self.history, self.metrics, self.logger) = (history, metrics, logger)
        let ice = (try? JSONDecoder().decode(JSONValue.self, from: Data(http.iceServersJSON.utf8))) ?? .array([])
        if case .array(let servers) = ice { iceServers = servers } else { iceServers = [] }
        var w = JSONWriter(capacity: map.json.count + 256)
        w.raw("{\"map\":")
        w.raw(map.json)
        w.raw(",\"proximity\":{\"radius\":")
        w.number(space.proximityRadius)
        w.raw(",\"maxPeers\":")
        w.int(Int64(space.maxPeers))
        w.raw("},\"cellSize\":")
        w.number(space.cellSize)
        w.raw(",\"interestRadius\":")
        w.int(Int64(space.interestRadius))
        w.raw(",\"tickHz\":")
        w.number(space.tickHz)
        w.raw("}")
        spaceBody = w.bytes
    }
}

/// Where join sends a room's clients: the role's half of the join. A room server answers for itself
/// (`ThisNode`); a directory places the room on a node of its fleet (`JoinAllocator`).
public protocol RoomAllocator: Sendable {
    /// The room's home: its node and that node's base URL, with the room's live conference. `participant` is the
    /// joiner (nil for a plain look-up); `authority` is the `Host` the caller used.
    func home(of room: RoomName, for participant: ParticipantID?, region: String?, authority: String?) async throws -> RoomHome

    /// The media bridge of the room's conference, when it needs one (by configuration, or because the join asks);
    /// `current` is the conference the home already carries.
    func bridge(for room: RoomName, asked: Bool, region: String?, current: BridgePlacement?) async throws -> BridgePlacement?
}

extension RoomAllocator {
    public func bridge(for room: RoomName, asked: Bool, region: String?, current: BridgePlacement?) async throws -> BridgePlacement? {
        current
    }
}

/// Where a room's clients connect: its node's name and base URL.
public struct RoomHome: Sendable {
    public var node: String
    public var url: String
    /// The room's live conference on a media bridge, when the allocator read one with the home.
    public var conference: BridgePlacement?

    public init(node: String, url: String, conference: BridgePlacement? = nil) {
        (self.node, self.url, self.conference) = (node, url, conference)
    }

    /// The WebSocket URL of `url`.
    public var webSocketURL: String {
        var url = self.url.hasSuffix("/") ? String(self.url.dropLast()) : self.url
        if url.hasPrefix("https://") {
            url = "wss://" + url.dropFirst(8)
        } else if url.hasPrefix("http://") {
            url = "ws://" + url.dropFirst(7)
        }
        return url + "/ws"
    }
}

/// The HTTP API v1 every role serves, and the health endpoints: join, the space, a room's URL and history.
/// A role adds its own routes beside these (a room server its WebSocket and room list, a directory the fleet and
/// recordings).
public struct APIRoutes: Sendable {
    public let api: APIContext
    public let allocator: any RoomAllocator
    /// Throws when the role cannot take new rooms (`/readyz` answers 503 with the error).
    public let readiness: @Sendable () async throws -> Void
    /// A fleet node's last contact with the store, sent with every `/readyz` answer (`StoreContact.fields`) for
    /// its peers' lease watch; nil elsewhere.
    public let storeContact: @Sendable () -> StoreContact?

    public init(
        api: APIContext, allocator: any RoomAllocator, storeContact: @escaping @Sendable () -> StoreContact? = { nil },
        readiness: @escaping @Sendable () async throws -> Void
    ) {
        (self.api, self.allocator, self.readiness, self.storeContact) = (api, allocator, readiness, storeContact)
    }

    public func register(on router: Router<PlazaRequestContext>) {
        let api = self.api
        router.get("/healthz") { _, _ in Self.json(#"{"status":"ok"}"#) }
        let storeContact = self.storeContact
        router.get("/readyz") { _, _ in
            let contact = storeContact()?.fields ?? [:]
            do {
                try await readiness()
            } catch let refusal as Refusal {
                var error = APIError(refusal)
                error.headers.append(contentsOf: contact)
                throw error
            }
            var response = Self.json(#"{"status":"ready"}"#)
            response.headers.append(contentsOf: contact)
            return response
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: api.metrics.registry.emitToBuffer())))
        }
        let group = router.group("api/v1")
        group.post("join") { request, context in try await join(request, context) }
        Self.refuseOtherMethods(on: router, "/api/v1/join", allowed: .post)
        group.get("space") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: api.spaceBody)))
        }
        group.get("rooms/:room/messages") { request, context in try await messages(request, context) }
        group.get("rooms/:room/url") { request, context in try await roomURL(request, context) }
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
        let body: JoinRequest = try await api.decode(request)
        guard let room = RoomName(body.room) else {
            throw APIError(.badRequest, .invalidRoom, "room names are 1–64 characters from a-z A-Z 0-9 - _ . and do not start with '.'")
        }
        let grant: Grant
        if let token = request.bearerToken, let own = try? await api.authority.verifyOwn(token) {
            // A room token from an earlier join renews itself: same participant, same name and role.
            guard own.allows(room) else { throw Refusal.forbidden("the token is for another room") }
            grant = own
        } else if let token = request.bearerToken {
            do {
                grant = try await api.authority.verifyExternal(token)
            } catch {
                throw error.kind == .expired ? Refusal.tokenExpired(error.message) : Refusal.unauthorized(error.message)
            }
            guard grant.allows(room) else { throw Refusal.forbidden("the token does not grant this room") }
        } else if api.auth.guests {
            grant = Grant(participant: ParticipantID("g-" + randomID(length: 12)), name: nil, room: room, role: .member, expiresAt: .distantFuture)
        } else {
            throw Refusal.unauthorized("this server admits no guests: send 'Authorization: Bearer <token>'")
        }
        let name: String
        guard let given = grant.name ?? body.name, !given.isEmpty else {
            throw APIError(.badRequest, .invalidName, "a name is required: send {\"room\": \"…\", \"name\": \"…\"}")
        }
        switch DisplayName.check(given) {
        case .success(let checked): name = checked
        case .failure(let problem): throw APIError(.badRequest, .invalidName, problem.description)
        }
        let home = try await allocator.home(of: room, for: grant.participant, region: body.region, authority: request.head.authority)
        let bridge = try await allocator.bridge(for: room, asked: body.bridge == true, region: body.region, current: home.conference)
        let expiresAt = min(Date().addingTimeInterval(api.auth.tokenTTL), grant.expiresAt)
        let token = try await api.authority.issue(
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
        w.value(.array(api.iceServers(for: grant.participant, now: Date())))
        w.raw(",\"iceTransportPolicy\":")
        w.string(api.http.iceTransportPolicy)
        if let bridge {
            w.raw(",\"bridge\":{\"id\":")
            w.string(bridge.bridge.rawValue)
            w.raw(",\"url\":")
            w.string(bridge.url)
            w.raw("}")
        }
        w.raw("}")
        api.metrics.joinLatency.record(.now - started)  // HTTP join only; hello has its own histogram
        return Self.json(encoded: w.bytes)
    }

    // MARK: room URL

    /// `GET /api/v1/rooms/{room}/url`: the node a room lives on, placing it first if it has no home.
    private func roomURL(_ request: Request, _ context: PlazaRequestContext) async throws -> Response {
        let room = try context.room()
        let home = try await allocator.home(
            of: room, for: nil, region: request.uri.queryParameters.get("region"), authority: request.head.authority)
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
        return Self.json(encoded: w.bytes)
    }

    // MARK: history

    private func messages(_ request: Request, _ context: PlazaRequestContext) async throws -> Response {
        let room = try context.room()
        guard let token = request.bearerToken else {
            throw Refusal.unauthorized("send the room token from join as 'Authorization: Bearer <token>'")
        }
        let grant = try await api.ownGrant(token)
        guard grant.allows(room) else { throw Refusal.forbidden("the token is for another room") }
        let query = request.uri.queryParameters
        let pageLimit = api.http.historyPageLimit
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
        let history = api.history
        let (page, last) = try await storeCall(message: "history is unavailable") {
            let page: [ChatMessage] = if let before {
                try await history.messages(in: room, before: before, limit: limit)
            } else if let since {
                try await history.messages(in: room, after: since, limit: limit)
            } else {
                try await history.latestMessages(in: room, limit: limit)
            }
            return (page, try await history.lastOffset(in: room))
        }
        var w = JSONWriter(capacity: 64 + page.count * 128)
        w.raw("{\"room\":")
        w.string(room.rawValue)
        w.raw(",\"lastOffset\":")
        w.int(last)
        w.raw(",\"messages\":[")
        for (i, message) in page.enumerated() {
            if i > 0 { w.raw(",") }
            ServerFrame.writeHistoryEntry(&w, message)
        }
        w.raw("]}")
        return Self.json(encoded: w.bytes)
    }

    // MARK: helpers

    /// Answers 405 with `Allow` for the methods a route does not take (the router alone would answer 404).
    public static func refuseOtherMethods(on router: Router<PlazaRequestContext>, _ path: RouterPath, allowed: HTTPRequest.Method) {
        for method: HTTPRequest.Method in [.get, .put, .delete, .patch, .post] where method != allowed {
            router.on(path, method: method) { _, _ -> Response in
                throw APIError(
                    .methodNotAllowed, .invalidRequest, "\(path) takes \(allowed.rawValue) only", headers: [.allow: allowed.rawValue])
            }
        }
    }

    public static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    public static func json(encoded bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// An answer of the operator APIs (fleet, recordings), where Foundation's encoder is fast enough.
    public static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return json(encoded: Array(try encoder.encode(value)), status: status)
    }
}

extension APIContext {
    /// Admin endpoints want `Authorization: Bearer <auth.adminToken>`.
    public func requireAdmin(_ request: Request) throws {
        guard let token = request.bearerToken, isAdmin(token) else {
            throw Refusal.unauthorized("send the admin token as 'Authorization: Bearer <token>'")
        }
    }

    public func isAdmin(_ token: String) -> Bool { constantTimeEquals(token, adminToken) }

    /// The grant of a room token this process issued; 401 `token_expired` or `unauthorized` when it is not valid.
    public func ownGrant(_ token: String) async throws -> Grant {
        do {
            return try await authority.verifyOwn(token)
        } catch {
            throw error.kind == .expired ? Refusal.tokenExpired(error.message) : Refusal.unauthorized(error.message)
        }
    }

    /// The JSON body, at most `limits.requestBodyBytes`.
    public func decode<T: Decodable>(_ request: Request) async throws -> T {
        let limit = http.requestBodyBytes
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

extension Request {
    /// The token of an `Authorization: Bearer …` header.
    public var bearerToken: String? {
        guard let header = headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1]).trimmingCharacters(in: .whitespaces)
    }
}

extension PlazaRequestContext {
    /// The `:room` path parameter; 400 `invalid_room` when it is not a room name.
    public func room() throws -> RoomName {
        guard let parameter = parameters.get("room"), let room = RoomName(parameter) else {
            throw APIError(.badRequest, .invalidRoom, "invalid room name")
        }
        return room
    }
}
