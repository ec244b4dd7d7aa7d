// The composition roots: how each role a process can run is put together from the modules — the stores it
// opens (by URL, SQLite or PostgreSQL), its secrets, its map, its server and the services beside it. Imported
// only by the `plaza` executable and by the test harness, which starts the same roles in-process; no library
// of Plaza depends on it, and it is the only module that knows both store engines.

public import PlazaCore
public import PlazaStore
import PlazaFleetModel
import PlazaPlacement
public import PlazaRooms
public import PlazaTransport
public import PlazaDirectory
import PlazaAuth
import PlazaMetrics
public import ServiceLifecycle
public import UnixSignals
public import NIOCore
public import Logging
import PlazaSQLite
import PlazaPostgres
import PlazaWebClient
import PlazaTLS
import Foundation

/// A role ready to run: its server and the services beside it, and the store it opened, which is closed once
/// they have stopped.
public struct Launch: Sendable {
    /// The store the role opened.
    public let store: any SharedStore
    /// The room server, for a role that hosts rooms (`plaza serve`, `plaza node`).
    public let roomServer: RoomServer?
    /// The directory, for a role that places rooms (`plaza directory`, `plaza serve --pools`).
    public let directory: DirectoryServer?
    private let services: @Sendable (@escaping @Sendable (any Channel) async -> Void) -> [any Service]

    init(
        store: any SharedStore, roomServer: RoomServer? = nil, directory: DirectoryServer? = nil,
        services: @escaping @Sendable (@escaping @Sendable (any Channel) async -> Void) -> [any Service]
    ) {
        (self.store, self.roomServer, self.directory, self.services) = (store, roomServer, directory, services)
    }

    /// The role's services and `others` in one group; on graceful shutdown (one of `signals`) the room server
    /// closes its connections (1001, after flushing) before its HTTP server stops. `onServerRunning` gets the
    /// listening channel.
    public func serviceGroup(
        others: [any Service] = [], signals: [UnixSignal] = [.sigterm, .sigint], logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> ServiceGroup {
        ServiceGroup(
            configuration: .init(services: services(onServerRunning) + others, gracefulShutdownSignals: signals, logger: logger))
    }
}

/// Building each role.
public enum Roles {
    /// `plaza serve`: a room server hosting every room alone, on the embedded store and secrets of `dataDir`.
    public static func serve(_ configuration: PlazaConfiguration, logger: Logger) async throws -> Launch {
        let metrics = PlazaMetrics()
        let https = try certificateService(configuration, metrics: metrics, logger: logger)
        let data = try await DataDirectory.open(configuration, logger: logger)
        let api = try await apiContext(
            configuration, data.map, authority: data.authority, adminToken: data.adminToken, history: data.store, metrics: metrics, logger: logger)
        let server = roomServer(configuration, api: api, map: data.map, store: data.store, claims: SoleHost(), identity: "local")
        return Launch(store: data.store, roomServer: server) { server.services(https: https, onServerRunning: $0) }
    }

    /// `plaza node`: a room server of a fleet, taking rooms up under their placement in the shared store.
    public static func node(_ configuration: PlazaConfiguration, logger: Logger) async throws -> Launch {
        guard let publicURL = configuration.http.publicURL else {
            throw ConfigurationError(key: "server.publicURL", message: "is needed: the address clients reach this node at")
        }
        let metrics = PlazaMetrics()
        let https = try certificateService(configuration, metrics: metrics, logger: logger)
        let shared = try await SharedProcess.open(configuration, logger: logger)
        let node = configuration.roomServer
        let registration = NodeRegistration(
            id: NodeID(node.nodeID ?? "\(ProcessInfo.processInfo.hostName)-\(configuration.http.port)"), url: publicURL,
            region: node.region, capacity: node.capacity)
        let claims = FleetClaims(
            placements: shared.store, node: registration.id, leaseTTL: .seconds(fromConfiguration: node.leaseTTL))
        let api = try await apiContext(
            configuration, shared.map, authority: shared.authority, adminToken: shared.adminToken, history: shared.store, metrics: metrics,
            logger: logger)
        // Conferences on the configured Janus, or else, with the Admin API's secret, on the fleet's registered ones.
        let directory = configuration.directory
        let fleetBridges = JanusConferenceBridge.FleetBridges(
            media: shared.store, registry: shared.store,
            policy: PlacementPolicy(
                heartbeatTTL: Int64(directory.heartbeatTTL * 1000), participantsPerNewRoom: directory.participantsPerNewRoom),
            participantCap: directory.media.bridgeParticipantCap, leaseTTL: Int64(directory.media.bridgeLeaseTTL * 1000),
            region: node.region)
        let server = roomServer(
            configuration, api: api, map: shared.map, store: shared.store, claims: claims, identity: registration.id.rawValue,
            bridge: JanusConferenceBridge(node.janus, fleet: fleetBridges, owner: registration.id.rawValue))
        let listening = ListeningFlag()
        let heartbeat = HeartbeatService(
            server: server, registry: shared.store, placements: shared.store, registration: registration,
            leaseTTL: .seconds(fromConfiguration: node.leaseTTL), interval: .seconds(fromConfiguration: node.heartbeatInterval),
            heartbeatTTL: .seconds(fromConfiguration: configuration.directory.heartbeatTTL), listening: listening)
        return Launch(store: shared.store, roomServer: server) { onServerRunning in
            server.services(https: https, onServerRunning: { channel in
                listening.set()
                await onServerRunning(channel)
            }) + [heartbeat]
        }
    }

    /// `plaza directory`: the join and admin API of a fleet over the shared store.
    public static func directory(_ configuration: PlazaConfiguration, logger: Logger) async throws -> Launch {
        let metrics = PlazaMetrics()
        let https = try certificateService(configuration, metrics: metrics, logger: logger)
        let shared = try await SharedProcess.open(configuration, logger: logger)
        let api = try await apiContext(
            configuration, shared.map, authority: shared.authority, adminToken: shared.adminToken, history: shared.store, metrics: metrics,
            logger: logger)
        let directory = DirectoryServer(
            configuration: configuration.directory, api: api, store: shared.store, bridge: configuration.roomServer.janus.url)
        return Launch(store: shared.store, directory: directory) { directory.services(https: https, onServerRunning: $0) }
    }

    /// `plaza serve --pools`: the embedded store and secrets of `plaza serve`, with this process as the directory
    /// of the room servers its autoscaler launches on this machine. They open the same SQLite file, which is the
    /// registry, the placements and the chat history of this fleet of one machine.
    /// With `bridges` (a `janus` pool), the Janus admin secret and VideoRoom admin key are handed to every instance
    /// too (configured, or generated in the data directory the first time): the Janus instances are started with
    /// them and the room servers put conferences on those bridges with them.
    public static func embeddedFleet(
        _ configuration: PlazaConfiguration, configFile: String?, bridges: Bool = false, logger: Logger
    ) async throws -> EmbeddedFleet {
        let metrics = PlazaMetrics()
        let https = try certificateService(configuration, metrics: metrics, logger: logger)
        let data = try await DataDirectory.open(configuration, logger: logger)
        func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
        var environment = ["PLAZA_AUTH_SECRET": data.secret, "PLAZA_LOG_LEVEL": configuration.logLevel]
        if !configuration.auth.previousSecrets.isEmpty {
            environment["PLAZA_AUTH_PREVIOUS_SECRETS"] = configuration.auth.previousSecrets.joined(separator: ",")
        }
        environment["PLAZA_CONFIG"] = configFile.map(absolute)
        environment["PLAZA_SPACE_MAP"] = configuration.space.map.map(absolute)
        if bridges {
            let directory = URL(fileURLWithPath: configuration.dataDirectory, isDirectory: true).standardizedFileURL
            let janus = configuration.roomServer.janus
            environment["PLAZA_MEDIA_JANUS_ADMIN_SECRET"] =
                try janus.adminSecret ?? DataDirectory.loadOrCreateSecret(directory.appendingPathComponent("janus-admin-secret"))
            environment["PLAZA_MEDIA_JANUS_ROOM_ADMIN_KEY"] =
                try janus.roomAdminKey ?? DataDirectory.loadOrCreateSecret(directory.appendingPathComponent("janus-room-admin-key"))
        }
        let api = try await apiContext(
            configuration, data.map, authority: data.authority, adminToken: data.adminToken, history: data.store, metrics: metrics, logger: logger)
        let directory = DirectoryServer(
            configuration: configuration.directory, api: api, store: data.store, bridge: configuration.roomServer.janus.url)
        return EmbeddedFleet(
            launch: Launch(store: data.store, directory: directory) { directory.services(https: https, onServerRunning: $0) },
            storeLocation: "sqlite:" + data.storePath, instanceEnvironment: environment)
    }

    private static func apiContext(
        _ configuration: PlazaConfiguration, _ map: MapFile, authority: TokenAuthority, adminToken: String, history: any ChatStore,
        metrics: PlazaMetrics, logger: Logger
    ) async throws -> APIContext {
        APIContext(
            http: configuration.http, auth: configuration.auth, space: configuration.space, map: map, authority: authority,
            adminToken: adminToken, history: history, metrics: metrics, logger: logger)
    }

    /// The certificate service of a role that serves HTTPS (`tls.*`), ready before anything is opened: broken
    /// certificate files stop the start with the file's name.
    static func certificateService(_ configuration: PlazaConfiguration, metrics: PlazaMetrics, logger: Logger) throws -> CertificateService? {
        guard configuration.http.tls.isEnabled else { return nil }
        let expiry = metrics.tlsCertificateExpiry()
        return try CertificateService(settings: configuration.http.tls, dataDirectory: configuration.dataDirectory, logger: logger) { pair in
            expiry.set(pair.notAfter)
        }
    }

    private static func roomServer(
        _ configuration: PlazaConfiguration, api: APIContext, map: MapFile, store: any ChatStore, claims: any RoomClaims,
        identity: String, bridge: (any ConferenceBridge)? = nil
    ) -> RoomServer {
        RoomServer(
            configuration: configuration.roomServer, api: api, store: store, claims: claims, space: configuration.space,
            arrivals: Arrivals(spawn: configuration.space.spawn ?? map.spawn, ground: map.ground), zones: map.zones,
            bridge: bridge, identity: identity)
    }

    /// The map at `space.map`, or the built-in one.
    public static func map(_ configuration: PlazaConfiguration) throws(ConfigurationError) -> MapFile {
        try MapFile.load(path: configuration.space.map ?? WebClientFiles.defaultMap)
    }
}

/// `plaza serve --pools`: the directory of this machine's fleet, and what its room servers are handed.
public struct EmbeddedFleet: Sendable {
    public let launch: Launch
    /// `sqlite:<absolute path>`: the room servers' `--store`.
    public let storeLocation: String
    /// What a room server needs of this process's settings, as `PLAZA_*` variables: the token secret (joins
    /// answered here are verified there), and the configuration file, map and log level when they are set.
    public let instanceEnvironment: [String: String]
}

/// What `dataDir` holds: the SQLite store, the token secret and the admin token (each generated the first time,
/// unless configured), with the map and token authority built from them.
struct DataDirectory {
    var map: MapFile
    var store: SQLiteStore
    var storePath: String
    var secret: String
    var adminToken: String
    var authority: TokenAuthority

    static func open(_ configuration: PlazaConfiguration, logger: Logger) async throws -> DataDirectory {
        let directory = URL(fileURLWithPath: configuration.dataDirectory, isDirectory: true).standardizedFileURL
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let map = try Roles.map(configuration)
        let storePath = directory.appendingPathComponent("plaza.sqlite").path
        let secret = try configuration.auth.secret ?? loadOrCreateSecret(directory.appendingPathComponent("secret"))
        let adminToken = try configuration.auth.adminToken ?? loadOrCreateSecret(directory.appendingPathComponent("admin-token"))
        let authority = try await TokenAuthority(
            secret: secret, previousSecrets: configuration.auth.previousSecrets, external: try externalKeys(configuration.auth))
        let store = try await SQLiteStore.open(path: storePath, logger: logger)
        return DataDirectory(map: map, store: store, storePath: storePath, secret: secret, adminToken: adminToken, authority: authority)
    }

    /// Reads a secret file, or writes a new random one (mode 0600) the first time.
    static func loadOrCreateSecret(_ url: URL) throws -> String {
        if let existing = try? String(contentsOf: url, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
            existing.utf8.count >= 32
        {
            return existing
        }
        let secret = randomSecret()
        _ = FileManager.default.createFile(atPath: url.path, contents: Data(secret.utf8), attributes: [.posixPermissions: 0o600])
        return secret
    }
}

/// The external auth service's keys, read from the files `auth.jwt.*` names.
func externalKeys(_ auth: AuthConfiguration) throws -> TokenAuthority.ExternalKeys {
    func read(_ path: String?) throws -> String? {
        guard let path else { return nil }
        return try String(contentsOfFile: path, encoding: .utf8)
    }
    return TokenAuthority.ExternalKeys(
        hmacSecret: auth.externalHMACSecret, publicKeyPEM: try read(auth.externalPublicKeyFile), jwksJSON: try read(auth.externalJWKSFile))
}

/// What every process of a fleet opens the same way: the map, the shared store and the shared secret.
struct SharedProcess {
    var map: MapFile
    var store: any SharedStore
    var authority: TokenAuthority
    /// `auth.adminToken`, or an unguessable one nobody knows: a fleet process has no data directory to keep a
    /// generated token in, so its admin API stays closed until the key is set.
    var adminToken: String

    static func open(_ configuration: PlazaConfiguration, logger: Logger) async throws -> SharedProcess {
        guard let location = configuration.store else {
            throw ConfigurationError(key: "store", message: "is needed: postgres://… (or sqlite:<path> on one machine)")
        }
        guard let secret = configuration.auth.secret else {
            throw ConfigurationError(key: "auth.secret", message: "is needed: every node and directory of a fleet shares it")
        }
        let map = try Roles.map(configuration)
        let authority = try await TokenAuthority(
            secret: secret, previousSecrets: configuration.auth.previousSecrets, external: try externalKeys(configuration.auth))
        let store = try await SharedStores.open(location, timeout: .seconds(fromConfiguration: configuration.storeTimeout), logger: logger)
        return SharedProcess(
            map: map, store: store, authority: authority,
            adminToken: configuration.auth.adminToken ?? UUID().uuidString + UUID().uuidString)
    }
}

/// The shared store a `store` setting names.
public enum SharedStores {
    /// `postgres://user:password@host:5432/database` for a fleet of machines; `sqlite:<path>` for the processes of
    /// one machine sharing one database file (what `plaza serve --pools` hands the room servers it launches).
    /// A PostgreSQL store's every call answers within `timeout` (`limits.storeTimeout`).
    public static func open(_ location: String, timeout: Duration = .seconds(3), logger: Logger) async throws -> any SharedStore {
        if location.hasPrefix("sqlite:") {
            let path = String(location.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw StoreError(.unavailable, "a SQLite store looks like sqlite:/path/to/plaza.sqlite") }
            return try await SQLiteStore.open(path: path, logger: logger)
        }
        return try await PostgresStore.open(url: location, timeout: timeout, logger: logger)
    }
}
