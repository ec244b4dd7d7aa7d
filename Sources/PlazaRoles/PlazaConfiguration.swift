public import PlazaCore
public import PlazaRooms
public import PlazaTransport
public import PlazaDirectory
public import PlazaFleet

/// Everything a Plaza process can be told: one tree of the components' own configurations, read from one
/// `ConfigReader` (flags, then `PLAZA_*` environment variables, then the JSON config file, then the defaults).
/// Every subcommand reads it this way; each component documents its keys (the README's configuration table
/// lists them all).
public struct PlazaConfiguration: Sendable {
    /// `dataDir`: where the SQLite store and generated secrets live. Default `./plaza-data`.
    public var dataDirectory = "./plaza-data"
    /// `store`: the shared store of a fleet, `postgres://user:password@host:5432/database`, or `sqlite:<path>`
    /// for the processes of one machine. `plaza serve` embeds SQLite under `dataDir` instead; `plaza node`,
    /// `plaza directory`, `plaza autoscaler` and `plaza agent` need it.
    public var store: String?
    /// `limits.storeTimeout`: seconds one call to the shared store (PostgreSQL) may take before it fails as
    /// `store_unavailable`: chat answers an error instead of an ack, a directory 503 with `Retry-After`, a
    /// heartbeat counts as missed. Default 3.
    public var storeTimeout: Double = 3
    /// `log.level`: trace, debug, info, notice, warning, error or critical. Default info.
    public var logLevel = "info"
    /// `directory` (`PLAZA_DIRECTORY`): the directory whose fleet API `plaza fleet` talks to. Default
    /// `http://127.0.0.1:8080`.
    public var directoryURL = "http://127.0.0.1:8080"
    /// Where a serving role listens and what its HTTP API accepts (`server.*`, `web.root`, `ice.servers`, …).
    public var http = HTTPConfiguration()
    /// Tokens (`auth.*`).
    public var auth = AuthConfiguration()
    /// The space and its map (`space.*`), served by every role.
    public var space = SpaceConfiguration()
    /// A room server's WebSocket, rooms and fleet membership (`websocket.*`, `limits.*`, `chat.*`, `rooms.*`,
    /// `cluster.nodeID`, …).
    public var roomServer = RoomServerConfiguration()
    /// A directory's placement, load source and media (`cluster.heartbeatTTL`, `cluster.loadSource`, `media.*`, …).
    public var directory = DirectoryConfiguration()
    /// The autoscaler (`autoscaler.*`).
    public var autoscaler = AutoscalerConfiguration()
    /// The agent beside a media server (`agent.*`, `instanceID`).
    public var agent = AgentConfiguration()
    /// The Janus `plaza janus` runs (`janus.*`).
    public var janus = JanusInstanceConfiguration()

    public init() {}

    /// Refuses values that cannot work for a serving role, naming the key.
    public func validate() throws(ConfigurationError) {
        try ConfigurationError.require(storeTimeout > 0, "limits.storeTimeout", "must be > 0")
        try http.validate()
        try auth.validate()
        try space.validate()
        try roomServer.validate()
        try directory.validate()
        try ConfigurationError.require(
            directory.heartbeatTTL > roomServer.heartbeatInterval, "cluster.heartbeatTTL",
            "must be longer than cluster.heartbeatInterval")
    }
}
