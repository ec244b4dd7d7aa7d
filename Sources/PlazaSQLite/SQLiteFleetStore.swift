public import PlazaStore
public import PlazaFleetModel
import SQLiteNIO
import Foundation

/// The autoscaler's state in SQLite (tables `fleet_*`, migration 2), for `plaza serve --pools` and the
/// autoscalers of one machine. The lease is one conditional upsert, which SQLite runs under its write lock.
extension SQLiteStore: FleetStore {
    public func lead(holder: String, ttl: Int64, now: Int64) async throws -> Int64? {
        let rows = try await exclusive {
            try await query(
                """
                INSERT INTO fleet_leases (name, holder, term, until) VALUES (?, ?, 1, ?)
                ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until,
                    term = CASE WHEN fleet_leases.holder = excluded.holder THEN fleet_leases.term ELSE fleet_leases.term + 1 END
                WHERE fleet_leases.holder = excluded.holder OR fleet_leases.until <= ?
                RETURNING term
                """, [.text(Self.autoscalerLease), .text(holder), .integer(Int(now + ttl)), .integer(Int(now))])
        }
        return rows.first.map { Int64($0.int("term")) }
    }

    public func resign(holder: String) async throws {
        try await exclusive {
            try await run(
                "UPDATE fleet_leases SET until = 0 WHERE name = ? AND holder = ?", [.text(Self.autoscalerLease), .text(holder)])
        }
    }

    public func declare(_ pool: FleetPool) async throws -> Int {
        let rows = try await exclusive {
            try await query(
                """
                INSERT INTO fleet_pools (name, kind, region, min_size, max_size, desired) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, region = excluded.region,
                    min_size = excluded.min_size, max_size = excluded.max_size,
                    desired = MIN(MAX(fleet_pools.desired, excluded.min_size), excluded.max_size)
                RETURNING desired
                """,
                [.name(pool.name), .text(pool.kind.rawValue), .text(pool.region), .integer(pool.min), .integer(pool.max),
                 .integer(pool.desired)])
        }
        return rows.first.map { $0.int("desired") } ?? pool.desired
    }

    public func pools() async throws -> [FleetPool] {
        let rows = try await exclusive {
            try await query("SELECT name, kind, region, min_size, max_size, desired FROM fleet_pools ORDER BY name", [])
        }
        return rows.map { row in
            FleetPool(
                name: row.name("name"), kind: NodeKind(rawValue: row.column("kind")?.string ?? "") ?? .custom,
                region: row.column("region")?.string ?? "", min: row.int("min_size"), max: row.int("max_size"),
                desired: row.int("desired"))
        }
    }

    public func policyMemory(pool: PoolName) async throws -> String? {
        let rows = try await exclusive { try await query("SELECT policy_memory FROM fleet_pools WHERE name = ?", [.name(pool)]) }
        return rows.first?.column("policy_memory")?.string
    }

    public func savePolicyMemory(pool: PoolName, _ memory: String) async throws {
        try await exclusive {
            try await run("UPDATE fleet_pools SET policy_memory = ? WHERE name = ?", [.text(memory), .name(pool)])
        }
    }

    public func setDesired(pool: PoolName, desired: Int) async throws -> Bool {
        try await exclusive {
            try await !query(
                "UPDATE fleet_pools SET desired = ? WHERE name = ? RETURNING 1", [.integer(desired), .name(pool)]
            ).isEmpty
        }
    }

    public func save(_ instance: FleetInstance) async throws {
        try await exclusive {
            try await run(
                """
                INSERT INTO fleet_instances (id, pool, state, protected, launched_at, state_since, health_failures)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET pool = excluded.pool, state = excluded.state,
                    launched_at = excluded.launched_at, state_since = excluded.state_since,
                    health_failures = excluded.health_failures
                """,
                [.name(instance.id), .name(instance.pool), .text(instance.state.rawValue), .integer(instance.protected ? 1 : 0),
                 .integer(Int(instance.launchedAt)), .integer(Int(instance.stateSince)), .integer(instance.healthFailures)])
        }
    }

    public func rename(instance: InstanceID, to id: InstanceID) async throws {
        try await exclusive { try await run("UPDATE fleet_instances SET id = ? WHERE id = ?", [.name(id), .name(instance)]) }
    }

    public func instances(pool: PoolName?, includeTerminated: Bool) async throws -> [FleetInstance] {
        let rows = try await exclusive {
            try await query(
                """
                SELECT * FROM fleet_instances WHERE (?1 IS NULL OR pool = ?1) AND (?2 OR state <> 'terminated')
                ORDER BY launched_at, id
                """, [pool.map { .name($0) } ?? .null, .integer(includeTerminated ? 1 : 0)])
        }
        return rows.map { row in
            FleetInstance(
                id: row.name("id"), pool: row.name("pool"),
                state: InstanceState(rawValue: row.column("state")?.string ?? "") ?? .terminating,
                protected: row.int("protected") != 0, launchedAt: Int64(row.int("launched_at")),
                stateSince: Int64(row.int("state_since")), healthFailures: row.int("health_failures"))
        }
    }

    public func setProtected(instance: InstanceID, _ protected: Bool) async throws -> PoolName? {
        let rows = try await exclusive {
            try await query(
                "UPDATE fleet_instances SET protected = ? WHERE id = ? AND state <> 'terminated' RETURNING pool",
                [.integer(protected ? 1 : 0), .name(instance)])
        }
        return rows.first?.column("pool")?.string.map { PoolName($0) }
    }

    @discardableResult
    public func record(_ activity: ScalingActivity) async throws -> ScalingActivity {
        let figures = String(decoding: try JSONEncoder().encode(activity.values), as: UTF8.self)
        let rows = try await exclusive {
            try await query(
                """
                INSERT INTO fleet_activities (pool, at, action, instance, from_capacity, to_capacity, cause, reason, figures, result)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
                """,
                [.name(activity.pool), .integer(Int(activity.at)), .text(activity.action), activity.instance.map { .name($0) } ?? .null,
                 activity.from.map { .integer($0) } ?? .null, activity.to.map { .integer($0) } ?? .null, .text(activity.cause),
                 .text(activity.reason), .text(figures), .text(activity.result)])
        }
        var recorded = activity
        recorded.id = Int64(rows.first?.int("id") ?? 0)
        return recorded
    }

    public func activities(pool: PoolName?, limit: Int) async throws -> [ScalingActivity] {
        let rows = try await exclusive {
            try await query(
                "SELECT * FROM fleet_activities WHERE ?1 IS NULL OR pool = ?1 ORDER BY id DESC LIMIT ?2",
                [pool.map { .name($0) } ?? .null, .integer(max(0, limit))])
        }
        return rows.map(Self.activity)
    }

    private static func activity(_ row: SQLiteRow) -> ScalingActivity {
        let figures = row.column("figures")?.string ?? "{}"
        let values = (try? JSONDecoder().decode([String: Double].self, from: Data(figures.utf8))) ?? [:]
        let from: Int? = row.column("from_capacity")?.integer
        let to: Int? = row.column("to_capacity")?.integer
        return ScalingActivity(
            id: Int64(row.int("id")), pool: row.name("pool"), at: Int64(row.int("at")),
            action: row.column("action")?.string ?? "", instance: row.column("instance")?.string.map { InstanceID($0) }, from: from, to: to,
            cause: row.column("cause")?.string ?? "", reason: row.column("reason")?.string ?? "", values: values,
            result: row.column("result")?.string ?? "")
    }

    @discardableResult
    public func prune(before: Int64) async throws -> Int {
        try await exclusive {
            try await transaction {
                var deleted = 0
                for statement in [
                    "DELETE FROM fleet_activities WHERE at < ? RETURNING 1",
                    "DELETE FROM fleet_instances WHERE state = 'terminated' AND state_since < ? RETURNING 1",
                    "DELETE FROM bridge_placements WHERE lease_until < ? RETURNING 1",
                ] {
                    deleted += try await query(statement, [.integer(Int(before))]).count
                }
                return deleted
            }
        }
    }

}
