public import PlazaCore
public import PlazaStore
public import PlazaFleetModel
public import PlazaPlacement
import SQLiteNIO
import Foundation

/// Room placements in SQLite (table `placements`, migration 2), for the room servers of one machine sharing one
/// file.
///
/// Each decision that reads then writes (placing a room, a heartbeat) is one write transaction, so of two
/// processes placing one room the second sees the first's placement; claims are one conditional upsert, as in
/// PostgreSQL. The choice itself is `Placement.choose`'s, as on PostgreSQL.
extension SQLiteStore: RoomPlacements {
    public func heartbeat(
        node: NodeID, report: NodeReport, rooms: [RoomName], leaseTTL: Int64, now: Int64
    ) async throws -> HeartbeatAnswer {
        let leaseUntil = Int(now + leaseTTL)
        let roomList = try Self.jsonArray(rooms.map(\.rawValue))
        return try await exclusive {
            try await transaction {
                let reported = try await record(report, of: node, now: now)
                try await run(
                    """
                    UPDATE fleet_clock SET last_heartbeat = ?1,
                        resumed_at = CASE WHEN last_heartbeat > 0 AND last_heartbeat < ?1 - ?2 THEN ?1 ELSE resumed_at END
                    WHERE id = 1 AND last_heartbeat < ?1 - 1000
                    """, [.integer(Int(now)), .integer(Int(leaseTTL))])
                var kept = Set<String>()
                if !rooms.isEmpty {
                    let renewed = try await query(
                        """
                        UPDATE placements SET lease_until = ?
                        WHERE node = ? AND room IN (SELECT value FROM json_each(?)) RETURNING room
                        """, [.integer(leaseUntil), .name(node), .text(roomList)])
                    kept = Set(renewed.compactMap { $0.column("room")?.string })
                    // The conferences of the renewed rooms (those still this node's) keep up with their leases.
                    try await run(
                        """
                        UPDATE bridge_placements SET lease_until = ?1
                        WHERE lease_until < ?1 AND room IN (
                            SELECT room FROM placements WHERE node = ?2 AND room IN (SELECT value FROM json_each(?3)))
                        """, [.integer(leaseUntil), .name(node), .text(roomList)])
                }
                let resumedAt = try await query("SELECT resumed_at FROM fleet_clock WHERE id = 1", []).first?.column("resumed_at")?.integer
                return HeartbeatAnswer(
                    lost: rooms.filter { !kept.contains($0.rawValue) },
                    drain: reported.first?.column("drain_requested")?.bool ?? false,
                    fleetResumedAt: resumedAt.flatMap { $0 > 0 ? Int64($0) : nil })
            }
        }
    }

    public nonisolated func place(
        _ room: RoomName, region: String?, policy: PlacementPolicy, external: ExternalLoads?, leaseTTL: Int64, now: Int64,
        using random: inout some RandomNumberGenerator
    ) async throws -> PlacementDecision {
        // The choice is made inside the store's transaction, with randomness drawn here.
        try await place(room, region: region, policy: policy, external: external, leaseTTL: leaseTTL, now: now, seed: random.next())
    }

    private func place(
        _ room: RoomName, region: String?, policy: PlacementPolicy, external: ExternalLoads?, leaseTTL: Int64, now: Int64,
        seed: UInt64
    ) async throws -> PlacementDecision {
        let live = Int(now - policy.heartbeatTTL)
        return try await exclusive {
            // A join to a room with a live home only reads; only a placement takes the file's write lock, and
            // then looks again, since another process may have placed the room since.
            if let existing = try await livePlacement(of: room, live: live, now: now) { return .existing(existing) }
            return try await transaction {
                if let existing = try await livePlacement(of: room, live: live, now: now) { return .existing(existing) }
                var urls: [NodeID: String] = [:]
                var random = SplitMix64(seed: seed)
                let chosen = try await Placement.choose(
                    candidates: try await candidateNodes(live: live, now: now), region: region, now: now, policy: policy,
                    using: &random
                ) { only in
                    let rows = try await query(
                        """
                        SELECT n.*, (SELECT COUNT(*) FROM placements q WHERE q.node = n.id
                            AND q.placed_at > COALESCE(?1, n.reported_at)) AS placed
                        FROM nodes n WHERE n.reported_at >= ?2 AND n.kind = ?4
                            AND (?3 IS NULL OR n.id IN (SELECT value FROM json_each(?3)))
                        """,
                        [external.map { .integer(Int($0.since)) } ?? .null, .integer(live),
                         try only.map { .text(try Self.jsonArray($0.map(\.rawValue))) } ?? .null, .text(NodeKind.roomServer.rawValue)])
                    for row in rows { if let id = row.column("id")?.string { urls[NodeID(id)] = row.column("url")?.string } }
                    return rows.compactMap { Self.load($0, placed: "placed").map { external?.applied(to: $0) ?? $0 } }
                }
                guard let chosen, let url = urls[chosen.id] else {
                    return try await isResuming(live: live, silentSince: Int(now - leaseTTL)) ? .resuming : .noCapacity
                }
                let placed = try await query(
                    """
                    INSERT INTO placements (room, node, epoch, lease_until, placed_at) VALUES (?, ?, 1, ?, ?)
                    ON CONFLICT (room) DO UPDATE SET node = excluded.node, epoch = placements.epoch + 1,
                        lease_until = excluded.lease_until, placed_at = excluded.placed_at
                    RETURNING epoch
                    """, [.text(room.rawValue), .name(chosen.id), .integer(Int(now + leaseTTL)), .integer(Int(now))])
                // A room placed afresh may still have a live conference (its previous home emptied or died).
                return .placed(
                    RoomPlacement(
                        room: room, node: chosen.id, url: url, epoch: Int64(placed.first?.int("epoch") ?? 1),
                        leaseUntil: now + leaseTTL, conference: try await liveConference(of: room, live: live, now: now)))
            }
        }
    }

    /// The live serving room servers, as read at most `PlacementCandidates.maximumAge` ago. The caller holds the
    /// connection.
    private func candidateNodes(live: Int, now: Int64) async throws -> [PlacementCandidates.Node] {
        if let fresh = candidates.nodes(at: now) { return fresh }
        let rows = try await query(
            "SELECT id, region FROM nodes WHERE reported_at >= ? AND state = 'serving' AND kind = ?",
            [.integer(live), .text(NodeKind.roomServer.rawValue)])
        let nodes = rows.compactMap { row in
            row.column("id")?.string.map { PlacementCandidates.Node(id: NodeID($0), region: row.column("region")?.string ?? "") }
        }
        candidates.update(nodes, readAt: now)
        return nodes
    }

    /// The room's placement while it is sticky (its lease runs and its node reports), with its live conference.
    /// The caller holds the connection.
    private func livePlacement(of room: RoomName, live: Int, now: Int64) async throws -> RoomPlacement? {
        let rows = try await query(
            """
            SELECT p.node, n.url, p.epoch, p.lease_until, b.bridge, bn.url AS bridge_url, b.lease_until AS bridge_lease
            FROM placements p JOIN nodes n ON n.id = p.node
            LEFT JOIN bridge_placements b ON b.room = p.room AND b.lease_until > ?2
            LEFT JOIN nodes bn ON bn.id = b.bridge AND bn.reported_at >= ?3
            WHERE p.room = ?1 AND ((p.lease_until > ?2 AND n.reported_at >= ?3)
                OR (SELECT resumed_at FROM fleet_clock WHERE id = 1) >= ?3)
            """, [.text(room.rawValue), .integer(Int(now)), .integer(live)])
        guard let row = rows.first, let node = row.column("node")?.string else { return nil }
        return RoomPlacement(
            room: room, node: NodeID(node), url: row.column("url")?.string ?? "", epoch: Int64(row.int("epoch")),
            leaseUntil: Int64(row.int("lease_until")),
            conference: Self.conference(of: room, row, bridge: "bridge", url: "bridge_url", leaseUntil: "bridge_lease"))
    }

    /// Whether the fleet came back from a silence less than a heartbeat TTL ago, or is silent now (room servers are
    /// registered but none has beaten since `silentSince`). The caller holds the connection.
    private func isResuming(live: Int, silentSince: Int) async throws -> Bool {
        let rows = try await query(
            """
            SELECT resumed_at >= ?1 OR (last_heartbeat > 0 AND last_heartbeat < ?2 AND EXISTS (SELECT 1 FROM nodes WHERE kind = ?3)) AS resuming
            FROM fleet_clock WHERE id = 1
            """, [.integer(live), .integer(silentSince), .text(NodeKind.roomServer.rawValue)])
        return rows.first?.column("resuming")?.bool ?? false
    }

    /// The room's conference while its lease runs and its bridge reports. The caller holds the connection.
    func liveConference(of room: RoomName, live: Int, now: Int64) async throws -> BridgePlacement? {
        let rows = try await query(
            """
            SELECT b.bridge, n.url, b.lease_until FROM bridge_placements b JOIN nodes n ON n.id = b.bridge
            WHERE b.room = ? AND b.lease_until > ? AND n.reported_at >= ?
            """, [.text(room.rawValue), .integer(Int(now)), .integer(live)])
        return rows.first.flatMap { Self.conference(of: room, $0, bridge: "bridge", url: "url", leaseUntil: "lease_until") }
    }

    /// A conference from a row's columns; nil when the bridge or its URL is NULL (none, or its bridge is silent).
    static func conference(of room: RoomName, _ row: SQLiteRow, bridge: String, url: String, leaseUntil: String) -> BridgePlacement? {
        guard let id = row.column(bridge)?.string, let address = row.column(url)?.string else { return nil }
        return BridgePlacement(room: room, bridge: NodeID(id), url: address, leaseUntil: Int64(row.int(leaseUntil)))
    }

    public func placement(of room: RoomName) async throws -> RoomPlacement? {
        let rows = try await exclusive {
            try await query(
                """
                SELECT p.node, COALESCE(n.url, '') AS url, p.epoch, p.lease_until FROM placements p
                LEFT JOIN nodes n ON n.id = p.node WHERE p.room = ?
                """, [.text(room.rawValue)])
        }
        guard let row = rows.first, let node = row.column("node")?.string else { return nil }
        return RoomPlacement(
            room: room, node: NodeID(node), url: row.column("url")?.string ?? "", epoch: Int64(row.int("epoch")),
            leaseUntil: Int64(row.int("lease_until")))
    }

    public func claim(_ room: RoomName, node: NodeID, leaseTTL: Int64, now: Int64) async throws -> Fence? {
        let rows = try await exclusive {
            try await query(
                """
                INSERT INTO placements (room, node, epoch, lease_until, placed_at) VALUES (?, ?, 1, ?, ?)
                ON CONFLICT (room) DO UPDATE SET
                    epoch = CASE WHEN placements.node = excluded.node THEN placements.epoch ELSE placements.epoch + 1 END,
                    node = excluded.node, lease_until = excluded.lease_until
                WHERE placements.node = excluded.node OR placements.lease_until <= ?
                RETURNING epoch
                """, [.text(room.rawValue), .name(node), .integer(Int(now + leaseTTL)), .integer(Int(now)), .integer(Int(now))])
        }
        return rows.first.map { Fence(node: node, epoch: Int64($0.int("epoch"))) }
    }

    public func release(_ room: RoomName, fence: Fence) async throws {
        try await exclusive {
            try await run(
                "UPDATE placements SET lease_until = 0 WHERE room = ? AND node = ? AND epoch = ?",
                [.text(room.rawValue), .name(fence.node), .integer(Int(fence.epoch))])
        }
    }

    /// A node's load from a `nodes` row, with the count of rooms placed on it since in column `placed`.
    static func load(_ row: SQLiteRow, placed: String) -> NodeLoad? {
        guard let id = row.column("id")?.string, let region = row.column("region")?.string,
            let state = row.column("state")?.string.flatMap(NodeState.init(rawValue:))
        else { return nil }
        return NodeLoad(
            id: NodeID(id), region: region, state: state, capacity: row.int("capacity"), participants: row.int("participants"),
            rooms: row.int("rooms"), cpu: row.column("cpu")?.double ?? 0, reportedAt: Int64(row.int("reported_at")),
            placedSinceReport: row.int(placed))
    }

    /// A JSON array of strings, bound as one parameter and read with `json_each`.
    static func jsonArray(_ values: [String]) throws -> String {
        guard !values.isEmpty else { return "[]" }
        return String(decoding: try JSONEncoder().encode(values), as: UTF8.self)
    }
}
