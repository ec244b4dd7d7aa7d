public import PlazaCore
public import PlazaFleetModel

/// A directory's placement rules, load source and media settings. Keys and defaults are listed in the README's
/// configuration table.
public struct DirectoryConfiguration: Sendable {
    /// `cluster.heartbeatTTL`: seconds after its last report a node is dead for placement. Default 6.
    public var heartbeatTTL: Double = 6
    /// `cluster.leaseTTL`: seconds a new placement stays its node's until the node takes the room up. Default 6.
    public var leaseTTL: Double = 6
    /// `cluster.participantsPerNewRoom`: load a new room is expected to add before the node's next report shows
    /// it (the correction of stale load). Default 2.
    public var participantsPerNewRoom = 2
    /// `cluster.loadSource`: where node load for placement comes from: `heartbeat` (the nodes' own reports) or
    /// `prometheus` (queries to `cluster.prometheusURL`). Default `heartbeat`.
    public var loadSource = LoadSource.heartbeat
    /// `cluster.prometheusURL`: Prometheus's base URL, `http://prometheus:9090`, for `loadSource` prometheus.
    public var prometheusURL: String?
    /// `cluster.prometheusInterval`: seconds between two readings of Prometheus. Default 5.
    public var prometheusInterval: Double = 5
    /// `cluster.prometheusLag`: seconds Prometheus's figures may trail the nodes (scrape interval plus this
    /// reading's); rooms placed within it count as corrected load. Default 20.
    public var prometheusLag: Double = 20
    /// `cluster.prometheusParticipantsQuery`: PromQL giving participants per node, one series per `node` label.
    /// Default: `plaza_participants` of each node, labelled by `plaza_node_info`.
    public var prometheusParticipantsQuery = "max by (node) (plaza_participants * on (instance, job) group_left (node) plaza_node_info)"
    /// `cluster.prometheusCPUQuery`: PromQL giving CPU in use (0…1 of the machine) per node, one series per `node`
    /// label. Default: `plaza_node_cpu` of each node, labelled by `plaza_node_info`.
    public var prometheusCPUQuery = "max by (node) (plaza_node_cpu * on (instance, job) group_left (node) plaza_node_info)"
    public var media = MediaConfiguration()
    /// `limits.fleetActivitiesPage`: most scaling activities `GET /api/v1/fleet/activities` returns at once.
    /// Default 1000.
    public var fleetActivitiesPage = 1_000
    /// A `cluster.loadSource` that names no source, kept for `validate` to report.
    private var invalidLoadSource: String?

    /// Sets `loadSource` from its key's text; a text that names no source is kept for `validate` to report.
    package mutating func setLoadSource(_ text: String) {
        loadSource = LoadSource(rawValue: text) ?? .heartbeat
        invalidLoadSource = LoadSource(rawValue: text) == nil ? text : nil
    }

    /// Where node load for placement comes from: the nodes' own reports, or Prometheus for a fleet that already
    /// measures its nodes there.
    public enum LoadSource: String, Sendable {
        case heartbeat, prometheus
    }

    public init() {}

    public func validate() throws(ConfigurationError) {
        try ConfigurationError.require(heartbeatTTL > 0, "cluster.heartbeatTTL", "must be > 0")
        try ConfigurationError.require(leaseTTL > 0, "cluster.leaseTTL", "must be > 0")
        try ConfigurationError.require(invalidLoadSource == nil, "cluster.loadSource", "must be heartbeat or prometheus")
        try ConfigurationError.require(
            loadSource == .heartbeat || prometheusURL != nil, "cluster.prometheusURL", "is needed with cluster.loadSource prometheus")
        try ConfigurationError.require(prometheusInterval > 0, "cluster.prometheusInterval", "must be > 0")
        try ConfigurationError.require(prometheusLag >= 0, "cluster.prometheusLag", "must be >= 0")
        try ConfigurationError.require(participantsPerNewRoom >= 0, "cluster.participantsPerNewRoom", "must be ≥ 0")
        try ConfigurationError.require(fleetActivitiesPage >= 1, "limits.fleetActivitiesPage", "must be ≥ 1")
        try media.validate()
    }
}

/// Media bridges and recorders of a fleet (registered by `plaza agent`), as a directory uses them.
public struct MediaConfiguration: Sendable {
    /// `media.bridgeRooms`: room-name prefixes (comma-separated; `*` for every room) whose conference runs on a
    /// media bridge; a join can also ask for one (`"bridge": true`). Default: none.
    public var bridgeRooms: [String] = []
    /// `media.bridgeKind`: which registered bridges conferences go to (`jvb` or `janus`). Default `jvb`.
    public var bridgeKind = NodeKind.jvb
    /// `media.bridgeParticipantCap`: most participants placement puts on one bridge (0: the capacity its agent
    /// registered). Default 0.
    public var bridgeParticipantCap = 0
    /// `media.bridgeLeaseTTL`: seconds a conference stays on its bridge after its last join (longer while its
    /// room lives). Default 3600.
    public var bridgeLeaseTTL: Double = 3_600
    /// `media.retryAfter`: seconds a `recorders_busy` or `bridges_unavailable` answer tells the caller to wait.
    /// Default 30.
    public var retryAfter = 30
    private var invalidBridgeKind: String?

    /// Sets `bridgeKind` from its key's text; a text that names no bridge is kept for `validate` to report.
    package mutating func setBridgeKind(_ text: String) {
        bridgeKind = NodeKind(rawValue: text).flatMap { $0.isBridge ? $0 : nil } ?? .jvb
        invalidBridgeKind = NodeKind(rawValue: text)?.isBridge == true ? nil : text
    }

    public init() {}

    public func validate() throws(ConfigurationError) {
        try ConfigurationError.require(invalidBridgeKind == nil, "media.bridgeKind", "must be jvb or janus")
        try ConfigurationError.require(bridgeParticipantCap >= 0, "media.bridgeParticipantCap", "must be ≥ 0")
        try ConfigurationError.require(bridgeLeaseTTL > 0, "media.bridgeLeaseTTL", "must be > 0")
        try ConfigurationError.require(retryAfter >= 1, "media.retryAfter", "must be ≥ 1")
    }

    /// Whether `room`'s conference runs on a bridge by configuration.
    public func needsBridge(_ room: String) -> Bool {
        bridgeRooms.contains { $0 == "*" || room.hasPrefix($0) }
    }
}
