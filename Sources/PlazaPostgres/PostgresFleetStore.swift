public import PlazaStore
public import PlazaFleetModel
import PostgresNIO
import Foundation

/// The autoscaler's state in PostgreSQL (tables `fleet_*`, migration 3). The lease is one conditional upsert,
/// which PostgreSQL serializes on its row: of two autoscalers racing for it, one gets it.
extension PostgresStore: FleetStore {
    public func lead(holder: String, ttl: Int64, now: Int64) async throws -> Int64? {
        try await guarded { [self] in
            let rows = try await client.query(
                """
                INSERT INTO fleet_leases (name, holder, term, until) VALUES (\(Self.autoscalerLease), \(holder), 1, \(now + ttl))
                ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until,
                    term = CASE WHEN fleet_leases.holder = EXCLUDED.holder THEN fleet_leases.term ELSE fleet_leases.term + 1 END
                WHERE fleet_leases.holder = EXCLUDED.holder OR fleet_leases.until <= \(now)
                RETURNING term
                """, logger: logger)
            for try await term in rows.decode(Int64.self) { return term }
            return nil
        }
    }

    public func resign(holder: String) async throws {
        _ = try await guarded { [self] in
            try await client.query(
                "UPDATE fleet_leases SET until = 0 WHERE name = \(Self.autoscalerLease) AND holder = \(holder)", logger: logger)
        }
    }

    public func declare(_ pool: FleetPool) async throws -> Int {
        try await guarded { [self] in
            let rows = try await client.query(
                """
                INSERT INTO fleet_pools (name, kind, region, min_size, max_size, desired)
                VALUES (\(pool.name.rawValue), \(pool.kind.rawValue), \(pool.region), \(pool.min), \(pool.max), \(pool.desired))
                ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, region = EXCLUDED.region,
                    min_size = EXCLUDED.min_size, max_size = EXCLUDED.max_size,
                    desired = LEAST(GREATEST(fleet_pools.desired, EXCLUDED.min_size), EXCLUDED.max_size)
                RETURNING desired
                """, logger: logger)
            for try await desired in rows.decode(Int.self) { return desired }
            return pool.desired
        }
    }

    public func pools() async throws -> [FleetPool] {
        try await guarded { [self] in
            var pools: [FleetPool] = []
            let rows = try await client.query(
                "SELECT name, kind, region, min_size, max_size, desired FROM fleet_pools ORDER BY name", logger: logger)
            for try await (name, kind, region, min, max, desired) in rows.decode((String, String, String, Int, Int, Int).self) {
                pools.append(FleetPool(name: PoolName(name), kind: NodeKind(rawValue: kind) ?? .custom, region: region, min: min, max: max, desired: desired))
            }
            return pools
        }
    }

    public func policyMemory(pool: PoolName) async throws -> String? {
        try await guarded { [self] in
            let rows = try await client.query("SELECT policy_memory FROM fleet_pools WHERE name = \(pool.rawValue)", logger: logger)
            for try await memory in rows.decode(String?.self) { return memory }
            return nil
        }
    }

    public func savePolicyMemory(pool: PoolName, _ memory: String) async throws {
        _ = try await guarded { [self] in
            try await client.query("UPDATE fleet_pools SET policy_memory = \(memory) WHERE name = \(pool.rawValue)", logger: logger)
        }
    }

    public func setDesired(pool: PoolName, desired: Int) async throws -> Bool {
        try await guarded { [self] in
            let rows = try await client.query(
                "UPDATE fleet_pools SET desired = \(desired) WHERE name = \(pool.rawValue) RETURNING 1", logger: logger)
            for try await _ in rows.decode(Int.self) { return true }
            return false
        }
    }

    public func save(_ instance: FleetInstance) async throws {
        _ = try await guarded { [self] in
            try await client.query(
                """
                INSERT INTO fleet_instances (id, pool, state, protected, launched_at, state_since, health_failures)
                VALUES (\(instance.id.rawValue), \(instance.pool.rawValue), \(instance.state.rawValue), \(instance.protected),
                    \(instance.launchedAt), \(instance.stateSince), \(instance.healthFailures))
                ON CONFLICT (id) DO UPDATE SET pool = EXCLUDED.pool, state = EXCLUDED.state,
                    launched_at = EXCLUDED.launched_at, state_since = EXCLUDED.state_since,
                    health_failures = EXCLUDED.health_failures
                """, logger: logger)
        }
    }

    public func rename(instance: InstanceID, to id: InstanceID) async throws {
        _ = try await guarded { [self] in
            try await client.query("UPDATE fleet_instances SET id = \(id.rawValue) WHERE id = \(instance.rawValue)", logger: logger)
        }
    }

    public func instances(pool: PoolName?, includeTerminated: Bool) async throws -> [FleetInstance] {
        let pool = pool?.rawValue
        return try await guarded { [self] in
            var instances: [FleetInstance] = []
            let rows = try await client.query(
                """
                SELECT id, pool, state, protected, launched_at, state_since, health_failures FROM fleet_instances
                WHERE (\(pool)::TEXT IS NULL OR pool = \(pool)) AND (\(includeTerminated) OR state <> 'terminated')
                ORDER BY launched_at, id
                """, logger: logger)
            for try await (id, pool, state, protected, launchedAt, stateSince, failures)
                in rows.decode((String, String, String, Bool, Int64, Int64, Int).self)
            {
                instances.append(
                    FleetInstance(
                        id: InstanceID(id), pool: PoolName(pool), state: InstanceState(rawValue: state) ?? .terminating, protected: protected,
                        launchedAt: launchedAt, stateSince: stateSince, healthFailures: failures))
            }
            return instances
        }
    }

    public func setProtected(instance: InstanceID, _ protected: Bool) async throws -> PoolName? {
        try await guarded { [self] in
            let rows = try await client.query(
                """
                UPDATE fleet_instances SET protected = \(protected) WHERE id = \(instance.rawValue) AND state <> 'terminated'
                RETURNING pool
                """, logger: logger)
            for try await pool in rows.decode(String.self) { return PoolName(pool) }
            return nil
        }
    }

    @discardableResult
    public func record(_ activity: ScalingActivity) async throws -> ScalingActivity {
        let figures = String(decoding: try JSONEncoder().encode(activity.values), as: UTF8.self)
        return try await guarded { [self] in
            let rows = try await client.query(
                """
                INSERT INTO fleet_activities (pool, at, action, instance, from_capacity, to_capacity, cause, reason, figures, result)
                VALUES (\(activity.pool.rawValue), \(activity.at), \(activity.action), \(activity.instance?.rawValue), \(activity.from),
                    \(activity.to), \(activity.cause), \(activity.reason), \(figures), \(activity.result))
                RETURNING id
                """, logger: logger)
            var recorded = activity
            for try await id in rows.decode(Int64.self) { recorded.id = id }
            return recorded
        }
    }

    public func activities(pool: PoolName?, limit: Int) async throws -> [ScalingActivity] {
        let pool = pool?.rawValue
        return try await guarded { [self] in
            var activities: [ScalingActivity] = []
            let rows = try await client.query(
                """
                SELECT id, pool, at, action, instance, from_capacity, to_capacity, cause, reason, figures, result
                FROM fleet_activities WHERE \(pool)::TEXT IS NULL OR pool = \(pool) ORDER BY id DESC LIMIT \(limit)
                """, logger: logger)
            for try await (id, pool, at, action, instance, from, to, cause, reason, figures, result)
                in rows.decode((Int64, String, Int64, String, String?, Int?, Int?, String, String, String, String).self)
            {
                let values = (try? JSONDecoder().decode([String: Double].self, from: Data(figures.utf8))) ?? [:]
                activities.append(
                    ScalingActivity(
                        id: id, pool: PoolName(pool), at: at, action: action, instance: instance.map { InstanceID($0) }, from: from, to: to, cause: cause,
                        reason: reason, values: values, result: result))
            }
            return activities
        }
    }

    @discardableResult
    public func prune(before: Int64) async throws -> Int {
        try await guarded { [self] in
            let rows = try await client.query(
                """
                WITH a AS (DELETE FROM fleet_activities WHERE at < \(before) RETURNING 1),
                    i AS (DELETE FROM fleet_instances WHERE state = 'terminated' AND state_since < \(before) RETURNING 1),
                    b AS (DELETE FROM bridge_placements WHERE lease_until < \(before) RETURNING 1)
                SELECT (SELECT COUNT(*) FROM a) + (SELECT COUNT(*) FROM i) + (SELECT COUNT(*) FROM b)
                """, logger: logger)
            for try await deleted in rows.decode(Int.self) { return deleted }
            return 0
        }
    }

}
