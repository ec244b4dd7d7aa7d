public import PlazaCore
public import PlazaRooms
public import PlazaTLS
import PlazaFleetModel
import Foundation

/// Where a role listens and what its HTTP API accepts: every role that serves clients (room server, directory)
/// reads it.
public struct HTTPConfiguration: Sendable {
    /// `server.host`: address to bind. Default `127.0.0.1`.
    public var host = "127.0.0.1"
    /// `server.port`: TCP port; 0 picks a free one. Default 8080.
    public var port = 8_080
    /// `server.publicURL`: the base URL clients use to reach this process (e.g. `https://plaza.example.org`), from
    /// which join builds the WebSocket `url`. Default: the address the caller used.
    public var publicURL: String?
    /// `server.backlog`: connections the kernel queues before they are accepted (capped by the system's
    /// `net.core.somaxconn`). A join burst that overflows it costs each dropped connection a 1 s (then 3 s, 7 s)
    /// TCP retransmission. Default 4096.
    public var backlog = 4_096
    /// `limits.requestBodyBytes`: largest HTTP request body accepted (larger: 413 `invalid_request`). Default 16384.
    public var requestBodyBytes = 16_384
    /// `web.root`: folder of the browser client's files. Default: the client shipped with Plaza.
    public var webRoot: String?
    /// `ice.servers`: STUN/TURN servers handed to clients by join, as a JSON array of RTCIceServer objects.
    /// Default `[]` (peers on one LAN need none).
    public var iceServersJSON = "[]"
    /// `ice.transportPolicy`: `all` (default) or `relay`, handed to the web client for its peer connections;
    /// `relay` sends every call through a TURN server (it hides participants' addresses from each other).
    public var iceTransportPolicy = "all"
    /// The TURN relay whose time-limited credentials join hands out.
    public var turn = TURNConfiguration()
    /// HTTPS (`tls.*`).
    public var tls = TLSSettings()
    /// `chat.historyPageLimit`: most messages one history request returns. Default 200.
    public var historyPageLimit = 200
    /// `http.headerTimeout`: seconds a request head has to arrive whole, from a connection's first byte (or from
    /// its opening); then 408, or a silent close for a connection that sent nothing. Default 10.
    public var headerTimeout: Double = 10
    /// `http.idleTimeout`: seconds a kept-alive connection may wait for its next request. Default 60.
    public var idleTimeout: Double = 60
    /// `limits.headerBytes`: largest request head, request line and fields together (larger: 431). Default 16384.
    public var headerBytes = 16_384
    /// `limits.headerCount`: most header fields in a request (more: 431). Default 100.
    public var headerCount = 100
    /// `limits.urlBytes`: longest request target, path and query (longer: 414). Default 4096.
    public var urlBytes = 4_096
    /// `limits.connectionsPerAddress`: connections one client address may hold (more: 429). Default 256.
    public var connectionsPerAddress = 256
    /// `limits.connections`: connections the server holds before it answers only its health endpoints (503 for
    /// the rest). Default: the process's open-file limit less 128 kept for the store, logs and those answers.
    public var connections: Int?
    /// `http.trustedProxies`: addresses of proxies whose `X-Forwarded-For` names the client (a JSON array in the
    /// file, comma-separated in `PLAZA_HTTP_TRUSTED_PROXIES`). Default none.
    public var trustedProxies: [String] = []

    public init() {}

    public func validate() throws(ConfigurationError) {
        try ConfigurationError.require((0...65535).contains(port), "server.port", "must be 0–65535")
        try ConfigurationError.require(backlog > 0, "server.backlog", "must be positive")
        try ConfigurationError.require(requestBodyBytes >= 1024, "limits.requestBodyBytes", "must be ≥ 1024")
        try ConfigurationError.require(historyPageLimit >= 1, "chat.historyPageLimit", "must be ≥ 1")
        try ConfigurationError.require(headerTimeout > 0, "http.headerTimeout", "must be > 0")
        try ConfigurationError.require(idleTimeout > 0, "http.idleTimeout", "must be > 0")
        try ConfigurationError.require(headerBytes >= 1024, "limits.headerBytes", "must be ≥ 1024")
        try ConfigurationError.require(headerCount >= 8, "limits.headerCount", "must be ≥ 8")
        try ConfigurationError.require(urlBytes >= 256 && urlBytes < headerBytes, "limits.urlBytes", "must be ≥ 256 and below limits.headerBytes")
        try ConfigurationError.require(connectionsPerAddress >= 1, "limits.connectionsPerAddress", "must be ≥ 1")
        try ConfigurationError.require(connections.map { $0 >= 1 } ?? true, "limits.connections", "must be ≥ 1")
        let ice = try? JSONSerialization.jsonObject(with: Data(iceServersJSON.utf8))
        try ConfigurationError.require(ice is [Any], "ice.servers", "must be a JSON array")
        try ConfigurationError.require(["all", "relay"].contains(iceTransportPolicy), "ice.transportPolicy", "must be all or relay")
        try turn.validate()
        try tls.validate()
        let anyTURN = !turn.urls.isEmpty || iceServersJSON.contains("turn:") || iceServersJSON.contains("turns:")
        try ConfigurationError.require(
            iceTransportPolicy == "all" || anyTURN, "ice.transportPolicy",
            "relay needs a TURN server (turn.urls, or one in ice.servers): without one no call connects")
    }
}

/// A TURN relay that shares a secret with Plaza (coturn's `use-auth-secret`): join hands each participant
/// credentials that expire, so nothing long-lived reaches a browser.
public struct TURNConfiguration: Sendable {
    /// `turn.urls`: the relay's URLs, e.g. `turn:party.example.com:3478?transport=udp` (a JSON array in the file,
    /// comma-separated in `PLAZA_TURN_URLS`). Default none.
    public var urls: [String] = []
    /// `turn.secret`: the secret shared with the TURN server (coturn's `static-auth-secret`). Needed with
    /// `turn.urls`; unused without them.
    public var secret: String?
    /// `turn.ttl`: seconds a credential stays valid. Clients get fresh ones each time they renew their room token.
    /// Default 86400.
    public var ttl: Double = 86_400

    public init() {}

    public func validate() throws(ConfigurationError) {
        for url in urls {
            try ConfigurationError.require(
                url.hasPrefix("turn:") || url.hasPrefix("turns:") || url.hasPrefix("stun:"), "turn.urls",
                "'\(url)' is not a turn:, turns: or stun: URL")
        }
        try ConfigurationError.require(urls.isEmpty || secret != nil, "turn.secret", "is needed with turn.urls")
        try ConfigurationError.require(secret.map { $0.utf8.count >= 16 } ?? true, "turn.secret", "must be at least 16 bytes")
        try ConfigurationError.require(ttl >= 60, "turn.ttl", "must be ≥ 60 seconds")
    }
}

/// Tokens: the room tokens this process issues and the external ones it accepts.
public struct AuthConfiguration: Sendable {
    /// `auth.guests`: whether `join` admits callers without a token, as guests. Default true.
    public var guests = true
    /// `auth.secret`: HS256 secret for the room tokens (≥ 32 bytes). Default on `plaza serve`: generated once and
    /// kept in `<dataDir>/secret`; every process of a fleet needs the same one.
    public var secret: String?
    /// `auth.previousSecrets`: secrets that signed room tokens before `auth.secret` replaced them (`plaza secrets
    /// rotate`), accepted until the tokens they signed expire (a JSON array in the file, comma-separated in
    /// `PLAZA_AUTH_PREVIOUS_SECRETS`). Default none.
    public var previousSecrets: [String] = []
    /// `auth.tokenTTL`: lifetime of an issued room token, in seconds. Default 900.
    public var tokenTTL: Double = 900
    /// `auth.adminToken`: bearer token for the admin API. Default on `plaza serve`: generated once and kept in
    /// `<dataDir>/admin-token`.
    public var adminToken: String?
    /// `auth.jwt.hmacSecret`: the external auth service's HS256 shared secret.
    public var externalHMACSecret: String?
    /// `auth.jwt.publicKeyFile`: path of the external auth service's ES256 or RS256 public key (PEM).
    public var externalPublicKeyFile: String?
    /// `auth.jwt.jwksFile`: path of the external auth service's JWKS document.
    public var externalJWKSFile: String?

    public init() {}

    public func validate() throws(ConfigurationError) {
        try ConfigurationError.require(tokenTTL > 0, "auth.tokenTTL", "must be > 0")
        try ConfigurationError.require(secret.map { $0.utf8.count >= 32 } ?? true, "auth.secret", "must be at least 32 bytes")
        try ConfigurationError.require(
            previousSecrets.allSatisfy { $0.utf8.count >= 32 }, "auth.previousSecrets", "must each be at least 32 bytes")
    }
}

/// A room server's WebSocket connections: their deadlines and limits.
public struct WebSocketConfiguration: Sendable {
    /// `websocket.helloTimeout`: seconds a new connection has to send `hello`. Default 10.
    public var helloTimeout: Double = 10
    /// `websocket.pingInterval`: seconds between server pings; a connection that has not answered the previous
    /// ping by the next one is closed (1001, reason "Ping timeout"). Default 20.
    public var pingInterval: Double = 20
    /// `websocket.closeTimeout`: seconds to wait for the client's close reply, or for a slow consumer's socket
    /// to take the close frame, before the socket is dropped. Default 5.
    public var closeTimeout: Double = 5
    /// `limits.frameBytes`: largest inbound WebSocket message, in bytes (larger: close 1009). Default 16384.
    public var frameBytes = 16_384
    /// `limits.framesPerSecond`: sustained inbound frames per second per connection. Default 50.
    public var framesPerSecond: Double = 50
    /// `limits.frameBurst`: inbound frames a connection may send at once above the rate. Default 100.
    public var frameBurst: Double = 100
    /// `limits.floodClose`: frames dropped in a row for rate before the connection is closed (4004). Default 500.
    public var floodClose = 500
    /// `limits.outboundQueueBytes`: bytes queued to one connection before it is closed as a slow consumer
    /// (4002). Default 1048576.
    public var outboundQueueBytes = 1 << 20
    /// `limits.socketSendBuffer`: the kernel's send buffer of each connection, in bytes (`SO_SNDBUF`; the kernel
    /// doubles it for its own bookkeeping): with the outbound queue, all a client that stops reading can hold.
    /// Default 65536.
    public var socketSendBuffer = 65_536
    /// `limits.slowConsumerSeconds`: seconds a connection may go without taking what is queued for it (its
    /// socket full) before it is closed as a slow consumer (4002), however little is queued. Default 10.
    public var slowConsumerSeconds: Double = 10

    public init() {}

    public func validate() throws(ConfigurationError) {
        try ConfigurationError.require(helloTimeout > 0, "websocket.helloTimeout", "must be > 0")
        try ConfigurationError.require(pingInterval > 0, "websocket.pingInterval", "must be > 0")
        try ConfigurationError.require(closeTimeout > 0, "websocket.closeTimeout", "must be > 0")
        try ConfigurationError.require(frameBytes >= 256, "limits.frameBytes", "must be ≥ 256")
        try ConfigurationError.require(framesPerSecond > 0, "limits.framesPerSecond", "must be > 0")
        try ConfigurationError.require(frameBurst >= 1, "limits.frameBurst", "must be ≥ 1")
        try ConfigurationError.require(floodClose >= 1, "limits.floodClose", "must be ≥ 1")
        try ConfigurationError.require(outboundQueueBytes >= 4096, "limits.outboundQueueBytes", "must be ≥ 4096")
        try ConfigurationError.require(socketSendBuffer >= 4096, "limits.socketSendBuffer", "must be ≥ 4096")
        try ConfigurationError.require(slowConsumerSeconds > 0, "limits.slowConsumerSeconds", "must be > 0")
    }
}

/// A Janus beside the room servers (`media.janus*`), which carries meeting zones and large bubbles: where browsers
/// reach it and how Plaza drives it. Without `media.janusURL` there is no bridge and calls stay peer-to-peer.
public struct JanusConfiguration: Sendable {
    /// `media.janusURL`: Janus's WebSocket API as browsers reach it (e.g. `wss://party.example.com/janus`).
    public var url: String?
    /// `media.janusAdminURL`: its Admin API, as this server reaches it (e.g. `http://127.0.0.1:7088/admin`).
    public var adminURL: String?
    /// `media.janusAdminSecret`: the Admin API's `admin_secret`.
    public var adminSecret: String?
    /// `media.janusRoomAdminKey`: the VideoRoom plugin's `admin_key`, when it is set (only Plaza may create rooms).
    public var roomAdminKey: String?
    /// `media.janusBitrate`: each publisher's bitrate cap in a conference, bits per second. Default 768000.
    public var bitrate = 768_000

    public init() {}

    public func validate() throws(ConfigurationError) {
        try ConfigurationError.require(
            (url == nil) == (adminURL == nil), url == nil ? "media.janusURL" : "media.janusAdminURL",
            "media.janusURL and media.janusAdminURL go together")
        for (key, value) in [("media.janusURL", url), ("media.janusAdminURL", adminURL)] {
            guard let value else { continue }
            let schemes = key == "media.janusURL" ? ["ws://", "wss://"] : ["http://", "https://"]
            try ConfigurationError.require(schemes.contains { value.hasPrefix($0) }, key, "must start with \(schemes.joined(separator: " or "))")
        }
        try ConfigurationError.require(bitrate >= 32_000, "media.janusBitrate", "must be ≥ 32000")
    }
}

/// A room server: its connections, its rooms, and how it takes part in a fleet (`plaza node`).
public struct RoomServerConfiguration: Sendable {
    public var webSocket = WebSocketConfiguration()
    /// The bridge for meeting zones and large bubbles (`media.janus*`).
    public var janus = JanusConfiguration()
    public var rooms = RoomsConfiguration()
    /// `cluster.nodeID`: this node's name in the registry, unique in the fleet. Default: the host name and port.
    public var nodeID: String?
    /// `cluster.region`: where the node runs; join prefers nodes of the caller's region. Default `default`.
    public var region = "default"
    /// `cluster.capacity`: participants the node is sized for; it gets no new rooms at that load. Default 5000
    /// (`NodeKind.roomServer.defaultCapacity`).
    public var capacity = NodeKind.roomServer.defaultCapacity
    /// `cluster.heartbeatInterval`: seconds between load reports (and lease renewals). Default 2.
    public var heartbeatInterval: Double = 2
    /// `cluster.leaseTTL`: seconds a room's placement stays its node's without renewal; after that the room may
    /// move and the old node is fenced. Default 6.
    public var leaseTTL: Double = 6

    public init() {}

    public func validate() throws(ConfigurationError) {
        try webSocket.validate()
        try rooms.validate()
        try janus.validate()
        try ConfigurationError.require(capacity >= 1, "cluster.capacity", "must be ≥ 1")
        try ConfigurationError.require(heartbeatInterval > 0, "cluster.heartbeatInterval", "must be > 0")
        try ConfigurationError.require(
            leaseTTL > heartbeatInterval, "cluster.leaseTTL", "must be longer than cluster.heartbeatInterval")
    }
}
