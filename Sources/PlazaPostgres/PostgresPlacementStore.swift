public import PlazaCore
public import PlazaStore
public import PlazaPlacement
import PostgresNIO

/// The node registry and room placements in PostgreSQL (tables `nodes` and `placements`, migration 2).
///
/// Placing and claiming a room each end in one conditional upsert of its row, which PostgreSQL serializes on the
/// row: of two directories racing to place a room, the second finds the first's placement live and takes it; of
/// two nodes claiming it, only one gets it. Fencing is a conditional write: chat rows are inserted only while
/// the writer's `(node, epoch)` is the room's placement (its row locked against a concurrent claim).
extension PostgresStore: PlacementStore {
    public func register(_ node: NodeRegistration, now: Int64) async throws {
        _ = try await guarded {
            try await client.query(
                """
                INSERT INTO nodes (id, url, region, capacity, state, reported_at, registered_at, kind)
                VALUES (\(node.id), \(node.url), \(node.region), \(node.capacity), 'serving', \(now), \(now), \(node.kind))
                ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url, region = EXCLUDED.region,
                    capacity = EXCLUDED.capacity, reported_at = EXCLUDED.reported_at, kind = EXCLUDED.kind
                """, logger: logger)
        }
    }

    public func heartbeat(
        node: String, report: NodeReport, rooms: [RoomName], leaseTTL: Int64, now: Int64
    ) async throws -> HeartbeatAnswer {
        try await guarded {
            var kept = Set<String>()
            var drain = false
            var recording: String?
            for try await (room, drainRequested, assigned) in try await client.execute(
                Heartbeat(node: node, report: report, rooms: rooms.map(\.rawValue), leaseUntil: now + leaseTTL, now: now),
                logger: logger)
            {
                if let room { kept.insert(room) } else { (drain, recording) = (drainRequested, assigned) }
            }
            return HeartbeatAnswer(lost: rooms.filter { !kept.contains($0.rawValue) }, drain: drain, recording: recording)
        }
    }

    public func nodes() async throws -> [NodeRecord] {
        try await guarded {
            var result: [NodeRecord] = []
            let rows = try await client.query(
                """
                SELECT id, url, region, capacity, state, connections,
                    GREATEST(rooms, a.assigned), GREATEST(participants, a.assigned),
                    cpu, bytes_out_per_second, reported_at, kind, bytes_in_per_second, GREATEST(largest_room, a.assigned)
                FROM nodes n
                CROSS JOIN LATERAL (SELECT COUNT(*)::INTEGER AS assigned FROM recordings r WHERE r.recorder = n.id) a
                ORDER BY id
                """, logger: logger)
            for try await (id, url, region, capacity, state, connections, rooms, participants, cpu, bytesOut, reportedAt, kind, bytesIn, largest)
                in rows.decode((String, String, String, Int, String, Int, Int, Int, Double, Double, Int64, String, Double, Int).self)
            {
                result.append(
                    NodeRecord(
                        registration: NodeRegistration(id: id, url: url, region: region, capacity: capacity, kind: kind),
                        report: NodeReport(
                            state: NodeState(rawValue: state) ?? .draining, connections: connections, rooms: rooms,
                            participants: participants, cpu: cpu, bytesOutPerSecond: bytesOut, bytesInPerSecond: bytesIn,
                            largestRoom: largest),
                        reportedAt: reportedAt))
            }
            return result
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
            else { return .noCapacity }
            let leaseUntil = now + leaseTTL
            let placed = try await guarded {
                for try await (epoch, bridge, bridgeURL, bridgeLease) in try await client.execute(
                    PlaceRoom(room: room.rawValue, node: chosen.id, leaseUntil: leaseUntil, now: now, live: live), logger: logger)
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

    /// The room's placement while it is sticky: its lease runs and its node reports (a draining home keeps its
    /// rooms).
    private func livePlacement(of room: RoomName, live: Int64, now: Int64) async throws -> RoomPlacement? {
        try await guarded {
            for try await (node, url, epoch, leaseUntil, bridge, bridgeURL, bridgeLease) in try await client.execute(
                LivePlacement(room: room.rawValue, now: now, live: live), logger: logger)
            {
                return RoomPlacement(
                    room: room, node: node, url: url, epoch: epoch, leaseUntil: leaseUntil,
                    conference: Self.conference(room, bridge, bridgeURL, bridgeLease))
            }
            return nil
        }
    }

    /// The live conference the placement statements read alongside (all three columns, or none).
    private static func conference(_ room: RoomName, _ bridge: String?, _ url: String?, _ leaseUntil: Int64?) -> BridgePlacement? {
        guard let bridge, let url, let leaseUntil else { return nil }
        return BridgePlacement(room: room, bridge: bridge, url: url, leaseUntil: leaseUntil)
    }

    /// Power-of-two choice. Two random live, serving nodes (of the region, when one is asked for) with their
    /// corrected loads are all it needs: they are sampled from the list of such nodes read at most
    /// `CandidateNodes.maximumAge` ago, and only their rows are read fresh. Every live node is read only when
    /// the sample falls short (fewer than two in the region, or one of them now dead, draining or full).
    private func choose(
        region: String?, policy: PlacementPolicy, external: ExternalLoads?, live: Int64, now: Int64,
        using random: inout some RandomNumberGenerator
    ) async throws -> (NodeLoad, String)? {
        try await guarded {
            let known = try await candidateNodes(live: live, now: now)
            let pool = region.map { region in known.filter { $0.region == region } } ?? known
            let sampled = Placement.twoAtRandom(pool, using: &random).map { [$0.0.id, $0.1.id] } ?? []
            var (loads, urls) = sampled.isEmpty
                ? ([], [:])
                : try await Self.loads(
                    client.execute(NodeLoads.Sampled(ids: sampled, placedSince: external?.since), logger: logger),
                    external: external)
            if loads.count < 2 || !loads.allSatisfy({ Placement.isEligible($0, now: now, policy: policy) }) {
                (loads, urls) = try await Self.loads(
                    client.execute(NodeLoads.Live(live: live, placedSince: external?.since), logger: logger),
                    external: external)
            }
            guard let chosen = Placement.choose(from: loads, region: region, now: now, policy: policy, using: &random) else {
                return nil
            }
            return (chosen, urls[chosen.id] ?? "")
        }
    }

    /// The live serving nodes, from `candidates` unless it is older than `CandidateNodes.maximumAge` (or from a
    /// later clock than `now`).
    private func candidateNodes(live: Int64, now: Int64) async throws -> [CandidateNodes.Node] {
        if let fresh = candidates.withLock({ $0.nodes(at: now) }) { return fresh }
        var nodes: [CandidateNodes.Node] = []
        let rows = try await client.query(
            "SELECT id, region FROM nodes WHERE reported_at >= \(live) AND state = 'serving' AND kind = 'room-server'",
            logger: logger)
        for try await (id, region) in rows.decode((String, String).self) { nodes.append(.init(id: id, region: region)) }
        candidates.withLock { $0 = CandidateNodes(readAt: now, list: nodes) }
        return nodes
    }

    private static func loads(
        _ rows: some AsyncSequence<NodeLoads.Row, any Error>, external: ExternalLoads?
    ) async throws -> ([NodeLoad], [String: String]) {
        var loads: [NodeLoad] = []
        var urls: [String: String] = [:]
        for try await (id, url, region, state, capacity, participants, rooms, cpu, reportedAt, placed) in rows {
            guard let state = NodeState(rawValue: state) else { continue }
            urls[id] = url
            let load = NodeLoad(
                id: id, region: region, state: state, capacity: capacity, participants: participants, rooms: rooms,
                cpu: cpu, reportedAt: reportedAt, placedSinceReport: Int(placed))
            loads.append(external?.applied(to: load) ?? load)
        }
        return (loads, urls)
    }

    public func placement(of room: RoomName) async throws -> RoomPlacement? {
        try await guarded {
            let rows = try await client.query(
                """
                SELECT p.node, COALESCE(n.url, ''), p.epoch, p.lease_until FROM placements p
                LEFT JOIN nodes n ON n.id = p.node WHERE p.room = \(room.rawValue)
                """, logger: logger)
            for try await (node, url, epoch, leaseUntil) in rows.decode((String, String, Int64, Int64).self) {
                return RoomPlacement(room: room, node: node, url: url, epoch: epoch, leaseUntil: leaseUntil)
            }
            return nil
        }
    }

    public func claim(_ room: RoomName, node: String, leaseTTL: Int64, now: Int64) async throws -> Int64? {
        try await guarded {
            let rows = try await client.query(
                """
                INSERT INTO placements (room, node, epoch, lease_until, placed_at)
                VALUES (\(room.rawValue), \(node), 1, \(now + leaseTTL), \(now))
                ON CONFLICT (room) DO UPDATE SET
                    epoch = CASE WHEN placements.node = EXCLUDED.node THEN placements.epoch ELSE placements.epoch + 1 END,
                    node = EXCLUDED.node, lease_until = EXCLUDED.lease_until
                WHERE placements.node = EXCLUDED.node OR placements.lease_until <= \(now)
                RETURNING epoch
                """, logger: logger)
            for try await epoch in rows.decode(Int64.self) { return epoch }
            return nil
        }
    }

    public func release(_ room: RoomName, node: String, epoch: Int64) async throws {
        _ = try await guarded {
            try await client.query(
                "UPDATE placements SET lease_until = 0 WHERE room = \(room.rawValue) AND node = \(node) AND epoch = \(epoch)",
                logger: logger)
        }
    }

    public func append(_ messages: [ChatMessage], fencedBy node: String, epoch: Int64) async throws {
        guard let room = messages.first?.room else { return }
        precondition(messages.allSatisfy { $0.room == room }, "a fenced append is for one room")
        try await guarded {
            try await client.withTransaction(logger: logger) { connection in
                // Locks the placement row: a claim by another node waits for this write, or this write sees it.
                let rows = try await connection.query(
                    "SELECT 1 FROM placements WHERE room = \(room.rawValue) AND node = \(node) AND epoch = \(epoch) FOR SHARE",
                    logger: logger)
                var owned = false
                for try await _ in rows.decode(Int.self) { owned = true }
                guard owned else {
                    throw StoreError(.fenced, "\(node) is no longer the home of \(room) (epoch \(epoch))")
                }
                for query in try Self.inserts(messages) { try await connection.query(query, logger: logger) }
            }
        }
    }
}

/// The live serving nodes a directory last read: where placement samples its two candidates, so a decision
/// reads two node rows instead of every one. Nodes registered since the read are sampled after the next one.
struct CandidateNodes: Sendable {
    struct Node: Sendable {
        var id: String
        var region: String
    }

    /// Milliseconds a read stays in use.
    static let maximumAge: Int64 = 1_000
    var readAt: Int64?
    var list: [Node] = []

    func nodes(at now: Int64) -> [Node]? {
        guard let readAt, now >= readAt, now - readAt < Self.maximumAge else { return nil }
        return list
    }
}

// The statements of the hot paths (a join's placement, a node's heartbeat), prepared once per connection so
// PostgreSQL parses and plans them once rather than on every call.

/// A node's report and the renewal of its rooms' leases, in one statement (one round trip, one snapshot).
/// A node the autoscaler asked to drain stays `draining` whatever it reports; the bridges of its rooms keep
/// their conferences at least as long as the rooms' leases. Rows: each room whose lease was renewed, then one
/// row without a room carrying whether the node is asked to drain and the room it is to record (a recorder).
private struct Heartbeat: PostgresPreparedStatement {
    typealias Row = (String?, Bool, String?)
    static let sql = """
        WITH assigned AS (
            SELECT room FROM recordings WHERE recorder = $1
        ), reported AS (
            UPDATE nodes SET state = CASE WHEN drain_requested THEN 'draining' ELSE $2 END, connections = $3,
                rooms = $4, participants = $5, cpu = $6, bytes_out_per_second = $7, reported_at = $8,
                bytes_in_per_second = $11, largest_room = $12
            WHERE id = $1
            RETURNING drain_requested
        ), renewed AS (
            UPDATE placements SET lease_until = $9 WHERE node = $1 AND room = ANY($10) RETURNING room
        ), bridged AS (
            UPDATE bridge_placements SET lease_until = $9 WHERE room IN (SELECT room FROM renewed) AND lease_until < $9
        )
        SELECT room, false, NULL::TEXT FROM renewed
        UNION ALL SELECT NULL, drain_requested, (SELECT room FROM assigned) FROM reported
        """
    var node: String
    var report: NodeReport
    var rooms: [String]
    var leaseUntil: Int64
    var now: Int64

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 12)
        bindings.append(node)
        bindings.append(report.state.rawValue)
        bindings.append(report.connections)
        bindings.append(report.rooms)
        bindings.append(report.participants)
        bindings.append(report.cpu)
        bindings.append(report.bytesOutPerSecond)
        bindings.append(now)
        bindings.append(leaseUntil)
        bindings.append(rooms)
        bindings.append(report.bytesInPerSecond)
        bindings.append(report.largestRoom)
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
        WHERE p.room = $1 AND p.lease_until > $2 AND n.reported_at >= $3
        """
    var room: String
    var now: Int64
    var live: Int64

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 3)
        bindings.append(room)
        bindings.append(now)
        bindings.append(live)
        return bindings
    }

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
            WHERE placements.lease_until <= $4
                OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = placements.node AND n.reported_at >= $5)
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

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 5)
        bindings.append(room)
        bindings.append(node)
        bindings.append(leaseUntil)
        bindings.append(now)
        bindings.append(live)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
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
/// come from elsewhere). Two statements, so each keeps its own plan: the sampled nodes by id, or every node
/// reporting since `live`.
private enum NodeLoads {
    typealias Row = (String, String, String, String, Int, Int, Int, Double, Int64, Int64)
    static let columns = """
        SELECT n.id, n.url, n.region, n.state, n.capacity, n.participants, n.rooms, n.cpu, n.reported_at,
            (SELECT COUNT(*) FROM placements q WHERE q.node = n.id AND q.placed_at > COALESCE($2, n.reported_at))
        FROM nodes n
        """

    struct Sampled: PostgresPreparedStatement {
        typealias Row = NodeLoads.Row
        static let sql = NodeLoads.columns + " WHERE n.id = ANY($1)"
        static let bindingDataTypes: [PostgresDataType] = [.textArray, .int8]
        var ids: [String]
        var placedSince: Int64?

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(ids)
            bindings.append(placedSince)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    struct Live: PostgresPreparedStatement {
        typealias Row = NodeLoads.Row
        static let sql = NodeLoads.columns + " WHERE n.reported_at >= $1 AND n.kind = 'room-server'"
        static let bindingDataTypes: [PostgresDataType] = [.int8, .int8]
        var live: Int64
        var placedSince: Int64?

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(live)
            bindings.append(placedSince)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }
}
