public import Configuration
import PlazaCore
import PlazaDirectory

/// Every key Plaza reads, in one table: its name and where its value goes in the configuration tree. Each
/// component's type documents its keys and defaults at its properties; reading them all happens here, the same
/// way for every subcommand, so no command reads a setting of its own.
extension PlazaConfiguration {
    /// One key: its name and how its value is read into the tree (keeping the default when the key is absent).
    struct Key: Sendable {
        let name: String
        let read: @Sendable (ConfigReader, inout PlazaConfiguration) -> Void
    }

    /// Reads every key from `reader`, falling back to the defaults.
    public init(reader: ConfigReader) {
        self.init()
        for key in Self.keys { key.read(reader, &self) }
    }

    /// The name of every key, as the README's configuration table lists them.
    public static var keyNames: [String] { keys.map(\.name) }

    static let keys: [Key] = [
        .string("dataDir", \.dataDirectory),
        .optional("store", \.store, secret: true),
        .double("limits.storeTimeout", \.storeTimeout),
        .string("log.level", \.logLevel),
        .string("directory", \.directoryURL),

        .string("server.host", \.http.host),
        .int("server.port", \.http.port),
        .optional("server.publicURL", \.http.publicURL),
        .int("server.backlog", \.http.backlog),
        .int("limits.requestBodyBytes", \.http.requestBodyBytes),
        .optional("web.root", \.http.webRoot),
        .string("ice.servers", \.http.iceServersJSON),
        .string("ice.transportPolicy", \.http.iceTransportPolicy),
        .list("turn.urls", \.http.turn.urls),
        .optional("turn.secret", \.http.turn.secret, secret: true),
        .double("turn.ttl", \.http.turn.ttl),
        .optional("tls.certificate", \.http.tls.certificate),
        .optional("tls.key", \.http.tls.key),
        .list("tls.domains", \.http.tls.domains),
        .string("tls.acmeDirectory", \.http.tls.acmeDirectory),
        .optional("tls.acmeEmail", \.http.tls.acmeEmail),
        .optional("tls.acmeCA", \.http.tls.acmeCA),
        .string("tls.challenge", \.http.tls.challenge),
        .int("tls.httpPort", \.http.tls.httpPort),
        .double("tls.reloadInterval", \.http.tls.reloadInterval),
        .int("tls.hstsMaxAge", \.http.tls.hstsMaxAge),
        .int("chat.historyPageLimit", \.http.historyPageLimit),
        .double("http.headerTimeout", \.http.headerTimeout),
        .double("http.idleTimeout", \.http.idleTimeout),
        .int("limits.headerBytes", \.http.headerBytes),
        .int("limits.headerCount", \.http.headerCount),
        .int("limits.urlBytes", \.http.urlBytes),
        .int("limits.connectionsPerAddress", \.http.connectionsPerAddress),
        .list("http.trustedProxies", \.http.trustedProxies),

        .bool("auth.guests", \.auth.guests),
        .optional("auth.secret", \.auth.secret, secret: true),
        .list("auth.previousSecrets", \.auth.previousSecrets, secret: true),
        .double("auth.tokenTTL", \.auth.tokenTTL),
        .optional("auth.adminToken", \.auth.adminToken, secret: true),
        .optional("auth.jwt.hmacSecret", \.auth.externalHMACSecret, secret: true),
        .optional("auth.jwt.publicKeyFile", \.auth.externalPublicKeyFile),
        .optional("auth.jwt.jwksFile", \.auth.externalJWKSFile),

        .double("space.tickHz", \.space.tickHz),
        .double("space.cellSize", \.space.cellSize),
        .int("space.interestRadius", \.space.interestRadius),
        .optional("space.map", \.space.map),
        .double("space.proximityRadius", \.space.proximityRadius),
        .int("space.maxPeers", \.space.maxPeers),
        .int("space.p2pMax", \.space.p2pMax),
        .double("space.bridgeHysteresis", \.space.bridgeHysteresis),
        .optional("media.janusURL", \.roomServer.janus.url),
        .optional("media.janusAdminURL", \.roomServer.janus.adminURL),
        .optional("media.janusAdminSecret", \.roomServer.janus.adminSecret, secret: true),
        .optional("media.janusRoomAdminKey", \.roomServer.janus.roomAdminKey, secret: true),
        .int("media.janusBitrate", \.roomServer.janus.bitrate),

        .double("websocket.helloTimeout", \.roomServer.webSocket.helloTimeout),
        .double("websocket.pingInterval", \.roomServer.webSocket.pingInterval),
        .double("websocket.closeTimeout", \.roomServer.webSocket.closeTimeout),
        .int("limits.frameBytes", \.roomServer.webSocket.frameBytes),
        .double("limits.framesPerSecond", \.roomServer.webSocket.framesPerSecond),
        .double("limits.frameBurst", \.roomServer.webSocket.frameBurst),
        .int("limits.floodClose", \.roomServer.webSocket.floodClose),
        .int("limits.outboundQueueBytes", \.roomServer.webSocket.outboundQueueBytes),
        .int("limits.socketSendBuffer", \.roomServer.webSocket.socketSendBuffer),
        .double("limits.slowConsumerSeconds", \.roomServer.webSocket.slowConsumerSeconds),
        .int("limits.participantsPerRoom", \.roomServer.rooms.limits.participantsPerRoom),
        .int("limits.connectionsPerParticipant", \.roomServer.rooms.limits.connectionsPerParticipant),
        .int("limits.chatTextLength", \.roomServer.rooms.limits.chatTextLength),
        .int("limits.messageIDLength", \.roomServer.rooms.limits.messageIDLength),
        .int("limits.roomsPerNode", \.roomServer.rooms.roomsPerNode),
        .int("chat.resumeWindow", \.roomServer.rooms.resumeWindow),
        .double("rooms.idleUnload", \.roomServer.rooms.idleUnload),
        .optional("cluster.nodeID", \.roomServer.nodeID),
        .string("cluster.region", \.roomServer.region),
        .int("cluster.capacity", \.roomServer.capacity),
        .double("cluster.heartbeatInterval", \.roomServer.heartbeatInterval),
        // One lease for both sides: how long a node holds a room, and how long a new placement waits for it.
        .double("cluster.leaseTTL", \.roomServer.leaseTTL),
        .double("cluster.leaseTTL", \.directory.leaseTTL),

        .double("cluster.heartbeatTTL", \.directory.heartbeatTTL),
        .int("cluster.participantsPerNewRoom", \.directory.participantsPerNewRoom),
        .optional("cluster.prometheusURL", \.directory.prometheusURL),
        .double("cluster.prometheusInterval", \.directory.prometheusInterval),
        .double("cluster.prometheusLag", \.directory.prometheusLag),
        .string("cluster.prometheusParticipantsQuery", \.directory.prometheusParticipantsQuery),
        .string("cluster.prometheusCPUQuery", \.directory.prometheusCPUQuery),
        .int("media.bridgeParticipantCap", \.directory.media.bridgeParticipantCap),
        .double("media.bridgeLeaseTTL", \.directory.media.bridgeLeaseTTL),
        .int("media.retryAfter", \.directory.media.retryAfter),
        .int("limits.fleetActivitiesPage", \.directory.fleetActivitiesPage),

        .optional("autoscaler.pools", \.autoscaler.pools),
        .optional("autoscaler.id", \.autoscaler.id),
        .double("autoscaler.leaseTTL", \.autoscaler.leaseTTL),
        .string("autoscaler.stateDirectory", \.autoscaler.stateDirectory),
        .double("autoscaler.retention", \.autoscaler.retention),

        .optional("instanceID", \.agent.instanceID),
        .optional("agent.api", \.agent.api),
        .optional("agent.internalAPI", \.agent.internalAPI),
        .optional("agent.adminSecret", \.agent.adminSecret, secret: true),
        .optional("agent.callBaseURL", \.agent.callBaseURL),
        .optional("agent.publicURL", \.agent.publicURL),
        .string("cluster.region", \.agent.region),
        .double("agent.interval", \.agent.interval),

        .string("janus.executable", \.janus.executable),
        .string("janus.host", \.janus.host),
        .int("janus.port", \.janus.port),
        .string("janus.adminHost", \.janus.adminHost),
        .int("janus.adminPort", \.janus.adminPort),
        .string("janus.rtpPorts", \.janus.rtpPorts),
        .optional("janus.iceInterfaces", \.janus.iceInterfaces),
        .optional("janus.publicIP", \.janus.publicIP),
        .optional("janus.folder", \.janus.folder),

        // Keys read in a way of their own (below).
        Key(name: "space.spawnX, space.spawnY", read: readSpawn),
        Key(name: "cluster.loadSource", read: readLoadSource),
        Key(name: "media.bridgeRooms", read: readBridgeRooms),
        Key(name: "media.bridgeKind", read: readBridgeKind),
        Key(name: "agent.kind", read: readAgentKind),
        Key(name: "cluster.capacity", read: readAgentCapacity),
        Key(name: "limits.connections", read: readConnections),
        Key(name: "server.port", read: readHTTPSPort),
    ]
}

extension PlazaConfiguration {
    /// `space.spawnX` and `space.spawnY` together, or neither.
    private static func readSpawn(_ reader: ConfigReader, _ configuration: inout PlazaConfiguration) {
        guard let x = reader.double(forKey: "space.spawnX"), let y = reader.double(forKey: "space.spawnY") else { return }
        configuration.space.spawn = Position(x: x, y: y)
    }

    private static func readLoadSource(_ reader: ConfigReader, _ configuration: inout PlazaConfiguration) {
        let source = configuration.directory.loadSource.rawValue
        configuration.directory.setLoadSource(reader.string(forKey: "cluster.loadSource", default: source))
    }

    /// A comma-separated list in one string (an environment variable holds no array).
    private static func readBridgeRooms(_ reader: ConfigReader, _ configuration: inout PlazaConfiguration) {
        let list = reader.string(forKey: "media.bridgeRooms", default: "").split(separator: ",")
        configuration.directory.media.bridgeRooms = list.map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
    }

    private static func readBridgeKind(_ reader: ConfigReader, _ configuration: inout PlazaConfiguration) {
        let kind = configuration.directory.media.bridgeKind.rawValue
        configuration.directory.media.setBridgeKind(reader.string(forKey: "media.bridgeKind", default: kind))
    }

    private static func readAgentKind(_ reader: ConfigReader, _ configuration: inout PlazaConfiguration) {
        configuration.agent.setKind(reader.string(forKey: "agent.kind"))
    }

    /// Unset unless given: its default depends on the process's open-file limit.
    private static func readConnections(_ reader: ConfigReader, _ configuration: inout PlazaConfiguration) {
        configuration.http.connections = reader.int(forKey: "limits.connections")
    }

    /// With domains to obtain certificates for, the port defaults to https's.
    private static func readHTTPSPort(_ reader: ConfigReader, _ configuration: inout PlazaConfiguration) {
        if reader.int(forKey: "server.port") == nil, !configuration.http.tls.domains.isEmpty { configuration.http.port = 443 }
    }

    /// An agent's capacity stays unset unless given: its default depends on its kind.
    private static func readAgentCapacity(_ reader: ConfigReader, _ configuration: inout PlazaConfiguration) {
        configuration.agent.capacity = reader.int(forKey: "cluster.capacity")
    }
}

extension PlazaConfiguration.Key {
    typealias Path<Value> = any WritableKeyPath<PlazaConfiguration, Value> & Sendable

    static func int(_ name: String, _ path: Path<Int>) -> Self { bind(name, path) { $0.int(forKey: $1, default: $2) } }
    static func double(_ name: String, _ path: Path<Double>) -> Self { bind(name, path) { $0.double(forKey: $1, default: $2) } }
    static func bool(_ name: String, _ path: Path<Bool>) -> Self { bind(name, path) { $0.bool(forKey: $1, default: $2) } }
    static func string(_ name: String, _ path: Path<String>) -> Self { bind(name, path) { $0.string(forKey: $1, default: $2) } }

    /// A list: a JSON array in the file, comma-separated in an environment variable.
    static func list(_ name: String, _ path: Path<[String]>, secret: Bool = false) -> Self {
        bind(name, path) { $0.stringArray(forKey: $1, isSecret: secret, default: $2) }
    }

    /// A key without a default; `secret` keeps its value out of the configuration's own logs.
    static func optional(_ name: String, _ path: Path<String?>, secret: Bool = false) -> Self {
        bind(name, path) { $0.string(forKey: $1, isSecret: secret) ?? $2 }
    }

    /// Reads `name` into `path`, given the value there so far (the default).
    private static func bind<Value>(
        _ name: String, _ path: Path<Value>, _ read: @escaping @Sendable (ConfigReader, ConfigKey, Value) -> Value
    ) -> Self {
        Self(name: name) { reader, configuration in
            configuration[keyPath: path] = read(reader, ConfigKey(name), configuration[keyPath: path])
        }
    }
}
