public import PlazaCore
public import PlazaStore
public import PlazaFleetModel
public import PlazaPlacement
import PostgresNIO

/// Room placements in PostgreSQL (table `placements`, migration 2).
///
/// Placing and claiming a room each end in one conditional upsert of its row, which PostgreSQL serializes on the
/// row: of two directories racing to place a room, the second finds the first's placement live and takes it; of
/// two nodes claiming it, only one gets it. The choice itself is `Placement.choose`'s, as on SQLite.
extension PostgresStore: RoomPlacements {
    public func heartbeat(
        node: NodeID, report: NodeReport, rooms: [RoomName], leaseTTL: Int64, now: Int64
    ) async throws -> HeartbeatAnswer {
        try await guarded { [self] in
            var kept = Set<String>()
            var drain = false
            var resumedAt: Int64?
            for try await (room, drainRequested, resumed) in try await client.execute(
                Heartbeat(node: node.rawValue, report: report, rooms: rooms.map(\.rawValue), leaseUntil: now + leaseTTL, now: now),
                logger: logger)
            {
                if let room {
                    kept.insert(room)
                } else {
                    (drain, resumedAt) = (drainRequested, resumed.flatMap { $0 > 0 ? $0 : nil })
                }
            }
            return HeartbeatAnswer(lost: rooms.filter { !kept.contains($0.rawValue) }, drain: drain, fleetResumedAt: resumedAt)
        }
    }

    public func place(
        _ room: RoomName, region: String?, policy: PlacementPolicy, external: ExternalLoads?, leaseTTL: Int64, now: Int64,
        using random: inout some RandomNumberGenerator
    ) async throws -> PlacementDecision {
        let live = now - policy.heartbeatTTL
        // Three single statements, no transaction: the conditional upsert is the arbiter. Of two directories
        // placing one room at once, the second's upsert waits on the row the first inserted, finds it live and
        // changes nothing; the second then reads the first's placement. A few rounds at most, under contention.
        for _ in 0..<5 {
            if let existing = try await livePlacement(of: room, live: live, now: now) { return .existing(existing) }
            guard let (chosen, url) = try await choose(
                region: region, policy: policy, external: external, live: live, now: now, using: &random)
            else { return try await isResuming(live: live, silentSince: now - leaseTTL) ? .resuming : .noCapacity }
            let leaseUntil = now + leaseTTL
            let placed = try await guarded { [self] in
                for try await (epoch, bridge, bridgeURL, bridgeLease) in try await client.execute(
                    PlaceRoom(room: room.rawValue, node: chosen.id.rawValue, leaseUntil: leaseUntil, now: now, live: live), logger: logger)
                {
                    return Optional((epoch, Self.conference(room, bridge, bridgeURL, bridgeLease)))
                }
                return nil
            }
            if let (epoch, conference) = placed {
                return .placed(
                    RoomPlacement(room: room, node: chosen.id, url: url, epoch: epoch, leaseUntil: leaseUntil, conference: conference))
            }
        }
        throw StoreError(.unavailable, "placing \(room) did not settle")
    }

    /// Whether the fleet came back from a silence less than a heartbeat TTL ago, or is silent now (room servers are
    /// registered but none has beaten since `silentSince`: the store may have just come back, before any could).
    private func isResuming(live: Int64, silentSince: Int64) async throws -> Bool {
        try await guarded { [self] in
            let rows = try await client.query(
                """
                SELECT resumed_at >= \(live) OR (last_heartbeat > 0 AND last_heartbeat < \(silentSince)
                    AND EXISTS (SELECT 1 FROM nodes WHERE kind = \(NodeKind.roomServer.rawValue)))
                FROM fleet_clock WHERE id = 1
                """, logger: logger)
            for try await resuming in rows.decode(Bool.self) { return resuming }
            return false
        }
    }

    /// The room's placement while it is sticky: its lease runs and its node reports (a draining home keeps its
    /// rooms), or the fleet is coming back from a silence.
    private func livePlacement(of room: RoomName, live: Int64, now: Int64) async throws -> RoomPlacement? {
        try await guarded { [self] in
            for try await (node, url, epoch, leaseUntil, bridge, bridgeURL, bridgeLease) in try await client.execute(
                LivePlacement(room: room.rawValue, now: now, live: live), logger: logger)
            {
                return RoomPlacement(
                    room: room, node: NodeID(node), url: url, epoch: epoch, leaseUntil: leaseUntil,
                    conference: Self.conference(room, bridge, bridgeURL, bridgeLease))
            }
            return nil
        }
    }

    /// The live conference the placement statements read alongside (all three columns, or none).
    private static func conference(_ room: RoomName, _ bridge: String?, _ url: String?, _ leaseUntil: Int64?) -> BridgePlacement? {
        guard let bridge, let url, let leaseUntil else { return nil }
        return BridgePlacement(room: room, bridge: NodeID(bridge), url: url, leaseUntil: leaseUntil)
    }

    /// `Placement.choose` over the live serving room servers: it samples two from the list read at most
    /// `PlacementCandidates.maximumAge` ago, and only their rows are read fresh.
    private func choose(
        region: String?, policy: PlacementPolicy, external: ExternalLoads?, live: Int64, now: Int64,
        using random: inout some RandomNumberGenerator
    ) async throws -> (NodeLoad, String)? {
        var urls: [NodeID: String] = [:]
        let chosen = try await Placement.choose(
            candidates: try await candidateNodes(live: live, now: now), region: region, now: now, policy: policy,
            using: &random
        ) { only in
            let (loads, read) = try await guarded { [self] in
                if let only {
                    try await Self.loads(
                        client.execute(NodeLoads<SampledNodes>(filter: only.map(\.rawValue), placedSince: external?.since), logger: logger),
                        external: external)
                } else {
                    try await Self.loads(
                        client.execute(NodeLoads<LiveRoomServers>(filter: live, placedSince: external?.since), logger: logger), external: external)
                }
            }
            urls.merge(read) { $1 }
            return loads
        }
        return chosen.map { ($0, urls[$0.id] ?? "") }
    }

    /// The live serving room servers, from `candidates` unless it is older than `PlacementCandidates.maximumAge`.
    private func candidateNodes(live: Int64, now: Int64) async throws -> [PlacementCandidates.Node] {
        if let fresh = candidates.withLock({ $0.nodes(at: now) }) { return fresh }
        let nodes = try await guarded { [self] in
            var nodes: [PlacementCandidates.Node] = []
            let rows = try await client.query(
                """
                SELECT id, region FROM nodes
                WHERE reported_at >= \(live) AND state = 'serving' AND kind = \(NodeKind.roomServer.rawValue)
                """,
                logger: logger)
            for try await (id, region) in rows.decode((String, String).self) { nodes.append(.init(id: NodeID(id), region: region)) }
            return nodes
        }
        candidates.withLock { $0.update(nodes, readAt: now) }
        return nodes
    }

    private static func loads(
        _ rows: some AsyncSequence<NodeLoads<SampledNodes>.Row, any Error>, external: ExternalLoads?
    ) async throws -> ([NodeLoad], [NodeID: String]) {
        var loads: [NodeLoad] = []
        var urls: [NodeID: String] = [:]
        for try await (id, url, region, state, capacity, participants, rooms, cpu, reportedAt, placed) in rows {
            guard let state = NodeState(rawValue: state) else { continue }
            urls[NodeID(id)] = url
            let load = NodeLoad(
                id: NodeID(id), region: region, state: state, capacity: capacity, participants: participants, rooms: rooms,
                cpu: cpu, reportedAt: reportedAt, placedSinceReport: Int(placed))
            loads.append(external?.applied(to: load) ?? load)
        }
        return (loads, urls)
    }

    public func placement(of room: RoomName) async throws -> RoomPlacement? {
        try await guarded { [self] in
            let rows = try await client.query(
                """
                SELECT p.node, COALESCE(n.url, ''), p.epoch, p.lease_until FROM placements p
                LEFT JOIN nodes n ON n.id = p.node WHERE p.room = \(room.rawValue)
                """, logger: logger)
            for try await (node, url, epoch, leaseUntil) in rows.decode((String, String, Int64, Int64).self) {
                return RoomPlacement(room: room, node: NodeID(node), url: url, epoch: epoch, leaseUntil: leaseUntil)
            }
            return nil
        }
    }

    public func claim(_ room: RoomName, node: NodeID, leaseTTL: Int64, now: Int64) async throws -> Fence? {
        try await guarded { [self] in
            let rows = try await client.query(
                """
                INSERT INTO placements (room, node, epoch, lease_until, placed_at)
                VALUES (\(room.rawValue), \(node.rawValue), 1, \(now + leaseTTL), \(now))
                ON CONFLICT (room) DO UPDATE SET
                    epoch = CASE WHEN placements.node = EXCLUDED.node THEN placements.epoch ELSE placements.epoch + 1 END,
                    node = EXCLUDED.node, lease_until = EXCLUDED.lease_until
                WHERE placements.node = EXCLUDED.node OR placements.lease_until <= \(now)
                RETURNING epoch
                """, logger: logger)
            for try await epoch in rows.decode(Int64.self) { return Fence(node: node, epoch: epoch) }
            return nil
        }
    }

    public func release(_ room: RoomName, fence: Fence) async throws {
        _ = try await guarded { [self] in
            try await client.query(
                """
                UPDATE placements SET lease_until = 0
                WHERE room = \(room.rawValue) AND node = \(fence.node.rawValue) AND epoch = \(fence.epoch)
                """, logger: logger)
        }
    }
}

// The statements of the hot paths (a join's placement, a node's heartbeat), prepared once per connection so
// PostgreSQL parses and plans them once rather than on every call.

/// A room server's report and the renewal of its rooms' leases, in one statement (one round trip, one
/// snapshot). A node the autoscaler asked to drain stays `draining` whatever it reports; the bridges of its rooms
/// keep their conferences at least as long as the rooms' leases. Rows: each room whose lease was renewed, then
/// one row without a room carrying whether the node is asked to drain and when the fleet last resumed.
private struct Heartbeat: PostgresPreparedStatement {
    typealias Row = (String?, Bool, Int64?)
    static let sql = """
        WITH reported AS (
            UPDATE nodes SET \(reportColumns) WHERE id = $1 RETURNING drain_requested
        ), renewed AS (
            UPDATE placements SET lease_until = $11 WHERE node = $1 AND room = ANY($12) RETURNING room
        ), bridged AS (
            UPDATE bridge_placements SET lease_until = $11 WHERE room IN (SELECT room FROM renewed) AND lease_until < $11
        ), clocked AS (
            UPDATE fleet_clock SET last_heartbeat = $8,
                resumed_at = CASE WHEN last_heartbeat > 0 AND last_heartbeat < $8 - ($11 - $8) THEN $8 ELSE resumed_at END
            WHERE id = 1 AND last_heartbeat < $8 - 1000
            RETURNING resumed_at
        )
        SELECT room, false, NULL::BIGINT FROM renewed
        UNION ALL SELECT NULL, drain_requested,
            COALESCE((SELECT resumed_at FROM clocked), (SELECT resumed_at FROM fleet_clock WHERE id = 1)) FROM reported
        """
    var node: String
    var report: NodeReport
    var rooms: [String]
    var leaseUntil: Int64
    var now: Int64

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 12)
        bindings.append(node: node, report, now: now)
        bindings.append(leaseUntil)
        bindings.append(rooms)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

/// The room's placement while its lease runs and its node reports, with its live conference if it has one.
/// Rows: node, URL, epoch, lease end, then the conference's bridge, URL and lease end (NULL without one).
private struct LivePlacement: PostgresPreparedStatement {
    typealias Row = (String, String, Int64, Int64, String?, String?, Int64?)
    static let sql = """
        SELECT p.node, n.url, p.epoch, p.lease_until, c.bridge, c.url, c.lease_until
        FROM placements p JOIN nodes n ON n.id = p.node
        LEFT JOIN LATERAL (\(liveConference(room: "$1", now: "$2", live: "$3"))) c ON true
        WHERE p.room = $1 AND ((p.lease_until > $2 AND n.reported_at >= $3) OR \(fleetResuming(live: "$3")))
        """
    var room: String
    var now: Int64
    var live: Int64

    func makeBindings() throws -> PostgresBindings { PostgresBindings(room, now, live) }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

/// Places the room on a node unless it has a live placement: the arbiter between racing directories (the
/// second upsert waits on the row the first inserted, finds it live and changes nothing). Rows: the new
/// placement's epoch with the room's live conference (a room placed afresh may still have one), none when
/// another placement is live.
private struct PlaceRoom: PostgresPreparedStatement {
    typealias Row = (Int64, String?, String?, Int64?)
    static let sql = """
        WITH placed AS (
            INSERT INTO placements (room, node, epoch, lease_until, placed_at) VALUES ($1, $2, 1, $3, $4)
            ON CONFLICT (room) DO UPDATE SET node = EXCLUDED.node, epoch = placements.epoch + 1,
                lease_until = EXCLUDED.lease_until, placed_at = EXCLUDED.placed_at
            WHERE (placements.lease_until <= $4
                OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = placements.node AND n.reported_at >= $5))
                AND NOT \(fleetResuming(live: "$5"))
            RETURNING epoch
        )
        SELECT placed.epoch, c.bridge, c.url, c.lease_until
        FROM placed LEFT JOIN LATERAL (\(liveConference(room: "$1", now: "$4", live: "$5"))) c ON true
        """
    var room: String
    var node: String
    var leaseUntil: Int64
    var now: Int64
    var live: Int64

    func makeBindings() throws -> PostgresBindings { PostgresBindings(room, node, leaseUntil, now, live) }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

/// Whether the fleet came back from a silence (the store was down for everyone) less than a heartbeat TTL ago,
/// as a condition of the placement statements (`live` names the parameter holding now − heartbeat TTL).
private func fleetResuming(live: String) -> String {
    "(SELECT resumed_at FROM fleet_clock WHERE id = 1) >= \(live)"
}

/// The room's conference while its lease runs and its bridge reports, as a subquery of the placement
/// statements: `room`, `now` and `live` name their parameters (`$1`…), which differ from one statement to the
/// other.
private func liveConference(room: String, now: String, live: String) -> String {
    """
    SELECT b.bridge, bn.url, b.lease_until FROM bridge_placements b JOIN nodes bn ON bn.id = b.bridge
    WHERE b.room = \(room) AND b.lease_until > \(now) AND bn.reported_at >= \(live)
    """
}

/// Nodes' reports with the rooms placed on each since (since its report, or since `placedSince` when the loads
/// come from elsewhere), of the nodes `Filter` names. Each filter is a statement of its own, so each keeps its own
/// plan: the sampled nodes by id, or every room server reporting since a time.
private struct NodeLoads<Filter: NodeLoadsFilter>: PostgresPreparedStatement {
    typealias Row = (String, String, String, String, Int, Int, Int, Double, Int64, Int64)
    /// One prepared statement per filter (PostgreSQL cuts names at 63 bytes: a reflected generic name would not do).
    static var name: String { "plaza_node_loads_" + Filter.name }
    static var sql: String {
        """
        SELECT n.id, n.url, n.region, n.state, n.capacity, n.participants, n.rooms, n.cpu, n.reported_at,
            (SELECT COUNT(*) FROM placements q WHERE q.node = n.id AND q.placed_at > COALESCE($2, n.reported_at))
        FROM nodes n WHERE \(Filter.condition)
        """
    }
    static var bindingDataTypes: [PostgresDataType] { [Filter.type, .int8] }
    var filter: Filter.Value
    var placedSince: Int64?

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        try bindings.append(filter)
        bindings.append(placedSince)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

/// Which nodes `NodeLoads` reads: a condition on `$1`.
private protocol NodeLoadsFilter: Sendable {
    associatedtype Value: PostgresEncodable & Sendable
    static var name: String { get }
    static var condition: String { get }
    static var type: PostgresDataType { get }
}

/// The sampled nodes, by id.
private enum SampledNodes: NodeLoadsFilter {
    typealias Value = [String]
    static let name = "sampled"
    static let condition = "n.id = ANY($1)"
    static let type = PostgresDataType.textArray
}

/// Every room server reporting since `$1`. The kind is a constant of Swift's, not a parameter: the statement
/// keeps one plan.
private enum LiveRoomServers: NodeLoadsFilter {
    typealias Value = Int64
    static let name = "live"
    static let condition = "n.reported_at >= $1 AND n.kind = '\(NodeKind.roomServer.rawValue)'"
    static let type = PostgresDataType.int8
}
