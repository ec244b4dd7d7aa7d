public import PlazaCore
public import Configuration
import Foundation

/// Everything `plaza serve` can be told. Each field is read from a key (flags, then `PLAZA_*` environment
/// variables, then the JSON config file, then the default here); the README's configuration table lists them.
public struct PlazaConfiguration: Sendable {
    /// Where to listen and how clients reach this node.
    public struct Server: Sendable {
        /// `server.host`: address to bind. Default `127.0.0.1`.
        public var host: String = "127.0.0.1"
        /// `server.port`: TCP port; 0 picks a free one. Default 8080.
        public var port: Int = 8080
        /// `server.publicURL`: the base URL clients use to reach this node (e.g. `https://plaza.example.org`),
        /// from which join builds the WebSocket `url`. Default: `http://host:port`.
        public var publicURL: String?
        /// `server.backlog`: connections the kernel queues before they are accepted (capped by the system's
        /// `net.core.somaxconn`). A join burst that overflows it costs each dropped connection a 1 s (then 3 s,
        /// 7 s) TCP retransmission. Default 4096.
        public var backlog: Int = 4_096
        public init() {}
    }

    public struct Auth: Sendable {
        /// `auth.guests`: whether `join` admits callers without a token, as guests. Default true.
        public var guests: Bool = true
        /// `auth.secret`: HS256 secret for the room tokens this node issues (≥ 32 bytes). Default: generated
        /// once and kept in `<dataDir>/secret`.
        public var secret: String?
        /// `auth.tokenTTL`: lifetime of an issued room token, in seconds. Default 900.
        public var tokenTTL: Double = 900
        /// `auth.adminToken`: bearer token for the admin API. Default: generated once and kept in
        /// `<dataDir>/admin-token`.
        public var adminToken: String?
        /// `auth.jwt.hmacSecret`: the external auth service's HS256 shared secret.
        public var externalHMACSecret: String?
        /// `auth.jwt.publicKeyFile`: path of the external auth service's ES256 or RS256 public key (PEM).
        public var externalPublicKeyFile: String?
        /// `auth.jwt.jwksFile`: path of the external auth service's JWKS document.
        public var externalJWKSFile: String?
        public init() {}
    }

    public struct WebSocket: Sendable {
        /// `websocket.helloTimeout`: seconds a new connection has to send `hello`. Default 10.
        public var helloTimeout: Double = 10
        /// `websocket.pingInterval`: seconds between server pings; a connection that has not answered the
        /// previous ping by the next one is closed (1001, reason "Ping timeout"). Default 20.
        public var pingInterval: Double = 20
        /// `websocket.closeTimeout`: seconds to wait for the client's close reply, or for a slow consumer's
        /// socket to take the close frame, before the socket is dropped. Default 5.
        public var closeTimeout: Double = 5
        public init() {}
    }

    public struct Limits: Sendable {
        /// `limits.frameBytes`: largest inbound WebSocket message, in bytes (larger: close 1009). Default 16384.
        public var frameBytes: Int = 16_384
        /// `limits.framesPerSecond`: sustained inbound frames per second per connection. Default 50.
        public var framesPerSecond: Double = 50
        /// `limits.frameBurst`: inbound frames a connection may send at once above the rate. Default 100.
        public var frameBurst: Double = 100
        /// `limits.floodClose`: frames dropped in a row for rate before the connection is closed (4004). Default 500.
        public var floodClose: Int = 500
        /// `limits.outboundQueueBytes`: bytes queued to one connection before it is closed as a slow
        /// consumer (4002). Default 1048576.
        public var outboundQueueBytes: Int = 1 << 20
        /// `limits.requestBodyBytes`: largest HTTP request body accepted (larger: 413 `invalid_request`).
        /// Default 16384.
        public var requestBodyBytes: Int = 16_384
        /// `limits.fleetActivitiesPage`: most scaling activities `GET /api/v1/fleet/activities` returns at once.
        public var fleetActivitiesPage: Int = 1000
        /// `limits.roomsPerNode`: rooms this node hosts at once. Default 10000.
        public var roomsPerNode: Int = 10_000
        /// `limits.participantsPerRoom`, `limits.connectionsPerParticipant`, `limits.chatTextLength`,
        /// `limits.messageIDLength`.
        public var room = RoomLimits()
        public init() {}
    }

    public struct Chat: Sendable {
        /// `chat.resumeWindow`: messages per room kept for reconnect recovery and retry de-duplication.
        /// A client further behind gets `recovered: false`. Default 1000.
        public var resumeWindow: Int = 1_000
        /// `chat.historyPageLimit`: most messages one history request returns. Default 200.
        public var historyPageLimit: Int = 200
        public init() {}
    }

    public struct Space: Sendable {
        /// `space.tickHz`: how often coalesced moves are flushed, per second. Default 10.
        public var tickHz: Double = 10
        /// `space.cellSize`: side of a grid cell, in map units. Default 256.
        public var cellSize: Double = 256
        /// `space.interestRadius`: cells around a viewer's own that it sees (1 → a 3×3 block). Default 1.
        public var interestRadius: Int = 1
        /// `space.spawnX`, `space.spawnY`: where new avatars appear. Default: the map's `spawn`.
        public var spawn: Position?
        /// `space.map`: path of the map file (docs/maps.md) the web client draws. Default: the built-in map.
        public var map: String?
        /// `space.proximityRadius`: map units within which two browsers call each other. Default 160.
        public var proximityRadius: Double = 160
        /// `space.maxPeers`: most simultaneous calls a browser keeps, nearest first. Default 6.
        public var maxPeers: Int = 6
        public init() {}
    }

    /// How a fleet node (`plaza node`) registers, reports and holds its rooms.
    public struct Cluster: Sendable {
        /// `cluster.nodeID`: this node's name in the registry, unique in the fleet. Default: the host name and port.
        public var nodeID: String?
        /// `cluster.region`: where the node runs; join prefers nodes of the caller's region. Default `default`.
        public var region: String = "default"
        /// `cluster.capacity`: participants the node is sized for; it gets no new rooms at that load. Default 5000.
        public var capacity: Int = 5_000
        /// `cluster.heartbeatInterval`: seconds between load reports (and lease renewals). Default 2.
        public var heartbeatInterval: Double = 2
        /// `cluster.heartbeatTTL`: seconds after its last report a node is dead for placement. Default 6.
        public var heartbeatTTL: Double = 6
        /// `cluster.leaseTTL`: seconds a room's placement stays its node's without renewal; after that the
        /// room may move and the old node is fenced. Default 6.
        public var leaseTTL: Double = 6
        /// `cluster.participantsPerNewRoom`: load a new room is expected to add before the node's next report
        /// shows it (the correction of stale load). Default 2.
        public var participantsPerNewRoom: Int = 2
        /// `cluster.loadSource`: where a directory takes node load from for placement: `heartbeat` (the nodes'
        /// own reports) or `prometheus` (queries to `cluster.prometheusURL`). Default `heartbeat`.
        public var loadSource: LoadSource = .heartbeat
        /// `cluster.prometheusURL`: Prometheus's base URL, `http://prometheus:9090`, for `loadSource` prometheus.
        public var prometheusURL: String?
        /// `cluster.prometheusInterval`: seconds between two readings of Prometheus. Default 5.
        public var prometheusInterval: Double = 5
        /// `cluster.prometheusLag`: seconds Prometheus's figures may trail the nodes (scrape interval plus this
        /// reading's); rooms placed within it count as corrected load. Default 20.
        public var prometheusLag: Double = 20
        /// `cluster.prometheusParticipantsQuery`: PromQL giving participants per node, one series per `node`
        /// label. Default: `plaza_participants` of each node, labelled by `plaza_node_info`.
        public var prometheusParticipantsQuery =
            "max by (node) (plaza_participants * on (instance, job) group_left (node) plaza_node_info)"
        /// `cluster.prometheusCPUQuery`: PromQL giving CPU in use (0…1 of the machine) per node, one series per
        /// `node` label. Default: `plaza_node_cpu` of each node, labelled by `plaza_node_info`.
        public var prometheusCPUQuery = "max by (node) (plaza_node_cpu * on (instance, job) group_left (node) plaza_node_info)"
        public init() {}

        public enum LoadSource: String, Sendable {
            case heartbeat, prometheus
        }
    }

    public struct Web: Sendable {
        /// `web.root`: folder of the browser client's files. Default: the client shipped with Plaza.
        public var root: String?
        public init() {}
    }

    /// Media bridges and recorders of a fleet (registered by `plaza agent`), as a directory uses them.
    public struct Media: Sendable {
        /// `media.bridgeRooms`: room-name prefixes (comma-separated; `*` for every room) whose conference runs on
        /// a media bridge; a join can also ask for one (`"bridge": true`). Default: none.
        public var bridgeRooms: [String] = []
        /// `media.bridgeKind`: which registered bridges conferences go to (`jvb` or `janus`). Default `jvb`.
        public var bridgeKind = "jvb"
        /// `media.bridgeParticipantCap`: most participants placement puts on one bridge (0: the capacity its agent
        /// registered). Default 0.
        public var bridgeParticipantCap = 0
        /// `media.bridgeLeaseTTL`: seconds a conference stays on its bridge after its last join (longer while its
        /// room lives). Default 3600.
        public var bridgeLeaseTTL: Double = 3_600
        /// `media.retryAfter`: seconds a `recorders_busy` or `bridges_unavailable` answer tells the caller to wait.
        /// Default 30.
        public var retryAfter = 30
        public init() {}

        /// Whether `room`'s conference runs on a bridge by configuration.
        public func needsBridge(_ room: String) -> Bool {
            bridgeRooms.contains { $0 == "*" || room.hasPrefix($0) }
        }
    }

    public struct Rooms: Sendable {
        /// `rooms.idleUnload`: seconds an empty room stays loaded before its memory is freed. Default 30.
        public var idleUnload: Double = 30
        public init() {}
    }

    /// `dataDir`: where the SQLite store and generated secrets live. Default `./plaza-data`.
    public var dataDirectory: String = "./plaza-data"
    /// `ice.servers`: STUN/TURN servers handed to clients by join, as a JSON array of RTCIceServer objects.
    /// Default `[]` (peers on one LAN need none).
    public var iceServersJSON: String = "[]"
    /// `log.level`: trace, debug, info, notice, warning, error or critical. Default info.
    public var logLevel: String = "info"
    public var server = Server()
    public var auth = Auth()
    public var webSocket = WebSocket()
    public var limits = Limits()
    public var chat = Chat()
    public var space = Space()
    public var web = Web()
    public var cluster = Cluster()
    /// `store`: the shared store of a fleet, `postgres://user:password@host:5432/database`, or
    /// `sqlite:<path>` for the processes of one machine. `plaza serve` ignores it (it embeds SQLite under
    /// `dataDir`); `plaza node`, `plaza directory`, `plaza autoscaler` and `plaza agent` need it.
    public var store: String?
    /// A `cluster.loadSource` that names no source, kept for `validate` to report.
    var invalidLoadSource: String?
    public var rooms = Rooms()
    public var media = Media()

    public init() {}

    /// Reads every key from `reader`, falling back to the defaults above.
    public init(reader config: ConfigReader) {
        var c = PlazaConfiguration()
        c.dataDirectory = config.string(forKey: "dataDir", default: c.dataDirectory)
        c.iceServersJSON = config.string(forKey: "ice.servers", default: c.iceServersJSON)
        c.logLevel = config.string(forKey: "log.level", default: c.logLevel)

        c.server.host = config.string(forKey: "server.host", default: c.server.host)
        c.server.port = config.int(forKey: "server.port", default: c.server.port)
        c.server.publicURL = config.string(forKey: "server.publicURL")
        c.server.backlog = config.int(forKey: "server.backlog", default: c.server.backlog)

        c.auth.guests = config.bool(forKey: "auth.guests", default: c.auth.guests)
        c.auth.secret = config.string(forKey: "auth.secret", isSecret: true)
        c.auth.tokenTTL = config.double(forKey: "auth.tokenTTL", default: c.auth.tokenTTL)
        c.auth.adminToken = config.string(forKey: "auth.adminToken", isSecret: true)
        c.auth.externalHMACSecret = config.string(forKey: "auth.jwt.hmacSecret", isSecret: true)
        c.auth.externalPublicKeyFile = config.string(forKey: "auth.jwt.publicKeyFile")
        c.auth.externalJWKSFile = config.string(forKey: "auth.jwt.jwksFile")

        c.webSocket.helloTimeout = config.double(forKey: "websocket.helloTimeout", default: c.webSocket.helloTimeout)
        c.webSocket.pingInterval = config.double(forKey: "websocket.pingInterval", default: c.webSocket.pingInterval)
        c.webSocket.closeTimeout = config.double(forKey: "websocket.closeTimeout", default: c.webSocket.closeTimeout)

        c.limits.frameBytes = config.int(forKey: "limits.frameBytes", default: c.limits.frameBytes)
        c.limits.framesPerSecond = config.double(forKey: "limits.framesPerSecond", default: c.limits.framesPerSecond)
        c.limits.frameBurst = config.double(forKey: "limits.frameBurst", default: c.limits.frameBurst)
        c.limits.floodClose = config.int(forKey: "limits.floodClose", default: c.limits.floodClose)
        c.limits.outboundQueueBytes = config.int(forKey: "limits.outboundQueueBytes", default: c.limits.outboundQueueBytes)
        c.limits.requestBodyBytes = config.int(forKey: "limits.requestBodyBytes", default: c.limits.requestBodyBytes)
        c.limits.fleetActivitiesPage = config.int(forKey: "limits.fleetActivitiesPage", default: c.limits.fleetActivitiesPage)
        c.limits.roomsPerNode = config.int(forKey: "limits.roomsPerNode", default: c.limits.roomsPerNode)
        c.limits.room.participantsPerRoom = config.int(
            forKey: "limits.participantsPerRoom", default: c.limits.room.participantsPerRoom)
        c.limits.room.connectionsPerParticipant = config.int(
            forKey: "limits.connectionsPerParticipant", default: c.limits.room.connectionsPerParticipant)
        c.limits.room.chatTextLength = config.int(forKey: "limits.chatTextLength", default: c.limits.room.chatTextLength)
        c.limits.room.messageIDLength = config.int(forKey: "limits.messageIDLength", default: c.limits.room.messageIDLength)

        c.chat.resumeWindow = config.int(forKey: "chat.resumeWindow", default: c.chat.resumeWindow)
        c.chat.historyPageLimit = config.int(forKey: "chat.historyPageLimit", default: c.chat.historyPageLimit)

        c.space.tickHz = config.double(forKey: "space.tickHz", default: c.space.tickHz)
        c.space.cellSize = config.double(forKey: "space.cellSize", default: c.space.cellSize)
        c.space.interestRadius = config.int(forKey: "space.interestRadius", default: c.space.interestRadius)
        if let x = config.double(forKey: "space.spawnX"), let y = config.double(forKey: "space.spawnY") {
            c.space.spawn = Position(x: x, y: y)
        }
        c.space.map = config.string(forKey: "space.map")
        c.space.proximityRadius = config.double(forKey: "space.proximityRadius", default: c.space.proximityRadius)
        c.space.maxPeers = config.int(forKey: "space.maxPeers", default: c.space.maxPeers)
        c.web.root = config.string(forKey: "web.root")
        c.store = config.string(forKey: "store", isSecret: true)
        c.cluster.nodeID = config.string(forKey: "cluster.nodeID")
        c.cluster.region = config.string(forKey: "cluster.region", default: c.cluster.region)
        c.cluster.capacity = config.int(forKey: "cluster.capacity", default: c.cluster.capacity)
        c.cluster.heartbeatInterval = config.double(forKey: "cluster.heartbeatInterval", default: c.cluster.heartbeatInterval)
        c.cluster.heartbeatTTL = config.double(forKey: "cluster.heartbeatTTL", default: c.cluster.heartbeatTTL)
        c.cluster.leaseTTL = config.double(forKey: "cluster.leaseTTL", default: c.cluster.leaseTTL)
        c.cluster.participantsPerNewRoom = config.int(
            forKey: "cluster.participantsPerNewRoom", default: c.cluster.participantsPerNewRoom)
        let loadSource = config.string(forKey: "cluster.loadSource", default: c.cluster.loadSource.rawValue)
        c.invalidLoadSource = Cluster.LoadSource(rawValue: loadSource) == nil ? loadSource : nil
        c.cluster.loadSource = Cluster.LoadSource(rawValue: loadSource) ?? .heartbeat
        c.cluster.prometheusURL = config.string(forKey: "cluster.prometheusURL")
        c.cluster.prometheusInterval = config.double(forKey: "cluster.prometheusInterval", default: c.cluster.prometheusInterval)
        c.cluster.prometheusLag = config.double(forKey: "cluster.prometheusLag", default: c.cluster.prometheusLag)
        c.cluster.prometheusParticipantsQuery = config.string(
            forKey: "cluster.prometheusParticipantsQuery", default: c.cluster.prometheusParticipantsQuery)
        c.cluster.prometheusCPUQuery = config.string(forKey: "cluster.prometheusCPUQuery", default: c.cluster.prometheusCPUQuery)

        c.rooms.idleUnload = config.double(forKey: "rooms.idleUnload", default: c.rooms.idleUnload)
        c.media.bridgeRooms = config.string(forKey: "media.bridgeRooms", default: "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        c.media.bridgeKind = config.string(forKey: "media.bridgeKind", default: c.media.bridgeKind)
        c.media.bridgeParticipantCap = config.int(forKey: "media.bridgeParticipantCap", default: c.media.bridgeParticipantCap)
        c.media.bridgeLeaseTTL = config.double(forKey: "media.bridgeLeaseTTL", default: c.media.bridgeLeaseTTL)
        c.media.retryAfter = config.int(forKey: "media.retryAfter", default: c.media.retryAfter)
        self = c
    }

    /// Refuses values that cannot work, naming the key, so a typo fails at startup rather than at 3 a.m.
    public func validate() throws(ConfigurationError) {
        func require(_ ok: Bool, _ key: String, _ rule: String) throws(ConfigurationError) {
            if !ok { throw ConfigurationError(key: key, message: rule) }
        }
        try require((0...65535).contains(server.port), "server.port", "must be 0–65535")
        try require(server.backlog > 0, "server.backlog", "must be positive")
        try require(auth.tokenTTL > 0, "auth.tokenTTL", "must be > 0")
        try require(auth.secret.map { $0.utf8.count >= 32 } ?? true, "auth.secret", "must be at least 32 bytes")
        try require(webSocket.helloTimeout > 0, "websocket.helloTimeout", "must be > 0")
        try require(webSocket.pingInterval > 0, "websocket.pingInterval", "must be > 0")
        try require(webSocket.closeTimeout > 0, "websocket.closeTimeout", "must be > 0")
        try require(limits.frameBytes >= 256, "limits.frameBytes", "must be ≥ 256")
        try require(limits.framesPerSecond > 0, "limits.framesPerSecond", "must be > 0")
        try require(limits.frameBurst >= 1, "limits.frameBurst", "must be ≥ 1")
        try require(limits.floodClose >= 1, "limits.floodClose", "must be ≥ 1")
        try require(limits.outboundQueueBytes >= 4096, "limits.outboundQueueBytes", "must be ≥ 4096")
        try require(limits.requestBodyBytes >= 1024, "limits.requestBodyBytes", "must be ≥ 1024")
        try require(limits.fleetActivitiesPage >= 1, "limits.fleetActivitiesPage", "must be ≥ 1")
        try require(["jvb", "janus"].contains(media.bridgeKind), "media.bridgeKind", "must be jvb or janus")
        try require(media.bridgeParticipantCap >= 0, "media.bridgeParticipantCap", "must be ≥ 0")
        try require(media.bridgeLeaseTTL > 0, "media.bridgeLeaseTTL", "must be > 0")
        try require(media.retryAfter >= 1, "media.retryAfter", "must be ≥ 1")
        try require(limits.roomsPerNode >= 1, "limits.roomsPerNode", "must be ≥ 1")
        try require(limits.room.participantsPerRoom >= 1, "limits.participantsPerRoom", "must be ≥ 1")
        try require(limits.room.connectionsPerParticipant >= 1, "limits.connectionsPerParticipant", "must be ≥ 1")
        try require(limits.room.chatTextLength >= 1, "limits.chatTextLength", "must be ≥ 1")
        try require(limits.room.messageIDLength >= 1, "limits.messageIDLength", "must be ≥ 1")
        try require(chat.resumeWindow >= 0, "chat.resumeWindow", "must be ≥ 0")
        try require(chat.historyPageLimit >= 1, "chat.historyPageLimit", "must be ≥ 1")
        try require(space.tickHz > 0 && space.tickHz <= 100, "space.tickHz", "must be in (0, 100]")
        try require(space.cellSize > 0, "space.cellSize", "must be > 0")
        try require((0...16).contains(space.interestRadius), "space.interestRadius", "must be 0–16")
        try require(space.proximityRadius > 0, "space.proximityRadius", "must be > 0")
        try require((0...64).contains(space.maxPeers), "space.maxPeers", "must be 0–64")
        try require(cluster.capacity >= 1, "cluster.capacity", "must be ≥ 1")
        try require(cluster.heartbeatInterval > 0, "cluster.heartbeatInterval", "must be > 0")
        try require(cluster.heartbeatTTL > cluster.heartbeatInterval, "cluster.heartbeatTTL", "must be longer than cluster.heartbeatInterval")
        try require(cluster.leaseTTL > cluster.heartbeatInterval, "cluster.leaseTTL", "must be longer than cluster.heartbeatInterval")
        try require(invalidLoadSource == nil, "cluster.loadSource", "must be heartbeat or prometheus")
        try require(
            cluster.loadSource == .heartbeat || cluster.prometheusURL != nil, "cluster.prometheusURL",
            "is needed with cluster.loadSource prometheus")
        try require(cluster.prometheusInterval > 0, "cluster.prometheusInterval", "must be > 0")
        try require(cluster.prometheusLag >= 0, "cluster.prometheusLag", "must be >= 0")
        try require(cluster.participantsPerNewRoom >= 0, "cluster.participantsPerNewRoom", "must be ≥ 0")
        try require(rooms.idleUnload >= 0, "rooms.idleUnload", "must be ≥ 0")
        let ice = try? JSONSerialization.jsonObject(with: Data(iceServersJSON.utf8))
        try require(ice is [Any], "ice.servers", "must be a JSON array")
    }
}

/// A configuration value that cannot work.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var key: String
    public var message: String
    public var description: String { "configuration key '\(key)' \(message)" }
}
