import PlazaCore
public import PlazaStore
public import PlazaFleetModel
import PostgresNIO

/// The node registry in PostgreSQL (table `nodes`, migration 2).
extension PostgresStore: NodeRegistry {
    public func register(_ node: NodeRegistration, now: Int64) async throws {
        _ = try await guarded { [self] in
            try await client.query(
                """
                INSERT INTO nodes (id, url, region, capacity, state, reported_at, registered_at, kind, control_url)
                VALUES (\(node.id.rawValue), \(node.url), \(node.region), \(node.capacity), 'serving', \(now), \(now),
                    \(node.kind.rawValue), \(node.controlURL))
                ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url, region = EXCLUDED.region,
                    capacity = EXCLUDED.capacity, reported_at = EXCLUDED.reported_at, kind = EXCLUDED.kind,
                    control_url = EXCLUDED.control_url
                """, logger: logger)
        }
    }

    public func report(node: NodeID, _ report: NodeReport, now: Int64) async throws -> RegistryAnswer {
        try await guarded { [self] in
            for try await (drain, recording) in try await client.execute(
                Report(node: node.rawValue, report: report, now: now), logger: logger)
            {
                return RegistryAnswer(drain: drain, recording: recording.flatMap(RoomName.init))
            }
            return RegistryAnswer()
        }
    }

    public func nodes() async throws -> [NodeRecord] {
        try await guarded { [self] in
            var result: [NodeRecord] = []
            let rows = try await client.query(
                """
                SELECT id, url, region, capacity, state, connections, rooms, participants, cpu, bytes_out_per_second,
                    reported_at, kind, bytes_in_per_second, largest_room,
                    (SELECT room FROM recordings r WHERE r.recorder = n.id), control_url
                FROM nodes n ORDER BY id
                """, logger: logger)
            for try await (id, url, region, capacity, state, connections, rooms, participants, cpu, bytesOut, reportedAt, kind, bytesIn, largest, recording, control)
                in rows.decode((String, String, String, Int, String, Int, Int, Int, Double, Double, Int64, String, Double, Int, String?, String?).self)
            {
                guard let kind = NodeKind(rawValue: kind) else { continue }
                result.append(
                    NodeRecord(
                        registration: NodeRegistration(
                            id: NodeID(id), url: url, region: region, capacity: capacity, kind: kind, controlURL: control),
                        reported: NodeReport(
                            state: NodeState(rawValue: state) ?? .draining, connections: connections, rooms: rooms,
                            participants: participants, cpu: cpu, bytesOutPerSecond: bytesOut, bytesInPerSecond: bytesIn,
                            largestRoom: largest),
                        reportedAt: reportedAt, assignment: recording.flatMap(RoomName.init)))
            }
            return result
        }
    }

    @discardableResult
    public func requestDrain(node: NodeID) async throws -> Bool {
        let drained = try await guarded { [self] in
            // The recording check is the write's condition, not an occupancy rule: a recording may have been
            // assigned since the caller read the node.
            let rows = try await client.query(
                """
                UPDATE nodes SET drain_requested = true, state = 'draining'
                WHERE id = \(node.rawValue) AND NOT EXISTS (SELECT 1 FROM recordings r WHERE r.recorder = \(node.rawValue))
                RETURNING 1
                """, logger: logger)
            for try await _ in rows.decode(Int.self) { return true }
            return false
        }
        candidates.withLock { $0.invalidate() }
        return drained
    }

    public func forget(node: NodeID) async throws {
        _ = try await guarded { [self] in try await client.query("DELETE FROM nodes WHERE id = \(node.rawValue)", logger: logger) }
        candidates.withLock { $0.invalidate() }
    }
}

/// The columns of a node's report, as `Report` and the room servers' `Heartbeat` write them: `$1` is the node,
/// `$2`…`$10` its figures.
let reportColumns = """
    state = CASE WHEN drain_requested THEN 'draining' ELSE $2 END, connections = $3, rooms = $4, participants = $5,
    cpu = $6, bytes_out_per_second = $7, reported_at = $8, bytes_in_per_second = $9, largest_room = $10
    """

extension PostgresBindings {
    /// Bindings `$1`, `$2`… of `values`, in order.
    init(_ values: any PostgresNonThrowingEncodable...) {
        self.init(capacity: values.count)
        for value in values { append(value) }
    }

    /// A node and its report as `$1`…`$10` of `reportColumns`.
    mutating func append(node: String, _ report: NodeReport, now: Int64) {
        append(node)
        append(report.state.rawValue)
        append(report.connections)
        append(report.rooms)
        append(report.participants)
        append(report.cpu)
        append(report.bytesOutPerSecond)
        append(now)
        append(report.bytesInPerSecond)
        append(report.largestRoom)
    }
}

/// An agent's report; the row says whether the node is asked to drain and the room it is to record.
private struct Report: PostgresPreparedStatement {
    typealias Row = (Bool, String?)
    static let sql = """
        UPDATE nodes n SET \(reportColumns) WHERE id = $1
        RETURNING drain_requested, (SELECT room FROM recordings r WHERE r.recorder = n.id)
        """
    var node: String
    var report: NodeReport
    var now: Int64

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 10)
        bindings.append(node: node, report, now: now)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
