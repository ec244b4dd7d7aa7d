import PlazaCore
public import PlazaStore
public import PlazaAuth
public import Logging
import PlazaProtocol
import Synchronization
import Foundation

/// A room server: the rooms it hosts, its store, its token authority, its metrics and its connections.
public final class PlazaNode: Sendable {
    public let configuration: PlazaConfiguration
    public let store: any PlazaStore
    public let authority: TokenAuthority
    public let metrics: PlazaMetrics
    public let logger: Logger
    /// Bearer token of the admin API.
    let adminToken: String
    /// The `iceServers` handed out by join, parsed once.
    let iceServers: [JSONValue]
    let registry: RoomRegistry
    /// Set on a fleet node (`plaza node`): its registration and the shared placement store.
    public let membership: ClusterMembership?
    /// Set on a directory (`plaza directory`): no rooms here; join places them on the fleet's nodes.
    public let directory: DirectoryRole?
    /// The map and proximity rules of this node's space (`GET /api/v1/space`).
    let space: SpaceDescription
    private let nextConnectionID = Atomic<UInt64>(1)
    private let openConnections = Mutex<[ConnectionID: OutboundQueue]>([:])

    public init(
        configuration: PlazaConfiguration, space: SpaceDescription, store: any PlazaStore, authority: TokenAuthority,
        adminToken: String, membership: ClusterMembership? = nil, directory: DirectoryRole? = nil,
        metrics: PlazaMetrics = PlazaMetrics(), logger: Logger
    ) {
        var configuration = configuration
        configuration.space.spawn = configuration.space.spawn ?? space.spawn
        self.configuration = configuration
        self.space = space
        self.store = store
        self.authority = authority
        self.adminToken = adminToken
        self.metrics = metrics
        self.logger = logger
        let ice = (try? JSONDecoder().decode(JSONValue.self, from: Data(configuration.iceServersJSON.utf8))) ?? .array([])
        if case .array(let servers) = ice { iceServers = servers } else { iceServers = [] }
        self.membership = membership
        self.directory = directory
        self.registry = RoomRegistry(store: store, membership: membership, configuration: configuration, metrics: metrics, logger: logger)
    }

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
    }

    /// Connections currently open on this node.
    public var connectionCount: Int { openConnections.withLock { $0.count } }

    /// Whether the node accepts new rooms (`/readyz`).
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
