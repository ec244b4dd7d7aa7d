public import PlazaCore
import PlazaProtocol
public import PlazaStore
public import PlazaRooms
import Hummingbird
public import ServiceLifecycle
public import NIOCore
import HummingbirdWebSocket
import HTTPTypes
public import PlazaMetrics
public import Logging
public import PlazaTLS
import Synchronization

/// A room server (`plaza serve`, `plaza node`): the rooms it hosts and the WebSocket clients connected to them,
/// with the HTTP API answering join for itself.
///
/// How it takes rooms up (`RoomClaims`: alone, or under their placement in a fleet) and what runs beside it (a
/// fleet node's heartbeat) are given by whoever composes it; the server itself has one shape.
public final class RoomServer: Sendable {
    public let configuration: RoomServerConfiguration
    public let api: APIContext
    public let registry: RoomRegistry
    public let space: SpaceConfiguration
    /// Its name in join answers (`node`): `local` on `plaza serve`, its node id in a fleet.
    public let identity: String
    let flushers = LoopFlushers()
    private let nextConnectionID = Atomic<UInt64>(1)
    private let openConnections = Mutex<[ConnectionID: OutboundQueue]>([:])
    /// Connections closed since `takeClosedCount()` last asked (memory trimming counts them).
    private let closedConnections = Atomic<Int>(0)
    /// Whether this node's last heartbeat reached the fleet's store (always, for `plaza serve`): a node that
    /// cannot renew its rooms' leases is not ready (`/readyz` 503 `store_unavailable`).
    private let storeReachable = Atomic<Bool>(true)
    /// The last heartbeat that reached the store; nil before the first, and always on `plaza serve`.
    private let storeContact = Mutex<StoreContact?>(nil)
    /// Where the rooms' conferences go, if anywhere.
    let conferenceBridge: (any ConferenceBridge)?

    public init(
        configuration: RoomServerConfiguration, api: APIContext, store: any ChatStore, claims: any RoomClaims,
        space: SpaceConfiguration, arrivals: Arrivals, zones: [Zone] = [], bridge: (any ConferenceBridge)? = nil, identity: String,
        clock: any RoomClock = SystemClock()
    ) {
        (self.configuration, self.api, self.identity, self.space) = (configuration, api, identity, space)
        conferenceBridge = bridge ?? JanusConferenceBridge(configuration.janus, owner: identity)
        let conferences = conferenceBridge.map { ConferenceSetup(bridge: $0, zones: zones, settings: space.conferencePlan) }
        registry = RoomRegistry(
            store: store, claims: claims, configuration: configuration.rooms, space: space, arrivals: arrivals,
            conferences: conferences, metrics: api.metrics, clock: clock, logger: api.logger)
    }

    /// Ends what an earlier run left on the bridge: tried at start, again after 5 s while the bridge cannot be
    /// reached, at most 6 times.
    func sweepLeftoverConferences() async {
        guard let conferenceBridge else { return }
        for attempt in 1...6 {
            do {
                let ended = try await conferenceBridge.sweep()
                if ended > 0 { logger.notice("ended conferences an earlier run left on the bridge", metadata: ["conferences": "\(ended)"]) }
                return
            } catch {
                if attempt == 6 { logger.warning("could not look for conferences an earlier run left on the bridge", metadata: ["error": "\(error)"]) }
            }
            do { try await Task.sleep(for: .seconds(5)) } catch { return }
        }
    }

    public var metrics: PlazaMetrics { api.metrics }
    public var logger: Logger { api.logger }

    /// The HTTP server (API, WebSocket, web client) then the room server's own background work, in the order a
    /// `ServiceGroup` needs them: it shuts services down in reverse, so the rooms close their sockets while the
    /// server is still up to flush them.
    public func services(
        https: CertificateService? = nil, onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> [any Service] {
        let server = HTTPServer.services(
            router: router(), http: api.http,
            webSocket: WebSocketEndpoint(path: "/ws", configuration: configuration.webSocket) { [unowned self] inbound, outbound, channel in
                await WebSocketSession(server: self, channel: channel).run(inbound: inbound, outbound: outbound)
            }, https: https, metrics: metrics, logger: logger, onServerRunning: onServerRunning)
        return server + [NodeService(server: self)]
    }

    func router() -> Router<PlazaRequestContext> {
        let router = HTTPServer.router(http: api.http, logger: logger, bridge: configuration.janus.url)
        APIRoutes(api: api, allocator: ThisNode(server: self), storeContact: { [unowned self] in self.lastStoreContact }) {
            [registry, unowned self] in
            // The store first: a node cut off from it says so even while draining (its peers ask, see
            // `HeartbeatService`).
            guard self.isStoreReachable else {
                throw Refusal.storeUnavailable("this node cannot reach the fleet's store")
            }
            if await registry.draining { throw Refusal.draining }
        }.register(on: router)
        router.get("/api/v1/rooms") { request, _ in try await self.rooms(request) }
        // The handshake itself never reaches the router (see `WebSocketEndpoint`); a plain GET does, and is told
        // what is needed rather than answered 200.
        router.get("/ws") { _, _ -> Response in
            throw APIError(
                .init(code: 426), .invalidRequest, "/ws is a WebSocket: upgrade to it (RFC 6455, version 13)",
                headers: [.upgrade: "websocket", .connection: "Upgrade", HTTPField.Name("Sec-WebSocket-Version")!: "13"])
        }
        return router
    }

    /// `GET /api/v1/rooms` (admin): the rooms loaded here with their participants and connections.
    private func rooms(_ request: Request) async throws -> Response {
        try api.requireAdmin(request)
        var entries: [(RoomName, Int, Int)] = []
        for room in await registry.loadedRooms {
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
        return APIRoutes.json(encoded: w.bytes)
    }

    // MARK: Connections

    func makeConnectionID() -> ConnectionID {
        ConnectionID(nextConnectionID.wrappingAdd(1, ordering: .relaxed).oldValue)
    }

    func opened(_ id: ConnectionID, _ queue: OutboundQueue) {
        openConnections.withLock { $0[id] = queue }
        metrics.connections.increment()
    }

    func closed(_ id: ConnectionID) {
        openConnections.withLock { $0[id] = nil }
        metrics.connections.decrement()
        closedConnections.add(1, ordering: .relaxed)
    }

    /// Connections closed since the last call.
    func takeClosedCount() -> Int { closedConnections.exchange(0, ordering: .relaxed) }

    /// Connections currently open on this server.
    public var connectionCount: Int { openConnections.withLock { $0.count } }

    /// Records whether the last heartbeat reached the store (`/readyz` says so).
    public func setStoreReachable(_ reachable: Bool) { storeReachable.store(reachable, ordering: .relaxed) }

    /// Records that a heartbeat reached the store.
    public func storeReached(_ contact: StoreContact) {
        setStoreReachable(true)
        storeContact.withLock { $0 = contact }
    }

    /// The last heartbeat that reached the store, if one has.
    var lastStoreContact: StoreContact? { storeContact.withLock { $0 } }

    /// Whether the last heartbeat reached the store.
    public var isStoreReachable: Bool { storeReachable.load(ordering: .relaxed) }

    /// Whether the server takes new rooms (`/readyz`).
    public func isReady() async -> Bool { await !registry.draining }

    /// Stops taking new rooms; rooms already here keep running.
    public func setDraining(_ draining: Bool) async { await registry.setDraining(draining) }

    /// Closes every connection with 1001 after committing and acking every accepted chat message, then waits
    /// (up to `websocket.closeTimeout`) for the sockets to go.
    func closeAllConnections() async {
        await registry.setDraining(true)
        for room in await registry.loadedRooms {
            await room.closeAll(.goingAway, reason: "server shutting down")
        }
        // Connections still saying hello belong to no room yet.
        for queue in openConnections.withLock({ Array($0.values) }) {
            queue.close(.goingAway, reason: "server shutting down")
        }
        let deadline = ContinuousClock.now + .seconds(configuration.webSocket.closeTimeout)
        while connectionCount > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// A room server answering join for itself: the room is here if it can host it (and the joiner fits in it).
struct ThisNode: RoomAllocator {
    let server: RoomServer

    func home(of room: RoomName, for participant: ParticipantID?, region: String?, authority: String?) async throws -> RoomHome {
        switch await server.registry.canHost(room) {
        case .failure(let refusal): throw refusal
        case .success(let loaded?):
            if let participant, await !loaded.admits(participant) { throw Refusal.roomFull }
        case .success(nil): break
        }
        // `server.publicURL` when set; otherwise the address the caller used (its `Host` header).
        let http = server.api.http
        let base = http.publicURL ?? (http.tls.isEnabled ? "https://" : "http://") + (authority ?? "\(http.host):\(http.port)")
        return RoomHome(node: server.identity, url: base)
    }
}
