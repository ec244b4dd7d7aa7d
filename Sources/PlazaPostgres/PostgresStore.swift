// The PostgreSQL engine of every store protocol, for the processes of a fleet that share one database. Each
// decision ends in one conditional statement PostgreSQL serializes on its row; the hot paths (a join's placement,
// a node's heartbeat) are prepared statements.

public import PlazaCore
public import PlazaStore
public import Logging
import PlazaPlacement
import PlazaFleetModel
import PostgresNIO
import Foundation
import Synchronization

/// The shared store: one PostgreSQL database for every node and directory of a fleet.
///
/// Writes are single statements (a multi-row `INSERT` is one implicit transaction), so a returned `append` has
/// been committed — durable as the server's `synchronous_commit` makes it (on, by default). Connections come
/// from postgres-nio's pool; concurrent calls run on separate connections.
public final class PostgresStore: ChatStore {
    /// The connection pool in service, and the task that runs it (`renewStuckPool` replaces both).
    private struct Pool: Sendable {
        let client: PostgresClient
        let runner: Task<Void, Never>

        init(_ configuration: PostgresClient.Configuration, logger: Logger) {
            let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
            // The pool runs for the store's life; cancelling the runner ends it. Started at once, so the pool is
            // running before the first query (which would otherwise log a warning).
            (self.client, runner) = (client, Task.immediate { await client.run() })
        }
    }

    private let pool: Mutex<Pool>
    var client: PostgresClient { pool.withLock { $0.client } }
    private let configuration: PostgresClient.Configuration
    /// When (monotonic nanoseconds) calls began to fail as unavailable with none succeeding since; 0 while they
    /// succeed.
    private let failingSince = Atomic<UInt64>(0)
    /// Replaces a pool stuck in its reconnection backoff, for the store's life.
    private let poolKeeper = Mutex<Task<Void, Never>?>(nil)
    /// How long one call may take (`limits.storeTimeout`).
    let timeout: Duration
    /// The database's clock less this machine's, in milliseconds, as last measured (`fleetTime()`).
    private let clockOffset = Atomic<Int64>(0)
    /// Measures `clockOffset` again every `clockInterval`, for the store's life.
    private let clockKeeper = Mutex<Task<Void, Never>?>(nil)
    static let clockInterval: Duration = .seconds(30)
    let logger: Logger
    /// Live serving room servers as last read, where placement samples its candidates (`PostgresRoomPlacements`).
    let candidates = Mutex(PlacementCandidates())

    /// The versioned schema. Append new steps; never edit one that has shipped.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE chat_messages (
                room TEXT NOT NULL,
                seq BIGINT NOT NULL,
                client_id TEXT NOT NULL,
                sender TEXT NOT NULL,
                sender_name TEXT NOT NULL,
                body TEXT NOT NULL,
                ts BIGINT NOT NULL,
                PRIMARY KEY (room, seq)
            )
            """,
            "CREATE UNIQUE INDEX chat_messages_client_id ON chat_messages (room, sender, client_id)",
        ],
        [
            """
            CREATE TABLE nodes (
                id TEXT PRIMARY KEY,
                url TEXT NOT NULL,
                region TEXT NOT NULL,
                capacity INTEGER NOT NULL,
                state TEXT NOT NULL,
                connections INTEGER NOT NULL DEFAULT 0,
                rooms INTEGER NOT NULL DEFAULT 0,
                participants INTEGER NOT NULL DEFAULT 0,
                cpu DOUBLE PRECISION NOT NULL DEFAULT 0,
                bytes_out_per_second DOUBLE PRECISION NOT NULL DEFAULT 0,
                reported_at BIGINT NOT NULL,
                registered_at BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE placements (
                room TEXT PRIMARY KEY,
                node TEXT NOT NULL,
                epoch BIGINT NOT NULL,
                lease_until BIGINT NOT NULL,
                placed_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX placements_node ON placements (node, placed_at)",
        ],
        [
            "ALTER TABLE nodes ADD COLUMN drain_requested BOOLEAN NOT NULL DEFAULT false",
            "ALTER TABLE nodes ADD COLUMN kind TEXT NOT NULL DEFAULT 'room-server'",
            """
            CREATE TABLE bridge_placements (
                room TEXT PRIMARY KEY,
                bridge TEXT NOT NULL,
                lease_until BIGINT NOT NULL,
                placed_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX bridge_placements_bridge ON bridge_placements (bridge, placed_at)",
            """
            CREATE TABLE recordings (
                room TEXT PRIMARY KEY,
                recorder TEXT NOT NULL UNIQUE,
                started_at BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE fleet_leases (
                name TEXT PRIMARY KEY,
                holder TEXT NOT NULL,
                term BIGINT NOT NULL,
                until BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE fleet_pools (
                name TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                region TEXT NOT NULL,
                min_size INTEGER NOT NULL,
                max_size INTEGER NOT NULL,
                desired INTEGER NOT NULL,
                policy_memory TEXT
            )
            """,
            """
            CREATE TABLE fleet_instances (
                id TEXT PRIMARY KEY,
                pool TEXT NOT NULL,
                state TEXT NOT NULL,
                protected BOOLEAN NOT NULL DEFAULT false,
                launched_at BIGINT NOT NULL,
                state_since BIGINT NOT NULL,
                health_failures INTEGER NOT NULL DEFAULT 0
            )
            """,
            "CREATE INDEX fleet_instances_pool ON fleet_instances (pool, state)",
            """
            CREATE TABLE fleet_activities (
                id BIGSERIAL PRIMARY KEY,
                pool TEXT NOT NULL,
                at BIGINT NOT NULL,
                action TEXT NOT NULL,
                instance TEXT,
                from_capacity INTEGER,
                to_capacity INTEGER,
                cause TEXT NOT NULL,
                reason TEXT NOT NULL,
                figures TEXT NOT NULL,
                result TEXT NOT NULL
            )
            """,
            "CREATE INDEX fleet_activities_pool ON fleet_activities (pool, id)",
        ],
        [
            "ALTER TABLE nodes ADD COLUMN bytes_in_per_second DOUBLE PRECISION NOT NULL DEFAULT 0",
            "ALTER TABLE nodes ADD COLUMN largest_room INTEGER NOT NULL DEFAULT 0",
        ],
        [
            // The fleet's last heartbeat, and when the fleet last came back from a silence longer than a lease
            // (the store was down for everyone): see `RoomPlacements`.
            "CREATE TABLE fleet_clock (id INTEGER PRIMARY KEY, last_heartbeat BIGINT NOT NULL, resumed_at BIGINT NOT NULL)",
            "INSERT INTO fleet_clock (id, last_heartbeat, resumed_at) VALUES (1, 0, 0)",
        ],
        [
            // A bridge's control API (a Janus's Admin API), which room servers drive: `NodeRegistration.controlURL`.
            "ALTER TABLE nodes ADD COLUMN control_url TEXT",
        ],
    ]

    /// Any number of processes may migrate at once: the first takes this advisory lock, the others wait and
    /// then find nothing to do.
    private static let migrationLock: Int64 = 0x706c617a61  // "plaza"

    /// Connects to `url` (`postgres://user:password@host:port/database`, optional `?sslmode=disable|require`)
    /// and brings the schema up to date.
    /// Every call answers within `timeout` (`store.timeout`), or fails as `StoreError.unavailable`.
    public static func open(url: String, timeout: Duration = .seconds(3), logger: Logger) async throws -> PostgresStore {
        var configuration = try Self.configuration(url)
        configuration.options.connectTimeout = .milliseconds(timeout.milliseconds)
        // A process frozen in the middle of a transaction (a paused VM, SIGSTOP) would hold its row locks — a
        // room's placement among them, so no other node could take the room — for as long as it stays frozen.
        // PostgreSQL ends such a session once it has idled in a transaction for as long as a call may take.
        configuration.options.additionalStartupParameters.append(
            ("idle_in_transaction_session_timeout", String(max(timeout.milliseconds, 1_000))))
        let store = PostgresStore(configuration: configuration, timeout: timeout, logger: logger)
        do {
            try await store.migrate()
            try await store.synchronizeClock()
        } catch {
            try? await store.close()
            throw error
        }
        store.poolKeeper.withLock { keeper in
            keeper = Task { [weak store] in
                while !Task.isCancelled {
                    do { try await Task.sleep(for: Self.poolCheckInterval) } catch { return }
                    store?.retireOldPools()
                    await store?.renewStuckPool()
                }
            }
        }
        store.clockKeeper.withLock { keeper in
            keeper = Task { [weak store] in
                while !Task.isCancelled {
                    do { try await Task.sleep(for: Self.clockInterval) } catch { return }
                    try? await store?.synchronizeClock()
                }
            }
        }
        return store
    }

    private init(configuration: PostgresClient.Configuration, timeout: Duration, logger: Logger) {
        (self.configuration, self.timeout, self.logger) = (configuration, timeout, logger)
        pool = Mutex(Pool(configuration, logger: logger))
    }

    /// How often the store looks for a stuck pool.
    static let poolCheckInterval: Duration = .seconds(1)
    /// Least time between two replacements: a database that answers slowly (every call running out of time, but
    /// `SELECT 1` answering) must not have its connections made again every second.
    static let poolRenewalSpacing: Duration = .seconds(10)
    private let lastPoolRenewal = Mutex<ContinuousClock.Instant?>(nil)
    /// Pools replaced, kept until the calls on them are past their deadline.
    private let retiring = Mutex<[(pool: Pool, until: ContinuousClock.Instant)]>([])

    /// Ends the replaced pools whose calls are all past their deadline (all of them with `all`).
    private func retireOldPools(all: Bool = false) {
        let now = ContinuousClock.now
        let done = retiring.withLock { retiring in
            let done = retiring.filter { all || $0.until <= now }
            retiring.removeAll { all || $0.until <= now }
            return done
        }
        for entry in done { entry.pool.runner.cancel() }
    }

    /// After the database was unreachable for a while, the pool waits longer and longer between connection
    /// attempts (up to a minute), so it would go on failing long after the database is back — past the fleet's
    /// grace for nodes to renew their rooms. Once no call has succeeded for a whole `limits.storeTimeout`, a fresh
    /// pool is tried every `poolCheckInterval`: if it answers a query, it replaces the stuck one.
    func renewStuckPool() async {
        let since = failingSince.load(ordering: .relaxed)
        guard since > 0, DispatchTime.now().uptimeNanoseconds - since >= UInt64(timeout.milliseconds) * 1_000_000,
            lastPoolRenewal.withLock({ $0.map { ContinuousClock.now - $0 >= Self.poolRenewalSpacing } ?? true })
        else { return }
        let fresh = Pool(configuration, logger: logger)
        do {
            try await StoreDeadline.run(within: timeout) { _ = try await fresh.client.query("SELECT 1", logger: self.logger) }
        } catch {
            fresh.runner.cancel()
            return
        }
        let stuck = pool.withLock { pool in
            defer { pool = fresh }
            return pool
        }
        failingSince.store(0, ordering: .relaxed)
        lastPoolRenewal.withLock { $0 = .now }
        // Calls already on the old pool keep it until their deadline; then it goes (`retireOldPools`).
        retiring.withLock { $0.append((stuck, ContinuousClock.now + timeout)) }
        logger.notice("the database answers again: its connections are made afresh")
    }

    /// Parses a PostgreSQL URL into the client's configuration.
    static func configuration(_ url: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, !host.isEmpty
        else {
            throw StoreError(.unavailable, "a store URL looks like postgres://user:password@host:5432/database")
        }
        let sslMode = components.queryItems?.first { $0.name == "sslmode" }?.value ?? "disable"
        let tls: PostgresClient.Configuration.TLS
        switch sslMode {
        case "disable": tls = .disable
        case "require": tls = .require(.makeClientConfiguration())
        case "prefer": tls = .prefer(.makeClientConfiguration())
        default: throw StoreError(.unavailable, "sslmode must be disable, prefer or require")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: components.user ?? "postgres",
            password: components.password, database: database.isEmpty ? nil : database, tls: tls)
        return configuration
    }

    /// This machine's clock corrected by the offset last measured against the database's.
    public func fleetTime() -> Int64 { wallClockMilliseconds() + clockOffset.load(ordering: .relaxed) }

    /// Measures the offset between the database's clock and this machine's (half the round trip is the error).
    /// A machine more than a second off is worth a warning: its own timestamps (chat, logs) are that far off too.
    func synchronizeClock() async throws {
        let sent = wallClockMilliseconds()
        let database = try await guarded { [self] in
            let rows = try await client.query(
                "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint", logger: logger)
            for try await time in rows.decode(Int64.self) { return time }
            throw StoreError(.unavailable, "the database did not tell its time")
        }
        let received = wallClockMilliseconds()
        let offset = database - (sent + received) / 2
        let previous = clockOffset.exchange(offset, ordering: .relaxed)
        if abs(offset) > 1_000, abs(offset - previous) > 500 {
            logger.warning(
                "this machine's clock is off the database's; leases and placements follow the database's",
                metadata: ["offsetMilliseconds": "\(offset)"])
        }
    }

    /// Brings the schema up to date. No deadline: a migration takes as long as it takes, once, at start.
    private func migrate() async throws {
        do {
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(Self.migrationLock))", logger: logger)
                try await connection.query(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
                    logger: logger)
                var current = 0
                for try await version in try await connection.query(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", logger: logger
                ).decode(Int.self) {
                    current = version
                }
                guard current <= Self.migrations.count else {
                    throw StoreError(
                        .schemaTooNew, "database schema version \(current) is newer than this build (\(Self.migrations.count))")
                }
                for version in Self.migrations.indices.map({ $0 + 1 }) where version > current {
                    for statement in Self.migrations[version - 1] {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    let now = Int64(Date().timeIntervalSince1970)
                    try await connection.query(
                        "INSERT INTO schema_migrations (version, applied_at) VALUES (\(version), \(now))", logger: logger)
                    logger.info("applied store migration", metadata: ["version": "\(version)"])
                }
            }
        } catch {
            throw Self.storeError(error)
        }
    }

    /// Rows per `INSERT`: 7 parameters each, far under PostgreSQL's 65535.
    private static let rowsPerStatement = 1000

    public func append(_ messages: [ChatMessage], fence: Fence?) async throws {
        guard let room = messages.first?.room else { return }
        let inserts = try Self.inserts(messages)
        try await guarded { [self] in
            if fence == nil, inserts.count == 1 {
                _ = try await client.query(inserts[0], logger: logger)
                return
            }
            try await client.withTransaction(logger: logger) { connection in
                if let fence {
                    precondition(messages.allSatisfy { $0.room == room }, "a fenced append is for one room")
                    // Locks the placement row: a claim by another node waits for this write, or this write sees it.
                    let rows = try await connection.query(
                        """
                        SELECT 1 FROM placements
                        WHERE room = \(room.rawValue) AND node = \(fence.node.rawValue) AND epoch = \(fence.epoch) FOR SHARE
                        """, logger: logger)
                    var owned = false
                    for try await _ in rows.decode(Int.self) { owned = true }
                    guard owned else {
                        throw StoreError(.fenced, "\(fence.node) is no longer the home of \(room) (epoch \(fence.epoch))")
                    }
                }
                for query in inserts { try await connection.query(query, logger: logger) }
            }
        }
    }

    /// Multi-row `INSERT`s of at most `rowsPerStatement` messages each.
    static func inserts(_ messages: [ChatMessage]) throws -> [PostgresQuery] {
        stride(from: 0, to: messages.count, by: rowsPerStatement).map { start in
            let chunk = messages[start..<min(start + rowsPerStatement, messages.count)]
            var sql = "INSERT INTO chat_messages (room, seq, client_id, sender, sender_name, body, ts) VALUES "
            var binds = PostgresBindings(capacity: chunk.count * 7)
            for (i, m) in chunk.enumerated() {
                let p = i * 7
                sql += (i == 0 ? "" : ",") + "($\(p + 1),$\(p + 2),$\(p + 3),$\(p + 4),$\(p + 5),$\(p + 6),$\(p + 7))"
                binds.append(m.room.rawValue)
                binds.append(m.offset)
                binds.append(m.clientID)
                binds.append(m.sender.rawValue)
                binds.append(m.senderName)
                binds.append(m.text)
                binds.append(m.timestamp)
            }
            return PostgresQuery(unsafeSQL: sql, binds: binds)
        }
    }

    public func messages(in room: RoomName, after offset: Int64, limit: Int) async throws -> [ChatMessage] {
        try await select(
            "SELECT room, seq, client_id, sender, sender_name, body, ts FROM chat_messages WHERE room = \(room.rawValue) AND seq > \(offset) ORDER BY seq LIMIT \(max(0, limit))"
        )
    }

    public func messages(in room: RoomName, before offset: Int64, limit: Int) async throws -> [ChatMessage] {
        try await select(
            "SELECT room, seq, client_id, sender, sender_name, body, ts FROM chat_messages WHERE room = \(room.rawValue) AND seq < \(offset) ORDER BY seq DESC LIMIT \(max(0, limit))"
        ).reversed()
    }

    public func latestMessages(in room: RoomName, limit: Int) async throws -> [ChatMessage] {
        try await select(
            "SELECT room, seq, client_id, sender, sender_name, body, ts FROM chat_messages WHERE room = \(room.rawValue) ORDER BY seq DESC LIMIT \(max(0, limit))"
        ).reversed()
    }

    public func offset(in room: RoomName, sender: ParticipantID, clientID: String) async throws -> Int64? {
        try await guarded { [self] in
            let rows = try await client.query(
                "SELECT seq FROM chat_messages WHERE room = \(room.rawValue) AND sender = \(sender.rawValue) AND client_id = \(clientID)",
                logger: logger)
            for try await seq in rows.decode(Int64.self) { return seq }
            return nil
        }
    }

    public func lastOffset(in room: RoomName) async throws -> Int64 {
        try await guarded { [self] in
            let rows = try await client.query(
                "SELECT COALESCE(MAX(seq), 0)::BIGINT FROM chat_messages WHERE room = \(room.rawValue)", logger: logger)
            for try await last in rows.decode(Int64.self) { return last }
            return 0
        }
    }

    public func ping() async throws {
        try await guarded { [self] in
            _ = try await client.query("SELECT 1", logger: logger)
        }
    }

    public func close() async throws {
        clockKeeper.withLock { $0?.cancel() }
        if let keeper = poolKeeper.withLock({ $0 }) {
            keeper.cancel()
            await keeper.value  // no pool is swapped in after this
        }
        retireOldPools(all: true)
        let runner = pool.withLock { $0.runner }
        runner.cancel()
        await runner.value
    }

    private func select(_ query: PostgresQuery) async throws -> [ChatMessage] {
        try await guarded { [self] in
            var result: [ChatMessage] = []
            let rows = try await client.query(query, logger: logger)
            for try await (room, seq, clientID, sender, name, body, ts) in rows.decode(
                (String, Int64, String, String, String, String, Int64).self)
            {
                guard let room = RoomName(room) else { continue }
                result.append(
                    ChatMessage(
                        room: room, offset: seq, clientID: clientID, sender: ParticipantID(sender), senderName: name,
                        text: body, timestamp: ts))
            }
            return result
        }
    }

    /// Maps the driver's errors onto the store's kinds: uniqueness violations are conflicts, the rest
    /// (connection loss, timeouts, server errors) make the store unavailable.
    /// Runs one call to the database within `store.timeout`, with its errors as `StoreError`s.
    func guarded<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        do {
            let result = try await StoreDeadline.run(within: timeout, body)
            if failingSince.load(ordering: .relaxed) != 0 { failingSince.store(0, ordering: .relaxed) }
            return result
        } catch {
            let error = Self.storeError(error)
            if error.kind == .unavailable {
                _ = failingSince.compareExchange(
                    expected: 0, desired: DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
            } else if failingSince.load(ordering: .relaxed) != 0 {
                failingSince.store(0, ordering: .relaxed)  // the database answered
            }
            throw error
        }
    }

    private static func storeError(_ error: any Error) -> StoreError {
        switch error {
        case let error as StoreError:
            return error
        case let error as PostgresTransactionError:
            return storeError(error.closureError ?? error.beginError ?? error.commitError ?? error.rollbackError ?? error)
        case let error as PSQLError where error.serverInfo?[.sqlState] == PostgresError.Code.uniqueViolation.raw:
            return StoreError(.conflict, error.serverInfo?[.message] ?? "unique violation")
        case let error as PSQLError:
            return StoreError(.unavailable, error.serverInfo?[.message] ?? "\(error.code)")
        default:
            return StoreError(.unavailable, String(describing: error))
        }
    }
}
