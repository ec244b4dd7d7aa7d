public import PlazaCore
public import PlazaFleetModel
public import Foundation
import PlazaWebSocketClient

/// `plaza autoscaler` (and the autoscaler inside `plaza serve --pools`). Keys and defaults are listed in the
/// README's configuration table; the pools themselves come from the pool file.
public struct AutoscalerConfiguration: Sendable {
    /// `autoscaler.pools`: the pool file (docs/autoscaling.md).
    public var pools: String?
    /// `autoscaler.id`: this autoscaler's name in the lease. Default: the host name and process id.
    public var id: String?
    /// `autoscaler.leaseTTL`: seconds a leader's lease lasts unrenewed: how long a standby waits for a dead
    /// leader. Default 15.
    public var leaseTTL: Double = 15
    /// `autoscaler.stateDirectory`: where the local provider keeps pid files and logs. Default
    /// `./plaza-data/fleet` (`<dataDir>/fleet` in `plaza serve --pools`).
    public var stateDirectory = "./plaza-data/fleet"
    /// `autoscaler.retention`: seconds the fleet's history (scaling activities, terminated instances, ended
    /// conference placements) is kept. At least an hour, or a terminated instance's record could go while its
    /// provider still lists it. Default 2592000 (30 days).
    public var retention: Double = 30 * 86_400

    public init() {}

    public func validate() throws(ConfigurationError) {
        try ConfigurationError.require(leaseTTL > 0, "autoscaler.leaseTTL", "must be > 0")
        try ConfigurationError.require(retention >= 3_600, "autoscaler.retention", "must be at least 3600 (seconds)")
    }

    /// This autoscaler's name in the lease: `autoscaler.id`, or the host name and process id.
    public var holder: String { id ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())" }
}

/// `plaza agent`: the sidecar beside a media server or recorder, and what it registers.
public struct AgentConfiguration: Sendable {
    /// `agent.kind` (`--kind`): `jvb`, `jibri`, `janus` or `custom`.
    public var kind: NodeKind?
    /// `instanceID` (`PLAZA_INSTANCE_ID`, which the autoscaler's providers set): the instance's id in its pool.
    public var instanceID: String?
    /// `agent.api`: the server's local API. Default by kind: `http://127.0.0.1:8080` (jvb),
    /// `http://127.0.0.1:2222` (jibri), `http://127.0.0.1:8088/janus` (janus); custom needs its health URL.
    public var api: String?
    /// `agent.internalAPI`: Jibri's internal API, for graceful shutdown (default `http://127.0.0.1:3333`); Janus's
    /// admin API, for its sessions (default `http://127.0.0.1:7088/admin`).
    public var internalAPI: String?
    /// `agent.adminSecret`: Janus's `admin_secret`.
    public var adminSecret: String?
    /// `agent.callBaseURL`: for a recorder, the meeting base URL Jibri joins (`callUrlInfo.baseUrl`; the room is the
    /// `callName`).
    public var callBaseURL: String?
    /// `agent.publicURL`: where clients reach this bridge (its shard's URL); for a recorder, any name. Default:
    /// `agent.api`.
    public var publicURL: String?
    /// `cluster.region`: where the instance runs. Default `default`.
    public var region = "default"
    /// `cluster.capacity`: participants the instance is sized for. Default by kind (`NodeKind.defaultCapacity`):
    /// 500 for a bridge or a custom server; a recorder always takes one recording.
    public var capacity: Int?
    /// `agent.interval`: seconds between polls. Default 5.
    public var interval: Double = 5

    public init() {}

    private var invalidKind: String?

    /// Sets `kind` from its key's text; a text that names no agent kind is kept for `validate` to report.
    package mutating func setKind(_ text: String?) {
        kind = text.flatMap(NodeKind.init(rawValue:))
        invalidKind = text.flatMap { NodeKind(rawValue: $0) == nil || $0 == NodeKind.roomServer.rawValue ? $0 : nil }
    }

    public func validate() throws(ConfigurationError) {
        try ConfigurationError.require(invalidKind == nil && kind != .roomServer, "agent.kind", "must be jvb, jibri, janus or custom")
        try ConfigurationError.require(kind != nil, "agent.kind", "is needed: jvb, jibri, janus or custom")
        try ConfigurationError.require(instanceID != nil, "instanceID", "is needed (--instance-id or PLAZA_INSTANCE_ID)")
        try ConfigurationError.require(interval > 0, "agent.interval", "must be > 0")
        try ConfigurationError.require(apiURL != nil, "agent.api", kind == .custom ? "is needed for custom: its health URL" : "is not a URL")
        try ConfigurationError.require(internalAPI.map { URL(string: $0) != nil } ?? true, "agent.internalAPI", "is not a URL")
        try ConfigurationError.require(capacity.map { $0 >= 1 } ?? true, "cluster.capacity", "must be ≥ 1")
    }

    /// `agent.api`, or the kind's default.
    public var apiURL: URL? {
        let defaults: [NodeKind: String] = [
            .jvb: "http://127.0.0.1:8080", .jibri: "http://127.0.0.1:2222", .janus: "http://127.0.0.1:8088/janus",
        ]
        return (api ?? kind.flatMap { defaults[$0] }).flatMap(URL.init(string:))
    }

    /// `agent.internalAPI`, or the kind's default.
    public var internalAPIURL: URL? {
        let defaults: [NodeKind: String] = [.jibri: "http://127.0.0.1:3333", .janus: "http://127.0.0.1:7088/admin"]
        return (internalAPI ?? kind.flatMap { defaults[$0] }).flatMap(URL.init(string:))
    }

    /// What the agent registers: a recorder takes one recording at a time, whatever `cluster.capacity` says.
    public func registration(id: NodeID) -> NodeRegistration {
        let kind = self.kind ?? .custom
        return NodeRegistration(
            id: id, url: publicURL ?? apiURL?.absoluteString ?? "", region: region,
            capacity: kind == .jibri ? 1 : capacity ?? kind.defaultCapacity, kind: kind,
            controlURL: kind == .janus ? internalAPIURL?.absoluteString : nil)
    }
}

/// `plaza janus`: the Janus it runs (`janus.*`). Its agent's keys (`instanceID`, `agent.publicURL`,
/// `cluster.region`, `cluster.capacity`, `agent.interval`) and the bridges' secrets (`media.janusAdminSecret`,
/// `media.janusRoomAdminKey`) are read where the other roles read them.
public struct JanusInstanceConfiguration: Sendable {
    /// `janus.executable`: the program. Default `/usr/bin/janus` (Debian's `janus`).
    public var executable = "/usr/bin/janus"
    /// `janus.host` (`--host`): the interface its WebSocket API listens on. Default `127.0.0.1`.
    public var host = "127.0.0.1"
    /// `janus.port` (`--port`): the WebSocket API's port. Default 8188.
    public var port = 8188
    /// `janus.adminHost`: the interface of its Admin API. Default `127.0.0.1`; a private address when room servers on
    /// other machines drive it (they reach it at `agent.internalAPI`).
    public var adminHost = "127.0.0.1"
    /// `janus.adminPort`: the Admin API's port; 0 picks a free one. Default 0.
    public var adminPort = 0
    /// `janus.rtpPorts`: the UDP ports media may use, `first-last`. Default `20000-20399`.
    public var rtpPorts = "20000-20399"
    /// `janus.iceInterfaces`: interfaces or address prefixes ICE gathers candidates on (`ice_enforce_list`).
    /// Default: all.
    public var iceInterfaces: String?
    /// `janus.publicIP`: the public address to announce behind a 1:1 NAT (`nat_1_1_mapping`; most cloud VMs).
    public var publicIP: String?
    /// `janus.folder`: where its configuration and log go. Default `<temporary folder>/plaza-janus-<instance id>`.
    public var folder: String?

    public init() {}

    public func validate() throws(ConfigurationError) {
        try ConfigurationError.require((0...65_535).contains(port), "janus.port", "must be a port, 0–65535")
        try ConfigurationError.require((0...65_535).contains(adminPort), "janus.adminPort", "must be a port, 0–65535")
        let range = rtpPorts.split(separator: "-").compactMap { Int($0) }
        try ConfigurationError.require(
            range.count == 2 && range[0] >= 1_024 && range[0] <= range[1] && range[1] <= 65_535, "janus.rtpPorts",
            "must be two ports 'first-last', first ≥ 1024")
    }

    /// What `JanusProcess` runs, for the instance `id`; `port` 0 picks a free one.
    public func settings(
        instance id: String, adminSecret: String, roomAdminKey: String?, certificate: String?, key: String?
    ) throws -> JanusProcess.Settings {
        let folder = self.folder ?? FileManager.default.temporaryDirectory.appendingPathComponent("plaza-janus-\(id)").path
        var settings = JanusProcess.Settings(folder: folder, adminSecret: adminSecret)
        settings.executable = executable
        settings.webSocketHost = host
        settings.webSocketPort = port == 0 ? try LoopbackPort.free() : port
        (settings.adminHost, settings.adminPort) = (adminHost, adminPort == 0 ? nil : adminPort)
        (settings.certificate, settings.key) = (certificate, key)
        settings.roomAdminKey = roomAdminKey
        settings.rtpPorts = rtpPorts
        (settings.iceInterfaces, settings.publicIP) = (iceInterfaces, publicIP)
        return settings
    }
}
