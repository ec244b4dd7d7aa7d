public import Hummingbird
public import HummingbirdWebSocket
import HummingbirdCore
public import ServiceLifecycle
public import Logging
public import UnixSignals
public import NIOCore
import PlazaCore
public import PlazaStore
import PlazaPostgres
import PlazaPlacement
import PlazaAuth
import Foundation

/// The request context of every Plaza route: Hummingbird's core context plus the channel, so a session can
/// drop a socket that will not take a close frame.
public struct PlazaRequestContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<Self>
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        channel = source.channel
    }
}

/// Assembles and runs a Plaza node: HTTP API and WebSocket on Hummingbird, plus the node's services.
public enum PlazaApplication {
    /// The Hummingbird application serving `node`.
    public static func make(
        node: PlazaNode, onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let configuration = node.configuration
        let router = Router(context: PlazaRequestContext.self)
        let web = WebClient(root: configuration.web.root ?? WebClient.bundledRoot)
        router.add(middleware: APIErrorMiddleware())
        router.add(middleware: web.fileMiddleware(logger: node.logger))
        APIRoutes(node: node).register(on: router)
        web.register(on: router)
        if node.directory == nil {
            router.ws("/ws") { _, _ in
                .upgrade([:])
            } onUpgrade: { inbound, outbound, context in
                await WebSocketSession(node: node, channel: context.requestContext.channel).run(inbound: inbound, outbound: outbound)
            }
        }
        let webSocket = WebSocketServerConfiguration(
            maxFrameSize: configuration.limits.frameBytes,
            autoPing: .enabled(timePeriod: .milliseconds(Int64(configuration.webSocket.pingInterval * 1000))),
            closeTimeout: .milliseconds(Int64(configuration.webSocket.closeTimeout * 1000))
        )
        return Application(
            router: router,
            server: HTTPServerBuilder.http1WebSocketUpgrade(webSocketRouter: router, configuration: .init(http1: .init(), ws: webSocket)),
            configuration: .init(
                address: .hostname(configuration.server.host, port: configuration.server.port), serverName: nil,
                backlog: configuration.server.backlog),
            onServerRunning: onServerRunning,
            logger: node.logger
        )
    }

    /// A service group running `node`'s HTTP server, its background services and `others` (the autoscaler of
    /// `plaza serve --pools`); on graceful shutdown the connections are closed (1001, after flushing) before the
    /// server stops.
    public static func serviceGroup(
        node: PlazaNode, others: [any Service] = [], signals: [UnixSignal] = [.sigterm, .sigint],
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> ServiceGroup {
        let app = make(node: node, onServerRunning: onServerRunning)
        var services: [any Service] = [app] + others
        if node.directory == nil { services.append(NodeService(node: node)) }
        if let membership = node.membership { services.append(HeartbeatService(node: node, membership: membership)) }
        if let prometheus = node.directory?.prometheus { services.append(prometheus) }
        return ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: signals, logger: node.logger))
    }
}

/// Opening the embedded store and secrets under a data directory, as `plaza serve` does.
public enum EmbeddedNode {
    /// Opens (creating if needed) `dataDir`, its SQLite store and its generated secrets, and builds the node.
    public static func open(configuration: PlazaConfiguration, logger: Logger) async throws -> PlazaNode {
        let data = try await DataDirectory.open(configuration: configuration, logger: logger)
        return PlazaNode(
            configuration: configuration, space: data.space, store: data.store, authority: data.authority,
            adminToken: data.adminToken, logger: logger)
    }

    /// What `dataDir` holds: the SQLite store, the token secret and the admin token (each generated the first
    /// time, unless configured), with the map and token authority built from them.
    struct DataDirectory {
        var space: SpaceDescription
        var store: SQLiteStore
        var storePath: String
        var secret: String
        var adminToken: String
        var authority: TokenAuthority

        static func open(configuration: PlazaConfiguration, logger: Logger) async throws -> DataDirectory {
            let directory = URL(fileURLWithPath: configuration.dataDirectory, isDirectory: true).standardizedFileURL
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let space = try SpaceDescription.load(configuration)
            let storePath = directory.appendingPathComponent("plaza.sqlite").path
            let store = try await SQLiteStore.open(path: storePath, logger: logger)
            let secret = try configuration.auth.secret ?? loadOrCreateSecret(directory.appendingPathComponent("secret"))
            let adminToken = try configuration.auth.adminToken ?? loadOrCreateSecret(directory.appendingPathComponent("admin-token"))
            let authority = try await TokenAuthority(secret: secret, external: try externalKeys(configuration.auth))
            return DataDirectory(
                space: space, store: store, storePath: storePath, secret: secret, adminToken: adminToken, authority: authority)
        }
    }

    static func externalKeys(_ auth: PlazaConfiguration.Auth) throws -> TokenAuthority.ExternalKeys {
        func read(_ path: String?) throws -> String? {
            guard let path else { return nil }
            return try String(contentsOfFile: path, encoding: .utf8)
        }
        return TokenAuthority.ExternalKeys(
            hmacSecret: auth.externalHMACSecret, publicKeyPEM: try read(auth.externalPublicKeyFile),
            jwksJSON: try read(auth.externalJWKSFile))
    }

    /// Reads a secret file, or writes a new random one (mode 0600) the first time.
    static func loadOrCreateSecret(_ url: URL) throws -> String {
        if let existing = try? String(contentsOf: url, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
            existing.utf8.count >= 32
        {
            return existing
        }
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let secret = bytes.map { String(format: "%02x", $0) }.joined()
        _ = FileManager.default.createFile(atPath: url.path, contents: Data(secret.utf8), attributes: [.posixPermissions: 0o600])
        return secret
    }
}

/// A fleet node (`plaza node`): rooms stored in the shared PostgreSQL store, taken up only under their
/// placement, with writes fenced by the placement's epoch.
public enum ClusterNode {
    /// Connects to `store`, checks what a fleet needs (a shared `auth.secret`, a `server.publicURL` clients can
    /// reach) and builds the node with its membership.
    public static func open(configuration: PlazaConfiguration, logger: Logger) async throws -> PlazaNode {
        guard let publicURL = configuration.server.publicURL else {
            throw ConfigurationError(key: "server.publicURL", message: "is needed: the address clients reach this node at")
        }
        let (space, store, authority) = try await FleetProcess.open(configuration: configuration, logger: logger)
        let cluster = configuration.cluster
        let hostName = ProcessInfo.processInfo.hostName
        let registration = NodeRegistration(
            id: cluster.nodeID ?? "\(hostName)-\(configuration.server.port)", url: publicURL, region: cluster.region,
            capacity: cluster.capacity)
        let membership = ClusterMembership(
            placements: store, registration: registration, leaseTTL: .milliseconds(Int64(cluster.leaseTTL * 1000)),
            heartbeatInterval: .milliseconds(Int64(cluster.heartbeatInterval * 1000)))
        return PlazaNode(
            configuration: configuration, space: space, store: store, authority: authority,
            adminToken: FleetProcess.adminToken(configuration), membership: membership, logger: logger)
    }
}

/// A directory (`plaza directory`): the join and admin API of a fleet, stateless over the shared store, so any
/// number of them can run behind a load balancer.
public enum Directory {
    public static func open(configuration: PlazaConfiguration, logger: Logger) async throws -> PlazaNode {
        let (space, store, authority) = try await FleetProcess.open(configuration: configuration, logger: logger)
        return PlazaNode(
            configuration: configuration, space: space, store: store, authority: authority,
            adminToken: FleetProcess.adminToken(configuration),
            directory: DirectoryRole(configuration: configuration, store: store, logger: logger), logger: logger)
    }
}

extension DirectoryRole {
    /// A directory over `store` with the `cluster` settings.
    init(configuration: PlazaConfiguration, store: any SharedStore, logger: Logger) {
        let cluster = configuration.cluster
        self.init(
            placements: store, fleet: store, media: store,
            policy: PlacementPolicy(
                heartbeatTTL: Int64(cluster.heartbeatTTL * 1000), participantsPerNewRoom: cluster.participantsPerNewRoom),
            leaseTTL: .milliseconds(Int64(cluster.leaseTTL * 1000)),
            prometheus: cluster.loadSource == .prometheus
                ? cluster.prometheusURL.map { PrometheusLoadSource(cluster: cluster, baseURL: $0, logger: logger) } : nil)
    }
}

/// `plaza serve --pools`: the embedded store and secrets of `plaza serve`, with this process as the directory of
/// the room servers its autoscaler launches on this machine. They open the same SQLite file, which is the
/// registry, the placements and the chat history of this fleet of one machine.
public struct EmbeddedFleet: Sendable {
    /// This process: a directory (join places each room on a room server) over the embedded store.
    public let node: PlazaNode
    public let store: any SharedStore
    /// `sqlite:<absolute path>`: the room servers' `--store`.
    public let storeLocation: String
    /// What a room server needs of this process's settings, as `PLAZA_*` variables: the token secret (joins
    /// answered here are verified there), and the configuration file, map and log level when they are set.
    public let instanceEnvironment: [String: String]

    /// `configFile` is the `--config` file, handed on to the room servers.
    public static func open(configuration: PlazaConfiguration, configFile: String?, logger: Logger) async throws -> EmbeddedFleet {
        let data = try await EmbeddedNode.DataDirectory.open(configuration: configuration, logger: logger)
        func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
        var environment = ["PLAZA_AUTH_SECRET": data.secret, "PLAZA_LOG_LEVEL": configuration.logLevel]
        environment["PLAZA_CONFIG"] = configFile.map(absolute)
        environment["PLAZA_SPACE_MAP"] = configuration.space.map.map(absolute)
        let node = PlazaNode(
            configuration: configuration, space: data.space, store: data.store, authority: data.authority,
            adminToken: data.adminToken, directory: DirectoryRole(configuration: configuration, store: data.store, logger: logger),
            logger: logger)
        return EmbeddedFleet(node: node, store: data.store, storeLocation: "sqlite:" + data.storePath, instanceEnvironment: environment)
    }
}

/// What every process of a fleet opens the same way: the map, the shared store and the shared secret.
enum FleetProcess {
    static func open(
        configuration: PlazaConfiguration, logger: Logger
    ) async throws -> (SpaceDescription, any SharedStore, TokenAuthority) {
        guard let location = configuration.store else {
            throw ConfigurationError(key: "store", message: "is needed: postgres://… (or sqlite:<path> on one machine)")
        }
        guard let secret = configuration.auth.secret else {
            throw ConfigurationError(key: "auth.secret", message: "is needed: every node and directory of a fleet shares it")
        }
        let space = try SpaceDescription.load(configuration)
        let store = try await SharedStores.open(location, logger: logger)
        let authority = try await TokenAuthority(secret: secret, external: try EmbeddedNode.externalKeys(configuration.auth))
        return (space, store, authority)
    }

    /// `auth.adminToken`, or an unguessable one nobody knows: a fleet process has no data directory to keep a
    /// generated token in, so its admin API stays closed until the key is set.
    static func adminToken(_ configuration: PlazaConfiguration) -> String {
        configuration.auth.adminToken ?? UUID().uuidString + UUID().uuidString
    }
}

/// The shared store a `store` setting names.
public enum SharedStores {
    /// `postgres://user:password@host:5432/database` for a fleet of machines; `sqlite:<path>` for the processes
    /// of one machine sharing one database file (what `plaza serve --pools` hands the room servers it launches).
    public static func open(_ location: String, logger: Logger) async throws -> any SharedStore {
        if location.hasPrefix("sqlite:") {
            let path = String(location.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw StoreError(.unavailable, "a SQLite store looks like sqlite:/path/to/plaza.sqlite") }
            return try await SQLiteStore.open(path: path, logger: logger)
        }
        return try await PostgresStore.open(url: location, logger: logger)
    }
}
