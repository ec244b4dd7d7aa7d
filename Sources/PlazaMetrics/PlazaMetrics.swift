// The process's Prometheus metrics (`/metrics`), shared by the rooms, the transport and the directory.

public import Prometheus
public import PlazaProtocol
public import Synchronization

/// The process's Prometheus metrics, shared by the rooms, the transport and the directory. Labels come from
/// closed sets (frame types, error codes, close reasons), never from room or user names, so the number of
/// series is bounded.
public final class PlazaMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    public let connections: Gauge
    public let rooms: Gauge
    public let participants: Gauge
    public let framesIn: [ClientFrame.FrameType: Counter]
    public let framesOut: [ServerFrame.FrameType: Counter]
    public let fanoutDeliveries: Counter
    public let outboundMessages: Counter
    public let outboundBytes: Counter
    /// The same bytes, readable: the node reports its outbound rate in its heartbeat.
    public let outboundBytesTotal = Atomic<Int>(0)
    /// Connections closed as slow consumers, by `cause` (`queue_bytes`, `stalled`).
    public let slowConsumerDisconnects: [SlowConsumerCause: Counter]
    /// Rooms a fleet node gave up because it could not renew their leases while its peers reached the store.
    public let leasesGivenUp: Counter
    /// Accepts that failed for want of files or memory (each pauses accepting for a second).
    public let acceptBackoffs: Counter
    /// Connections reset after `websocket.closeTimeout` because the client never completed the close.
    public let abortedConnections: Counter
    /// Connections the connection guard refused or closed, by reason.
    public let refusedConnections: [ConnectionRefusal: Counter]
    public let rejectedFrames: [ErrorCode: Counter]
    public let closes: [UInt16: Counter]
    public let storeWriteLatency: DurationHistogram
    public let joinLatency: DurationHistogram
    public let helloLatency: DurationHistogram

    /// Marks this process as fleet node `id` — `plaza_node_info{node,region} 1`, which PromQL joins to every
    /// other series of the process by `instance` — and returns the gauge of its CPU in use (0…1 of the machine),
    /// `plaza_node_cpu`. Placement can read both from Prometheus (`cluster.loadSource` prometheus).
    public func fleetNode(id: String, region: String) -> Gauge {
        registry.makeGauge(
            descriptor: Self.name("node_info", "This fleet node's id and region, as labels; always 1."),
            labels: [("node", id), ("region", region)]
        ).set(1.0)
        return registry.makeGauge(descriptor: Self.name("node_cpu", "CPU in use on this fleet node, 0 to 1 of the machine."))
    }

    static let rejectionCodes: [ErrorCode] = [
        .invalidJSON, .invalidFrame, .unknownType, .helloRequired, .alreadyJoined, .rateLimited, .textTooLong,
        .unknownParticipant, .roomFull, .nodeFull, .tooManyConnections, .draining, .unauthorized, .tokenExpired,
        .forbidden, .storeUnavailable, .moved, .internal,
    ]

    static let closeCodes: [CloseCode] = [
        .normal, .goingAway, .protocolError, .invalidPayload, .messageTooBig, .helloTimeout, .slowConsumer, .moved, .flooding,
        .unauthorized, .roomFull, .tooManyConnections, .nodeFull,
    ]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        connections = registry.makeGauge(descriptor: Self.name("connections", "Open WebSocket connections."))
        rooms = registry.makeGauge(descriptor: Self.name("rooms", "Rooms loaded on this node."))
        participants = registry.makeGauge(descriptor: Self.name("participants", "Participants in rooms on this node."))
        framesIn = Dictionary(uniqueKeysWithValues: ClientFrame.FrameType.allCases.map {
            ($0, registry.makeCounter(descriptor: Self.name("frames_in_total", "Client frames accepted, by type."), labels: [("type", $0.rawValue)]))
        })
        framesOut = Dictionary(uniqueKeysWithValues: ServerFrame.FrameType.allCases.map {
            ($0, registry.makeCounter(descriptor: Self.name("frames_out_total", "Server frames queued to connections, by type."), labels: [("type", $0.rawValue)]))
        })
        fanoutDeliveries = registry.makeCounter(descriptor: Self.name("fanout_deliveries_total", "Frames delivered to a connection by room fan-out."))
        outboundMessages = registry.makeCounter(descriptor: Self.name("websocket_messages_out_total", "WebSocket messages written (each may batch several frames)."))
        outboundBytes = registry.makeCounter(descriptor: Self.name("websocket_bytes_out_total", "Payload bytes of the WebSocket messages written."))
        slowConsumerDisconnects = Dictionary(uniqueKeysWithValues: SlowConsumerCause.allCases.map {
            ($0, registry.makeCounter(
                descriptor: Self.name("slow_consumer_disconnects_total", "Connections closed as slow consumers, by cause: a full outbound queue or a stalled socket."),
                labels: [("cause", $0.rawValue)]))
        })
        leasesGivenUp = registry.makeCounter(
            descriptor: Self.name("leases_given_up_total", "Rooms this node gave up (clients sent away with 4003) because it could not renew their leases."))
        acceptBackoffs = registry.makeCounter(
            descriptor: Self.name("accept_backoffs_total", "Pauses of a second in accepting connections, each after an accept failed for want of open files or memory."))
        abortedConnections = registry.makeCounter(
            descriptor: Self.name("connections_aborted_total", "Connections reset because the client did not complete the close within websocket.closeTimeout."))
        refusedConnections = Dictionary(uniqueKeysWithValues: ConnectionRefusal.allCases.map {
            ($0, registry.makeCounter(descriptor: Self.name("connections_refused_total", "Connections refused or closed before a request, by reason."), labels: [("reason", $0.rawValue)]))
        })
        rejectedFrames = Dictionary(uniqueKeysWithValues: Self.rejectionCodes.map {
            ($0, registry.makeCounter(descriptor: Self.name("rejected_frames_total", "Client frames and requests refused, by error code."), labels: [("code", $0.rawValue)]))
        })
        closes = Dictionary(uniqueKeysWithValues: Self.closeCodes.map {
            ($0.rawValue, registry.makeCounter(descriptor: Self.name("closes_total", "Connections closed by the server, by close code."), labels: [("code", String($0.rawValue))]))
        })
        let buckets: [Duration] = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        ]
        storeWriteLatency = registry.makeDurationHistogram(descriptor: Self.name("store_write_seconds", "Latency of durable chat writes (one batch each)."), buckets: buckets)
        joinLatency = registry.makeDurationHistogram(
            descriptor: Self.name("join_seconds", "Latency of POST /api/v1/join."), buckets: buckets)
        helloLatency = registry.makeDurationHistogram(
            descriptor: Self.name("hello_seconds", "Latency from a hello to its welcome being queued."), buckets: buckets)
    }

    /// `plaza_<name>`; the unit is part of `name` (`_total`, `_seconds`).
    /// The gauge of the served certificate's expiry (Unix seconds), for a role that serves HTTPS.
    public func tlsCertificateExpiry() -> Gauge {
        registry.makeGauge(
            descriptor: Self.name(
                "tls_certificate_expiry_timestamp_seconds", "When the TLS certificate in service expires, in seconds since the Unix epoch."))
    }

    private static func name(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "plaza", metricName: name, unitName: "", helpText: help)
    }

    public func rejected(_ code: ErrorCode) {
        (rejectedFrames[code] ?? rejectedFrames[.internal])?.increment()
    }

    public func connectionRefused(_ reason: ConnectionRefusal) {
        refusedConnections[reason]?.increment()
    }

    public func slowConsumer(_ cause: SlowConsumerCause) {
        slowConsumerDisconnects[cause]?.increment()
    }

    public func closed(_ code: CloseCode) {
        closes[code.rawValue]?.increment()
    }
}

/// How a connection was found to be a slow consumer: the `cause` label of `plaza_slow_consumer_disconnects_total`.
public enum SlowConsumerCause: String, CaseIterable, Sendable {
    /// What is queued would pass `limits.outboundQueueBytes`.
    case queueBytes = "queue_bytes"
    /// The socket took nothing for `limits.slowConsumerSeconds` while frames waited.
    case stalled
}

/// Why the connection guard refused or closed a connection: the `reason` label of
/// `plaza_connections_refused_total`.
public enum ConnectionRefusal: String, CaseIterable, Sendable {
    /// No request within `http.headerTimeout`, or none after the last within `http.idleTimeout`.
    case idle
    /// 408: a request head that did not arrive whole in time.
    case headerTimeout = "header_timeout"
    /// 431: a request head over `limits.headerBytes` or `limits.headerCount`.
    case headerTooLarge = "header_too_large"
    /// 414: a request target over `limits.urlBytes`.
    case urlTooLong = "url_too_long"
    /// 429: the client's address holds `limits.connectionsPerAddress` connections.
    case perAddress = "per_address"
    /// 503: the server holds `limits.connections`.
    case capacity
    /// 400 or 426: not a request, or a broken WebSocket handshake.
    case badRequest = "bad_request"

    /// The reason of an answer with `status`.
    public init(status: Int) {
        self = switch status {
        case 408: .headerTimeout
        case 431: .headerTooLarge
        case 414: .urlTooLong
        case 429: .perAddress
        case 503: .capacity
        default: .badRequest
        }
    }
}
