public import PlazaCore
public import PlazaPlacement
import SQLiteNIO
import Foundation

/// The node registry and room placements in SQLite (migration 2): the fleet of one machine, where
/// `plaza serve --pools` places rooms on the room servers it launched, all sharing one database file.
///
/// Each decision that reads then writes (placing a room, a heartbeat, a fenced append) is one write transaction,
/// so of two processes placing one room the second sees the first's placement; claims are one conditional
/// upsert, as in PostgreSQL.
extension SQLiteStore: PlacementStore {
    public func register(_ node: NodeRegistration, now: Int64) async throws {
        try await exclusive {
            try await run(
                """
                INSERT INTO nodes (id, url, region, capacity, state, reported_at, registered_at, kind)
                VALUES (?, ?, ?, ?, 'serving', ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET url = excluded.url, region = excluded.region,
                    capacity = excluded.capacity, reported_at = excluded.reported_at, kind = excluded.kind
                """,
                [.text(node.id), .text(node.url), .text(node.region), .integer(node.capacity), .integer(Int(now)),
                 .integer(Int(now)), .text(node.kind)])
        }
    }

    public func heartbeat(
        node: String, report: NodeReport, rooms: [RoomName], leaseTTL: Int64, now: Int64
    ) async throws -> HeartbeatAnswer {
        let leaseUntil = Int(now + leaseTTL)
        let roomList = try Self.jsonArray(rooms.map(\.rawValue))
        return try await exclusive {
            try await transaction {
                let reported = try await query(
                    """
                    UPDATE nodes SET state = CASE WHEN drain_requested THEN 'draining' ELSE ? END, connections = ?,
                        rooms = ?, participants = ?, cpu = ?, bytes_out_per_second = ?, reported_at = ?,
                        bytes_in_per_second = ?, largest_room = ?
                    WHERE id = ? RETURNING drain_requested, (SELECT room FROM recordings WHERE recorder = nodes.id) AS recording
                    """,
                    [.text(report.state.rawValue), .integer(report.connections), .integer(report.rooms),
                     .integer(report.participants), .float(report.cpu), .float(report.bytesOutPerSecond),
                     .integer(Int(now)), .float(report.bytesInPerSecond), .integer(report.largestRoom), .text(node)])
                // An agent's beat names no rooms: nothing to renew.
                var kept = Set<String>()
                if !rooms.isEmpty {
                    let renewed = try await query(
                        """
                        UPDATE placements SET lease_until = ?
                        WHERE node = ? AND room IN (SELECT value FROM json_each(?)) RETURNING room
                        """, [.integer(leaseUntil), .text(node), .text(roomList)])
                    kept = Set(renewed.compactMap { $0.column("room")?.string })
                    // The conferences of the renewed rooms (those still this node's) keep up with their leases.
                    try await run(
                        """
                        UPDATE bridge_placements SET lease_until = ?1
                        WHERE lease_until < ?1 AND room IN (
                            SELECT room FROM placements WHERE node = ?2 AND room IN (SELECT value FROM json_each(?3)))
                        """, [.integer(leaseUntil), .text(node), .text(roomList)])
                }
                return HeartbeatAnswer(
                    lost: rooms.filter { !kept.contains($0.rawValue) },
                    drain: reported.first?.column("drain_requested")?.bool ?? false,
                    recording: reported.first?.column("recording")?.string)
            }
        }
    }

    public func nodes() async throws -> [NodeRecord] {
        let rows = try await exclusive {
            try await query(
                """
                SELECT n.*, (SELECT COUNT(*) FROM recordings r WHERE r.recorder = n.id) AS assigned
                FROM nodes n ORDER BY id
                """, [])
        }
        return rows.compactMap { row in
            guard let id = row.column("id")?.string, let url = row.column("url")?.string,
                let region = row.column("region")?.string, let capacity = row.column("capacity")?.integer,
                let kind = row.column("kind")?.string
            else { return nil }
            let assigned = row.int("assigned")
            return NodeRecord(
                registration: NodeRegistration(id: id, url: url, region: region, capacity: capacity, kind: kind),
                report: NodeReport(
                    state: NodeState(rawValue: row.column("state")?.string ?? "") ?? .draining,
                    connections: row.int("connections"), rooms: max(row.int("rooms"), assigned),
                    participants: max(row.int("participants"), assigned), cpu: row.column("cpu")?.double ?? 0,
                    bytesOutPerSecond: row.column("bytes_out_per_second")?.double ?? 0,
                    bytesInPerSecond: row.column("bytes_in_per_second")?.double ?? 0,
                    largestRoom: max(row.int("largest_room"), assigned)),
                reportedAt: Int64(row.int("reported_at")))
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
                let rows = try await query(
                    """
                    SELECT n.*, (SELECT COUNT(*) FROM placements q WHERE q.node = n.id
                        AND q.placed_at > COALESCE(?, n.reported_at)) AS placed
                    FROM nodes n WHERE n.reported_at >= ? AND n.kind = 'room-server'
                    """, [external.map { .integer(Int($0.since)) } ?? .null, .integer(live)])
                let loads = rows.compactMap { row in
                    Self.load(row, placed: "placed").map { external?.applied(to: $0) ?? $0 }
                }
                var random = SplitMix64(seed: seed)
                guard let chosen = Placement.choose(from: loads, region: region, now: now, policy: policy, using: &random),
                    let url = rows.first(where: { $0.column("id")?.string == chosen.id })?.column("url")?.string
                else { return .noCapacity }
                let placed = try await query(
                    """
                    INSERT INTO placements (room, node, epoch, lease_until, placed_at) VALUES (?, ?, 1, ?, ?)
                    ON CONFLICT (room) DO UPDATE SET node = excluded.node, epoch = placements.epoch + 1,
                        lease_until = excluded.lease_until, placed_at = excluded.placed_at
                    RETURNING epoch
                    """, [.text(room.rawValue), .text(chosen.id), .integer(Int(now + leaseTTL)), .integer(Int(now))])
                // A room placed afresh may still have a live conference (its previous home emptied or died).
                return .placed(
                    RoomPlacement(
                        room: room, node: chosen.id, url: url, epoch: Int64(placed.first?.int("epoch") ?? 1),
                        leaseUntil: now + leaseTTL, conference: try await liveConference(of: room, live: live, now: now)))
            }
        }
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
            WHERE p.room = ?1 AND p.lease_until > ?2 AND n.reported_at >= ?3
            """, [.text(room.rawValue), .integer(Int(now)), .integer(live)])
        guard let row = rows.first, let node = row.column("node")?.string else { return nil }
        return RoomPlacement(
            room: room, node: node, url: row.column("url")?.string ?? "", epoch: Int64(row.int("epoch")),
            leaseUntil: Int64(row.int("lease_until")),
            conference: Self.conference(of: room, row, bridge: "bridge", url: "bridge_url", leaseUntil: "bridge_lease"))
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
        return BridgePlacement(room: room, bridge: id, url: address, leaseUntil: Int64(row.int(leaseUntil)))
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
            room: room, node: node, url: row.column("url")?.string ?? "", epoch: Int64(row.int("epoch")),
            leaseUntil: Int64(row.int("lease_until")))
    }

    public func claim(_ room: RoomName, node: String, leaseTTL: Int64, now: Int64) async throws -> Int64? {
        let rows = try await exclusive {
            try await query(
                """
                INSERT INTO placements (room, node, epoch, lease_until, placed_at) VALUES (?, ?, 1, ?, ?)
                ON CONFLICT (room) DO UPDATE SET
                    epoch = CASE WHEN placements.node = excluded.node THEN placements.epoch ELSE placements.epoch + 1 END,
                    node = excluded.node, lease_until = excluded.lease_until
                WHERE placements.node = excluded.node OR placements.lease_until <= ?
                RETURNING epoch
                """, [.text(room.rawValue), .text(node), .integer(Int(now + leaseTTL)), .integer(Int(now)), .integer(Int(now))])
        }
        return rows.first.map { Int64($0.int("epoch")) }
    }

    public func release(_ room: RoomName, node: String, epoch: Int64) async throws {
        try await exclusive {
            try await run(
                "UPDATE placements SET lease_until = 0 WHERE room = ? AND node = ? AND epoch = ?",
                [.text(room.rawValue), .text(node), .integer(Int(epoch))])
        }
    }

    public func append(_ messages: [ChatMessage], fencedBy node: String, epoch: Int64) async throws {
        guard let room = messages.first?.room else { return }
        precondition(messages.allSatisfy { $0.room == room }, "a fenced append is for one room")
        try await exclusive {
            try await transaction {
                let owned = try await query(
                    "SELECT 1 FROM placements WHERE room = ? AND node = ? AND epoch = ?",
                    [.text(room.rawValue), .text(node), .integer(Int(epoch))])
                guard !owned.isEmpty else {
                    throw StoreError(.fenced, "\(node) is no longer the home of \(room) (epoch \(epoch))")
                }
                try await insert(messages)
            }
        }
    }

    /// A node's load from a `nodes` row, with the count of rooms placed on it since in column `placed`.
    static func load(_ row: SQLiteRow, placed: String) -> NodeLoad? {
        guard let id = row.column("id")?.string, let region = row.column("region")?.string,
            let state = row.column("state")?.string.flatMap(NodeState.init(rawValue:))
        else { return nil }
        return NodeLoad(
            id: id, region: region, state: state, capacity: row.int("capacity"), participants: row.int("participants"),
            rooms: row.int("rooms"), cpu: row.column("cpu")?.double ?? 0, reportedAt: Int64(row.int("reported_at")),
            placedSinceReport: row.int(placed))
    }

    /// A JSON array of strings, bound as one parameter and read with `json_each`.
    static func jsonArray(_ values: [String]) throws -> String {
        guard !values.isEmpty else { return "[]" }
        return String(decoding: try JSONEncoder().encode(values), as: UTF8.self)
    }
}

extension SQLiteRow {
    /// An integer column, 0 when it is absent or NULL.
    func int(_ name: String) -> Int { column(name)?.integer ?? 0 }
}
