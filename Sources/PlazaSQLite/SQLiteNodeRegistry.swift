import PlazaCore
public import PlazaStore
public import PlazaFleetModel
import SQLiteNIO

/// The node registry in SQLite (table `nodes`, migration 2): the fleet of one machine, where `plaza serve
/// --pools` places rooms on the room servers it launched, all sharing one database file.
extension SQLiteStore: FleetTimeSource {
    /// The processes sharing a SQLite file share a machine, and so its clock.
    public nonisolated func fleetTime() -> Int64 { wallClockMilliseconds() }
}

extension SQLiteStore: NodeRegistry {
    public func register(_ node: NodeRegistration, now: Int64) async throws {
        try await exclusive {
            try await run(
                """
                INSERT INTO nodes (id, url, region, capacity, state, reported_at, registered_at, kind, control_url)
                VALUES (?, ?, ?, ?, 'serving', ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET url = excluded.url, region = excluded.region,
                    capacity = excluded.capacity, reported_at = excluded.reported_at, kind = excluded.kind,
                    control_url = excluded.control_url
                """,
                [.name(node.id), .text(node.url), .text(node.region), .integer(node.capacity), .integer(Int(now)),
                 .integer(Int(now)), .text(node.kind.rawValue), node.controlURL.map { .text($0) } ?? .null])
        }
    }

    public func report(node: NodeID, _ report: NodeReport, now: Int64) async throws -> RegistryAnswer {
        let rows = try await exclusive { try await record(report, of: node, now: now) }
        return RegistryAnswer(
            drain: rows.first?.column("drain_requested")?.bool ?? false,
            recording: rows.first?.column("recording")?.string.flatMap(RoomName.init))
    }

    /// Writes a node's report (a node asked to drain stays draining); rows: whether it is asked to drain, and
    /// the room it is to record. The caller holds the connection.
    func record(_ report: NodeReport, of node: NodeID, now: Int64) async throws -> [SQLiteRow] {
        try await query(
            """
            UPDATE nodes SET state = CASE WHEN drain_requested THEN 'draining' ELSE ? END, connections = ?,
                rooms = ?, participants = ?, cpu = ?, bytes_out_per_second = ?, reported_at = ?,
                bytes_in_per_second = ?, largest_room = ?
            WHERE id = ? RETURNING drain_requested, (SELECT room FROM recordings WHERE recorder = nodes.id) AS recording
            """,
            [.text(report.state.rawValue), .integer(report.connections), .integer(report.rooms),
             .integer(report.participants), .float(report.cpu), .float(report.bytesOutPerSecond),
             .integer(Int(now)), .float(report.bytesInPerSecond), .integer(report.largestRoom), .name(node)])
    }

    public func nodes() async throws -> [NodeRecord] {
        let rows = try await exclusive {
            try await query(
                """
                SELECT n.*, (SELECT room FROM recordings r WHERE r.recorder = n.id) AS recording
                FROM nodes n ORDER BY id
                """, [])
        }
        return rows.compactMap(Self.record)
    }

    /// A node from a `nodes` row, with its assigned recording in column `recording`.
    static func record(_ row: SQLiteRow) -> NodeRecord? {
        guard let id = row.column("id")?.string, let url = row.column("url")?.string,
            let region = row.column("region")?.string, let capacity = row.column("capacity")?.integer,
            let kind = row.column("kind")?.string.flatMap(NodeKind.init(rawValue:))
        else { return nil }
        return NodeRecord(
            registration: NodeRegistration(
                id: NodeID(id), url: url, region: region, capacity: capacity, kind: kind,
                controlURL: row.column("control_url")?.string),
            reported: NodeReport(
                state: NodeState(rawValue: row.column("state")?.string ?? "") ?? .draining,
                connections: row.int("connections"), rooms: row.int("rooms"), participants: row.int("participants"),
                cpu: row.column("cpu")?.double ?? 0, bytesOutPerSecond: row.column("bytes_out_per_second")?.double ?? 0,
                bytesInPerSecond: row.column("bytes_in_per_second")?.double ?? 0, largestRoom: row.int("largest_room")),
            reportedAt: Int64(row.int("reported_at")),
            assignment: row.column("recording")?.string.flatMap(RoomName.init))
    }

    @discardableResult
    public func requestDrain(node: NodeID) async throws -> Bool {
        try await exclusive {
            // The recording check is the write's condition, not an occupancy rule: a recording may have been
            // assigned since the caller read the node.
            try await !query(
                """
                UPDATE nodes SET drain_requested = 1, state = 'draining'
                WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM recordings r WHERE r.recorder = ?1)
                RETURNING 1
                """, [.name(node)]
            ).isEmpty
        }
    }

    public func forget(node: NodeID) async throws {
        try await exclusive { try await run("DELETE FROM nodes WHERE id = ?", [.name(node)]) }
    }
}

extension SQLiteData {
    /// A fleet name (node, instance or pool) as the text it is stored as.
    static func name<Names>(_ name: FleetName<Names>) -> SQLiteData { .text(name.rawValue) }
}

extension SQLiteRow {
    /// An integer column, 0 when it is absent or NULL.
    func int(_ name: String) -> Int { column(name)?.integer ?? 0 }

    /// A fleet name column, empty when it is absent or NULL.
    func name<Names>(_ column: String) -> FleetName<Names> { FleetName(self.column(column)?.string ?? "") }
}
