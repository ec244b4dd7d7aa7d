// The SQLite engine of every store protocol: `plaza serve` keeps everything in one file, and the processes of one
// machine (`plaza serve --pools` and the room servers it launches) share it. Decisions that read then write take
// the file's write lock, as PostgreSQL's row locks serialize them across machines.

public import PlazaCore
public import PlazaStore
public import Logging
import PlazaPlacement
import SQLiteNIO
import Foundation

/// The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a returned `append` has been
/// fsynced and survives a power cut.
///
/// A single connection serves reads and writes; SQLite serializes them anyway, and one writer keeps commits
/// in offset order. Several messages go in one multi-row `INSERT`, which is one transaction and one fsync.
/// Every call runs alone on the connection (`exclusive`), so a transaction never takes in another call's
/// statements. Several processes of one machine may open the same file (`plaza serve --pools` and the room
/// servers it launches): decisions that read then write take SQLite's write lock first (`BEGIN IMMEDIATE`),
/// which serializes them across processes as PostgreSQL's row locks do across machines.
public actor SQLiteStore: ChatStore {
    let connection: SQLiteConnection
    let logger: Logger
    /// Whether a call is using the connection, and the calls waiting for it, first come first served.
    private var inUse = false
    private var waiting: [CheckedContinuation<Void, Never>] = []
    /// Live serving room servers as last read, where placement samples its candidates (`SQLiteRoomPlacements`).
    var candidates = PlacementCandidates()

    /// The versioned schema. Append new steps; never edit one that has shipped.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE chat_messages (
                room TEXT NOT NULL,
                seq INTEGER NOT NULL,
                client_id TEXT NOT NULL,
                sender TEXT NOT NULL,
                sender_name TEXT NOT NULL,
                body TEXT NOT NULL,
                ts INTEGER NOT NULL,
                PRIMARY KEY (room, seq)
            ) WITHOUT ROWID
            """,
            "CREATE UNIQUE INDEX chat_messages_client_id ON chat_messages (room, sender, client_id)",
        ],
        // The registry, placements, media and the autoscaler's state, as in PostgreSQL's migrations 2 and 3.
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
                cpu REAL NOT NULL DEFAULT 0,
                bytes_out_per_second REAL NOT NULL DEFAULT 0,
                reported_at INTEGER NOT NULL,
                registered_at INTEGER NOT NULL,
                drain_requested INTEGER NOT NULL DEFAULT 0,
                kind TEXT NOT NULL DEFAULT 'room-server'
            ) WITHOUT ROWID
            """,
            """
            CREATE TABLE placements (
                room TEXT PRIMARY KEY,
                node TEXT NOT NULL,
                epoch INTEGER NOT NULL,
                lease_until INTEGER NOT NULL,
                placed_at INTEGER NOT NULL
            ) WITHOUT ROWID
            """,
            "CREATE INDEX placements_node ON placements (node, placed_at)",
            """
            CREATE TABLE bridge_placements (
                room TEXT PRIMARY KEY,
                bridge TEXT NOT NULL,
                lease_until INTEGER NOT NULL,
                placed_at INTEGER NOT NULL
            ) WITHOUT ROWID
            """,
            "CREATE INDEX bridge_placements_bridge ON bridge_placements (bridge, placed_at)",
            """
            CREATE TABLE recordings (
                room TEXT PRIMARY KEY,
                recorder TEXT NOT NULL UNIQUE,
                started_at INTEGER NOT NULL
            ) WITHOUT ROWID
            """,
            """
            CREATE TABLE fleet_leases (
                name TEXT PRIMARY KEY,
                holder TEXT NOT NULL,
                term INTEGER NOT NULL,
                until INTEGER NOT NULL
            ) WITHOUT ROWID
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
            ) WITHOUT ROWID
            """,
            """
            CREATE TABLE fleet_instances (
                id TEXT PRIMARY KEY,
                pool TEXT NOT NULL,
                state TEXT NOT NULL,
                protected INTEGER NOT NULL DEFAULT 0,
                launched_at INTEGER NOT NULL,
                state_since INTEGER NOT NULL,
                health_failures INTEGER NOT NULL DEFAULT 0
            ) WITHOUT ROWID
            """,
            "CREATE INDEX fleet_instances_pool ON fleet_instances (pool, state)",
            """
            CREATE TABLE fleet_activities (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                pool TEXT NOT NULL,
                at INTEGER NOT NULL,
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
            "ALTER TABLE nodes ADD COLUMN bytes_in_per_second REAL NOT NULL DEFAULT 0",
            "ALTER TABLE nodes ADD COLUMN largest_room INTEGER NOT NULL DEFAULT 0",
        ],
        [
            // The fleet's last heartbeat, and when it last came back from a silence longer than a lease: see
            // `RoomPlacements`.
            "CREATE TABLE fleet_clock (id INTEGER PRIMARY KEY, last_heartbeat INTEGER NOT NULL, resumed_at INTEGER NOT NULL)",
            "INSERT INTO fleet_clock (id, last_heartbeat, resumed_at) VALUES (1, 0, 0)",
        ],
        [
            // A bridge's control API (a Janus's Admin API): `NodeRegistration.controlURL`.
            "ALTER TABLE nodes ADD COLUMN control_url TEXT",
        ],
    ]

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    public static func open(path: String, logger: Logger) async throws -> SQLiteStore {
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        } catch {
            throw StoreError(.unavailable, "cannot open \(path): \(error)")
        }
        return try await prepared(connection, logger: logger)
    }

    /// An in-memory database, for tests and `plaza simulate`.
    public static func inMemory(logger: Logger) async throws -> SQLiteStore {
        try await prepared(try await SQLiteConnection.open(storage: .memory, logger: logger), logger: logger)
    }

    /// A store on `connection` with its schema up to date; the connection is closed if that fails.
    private static func prepared(_ connection: SQLiteConnection, logger: Logger) async throws -> SQLiteStore {
        let store = SQLiteStore(connection: connection, logger: logger)
        do {
            try await store.prepare()
        } catch {
            try? await connection.close()
            throw error
        }
        return store
    }

    private init(connection: SQLiteConnection, logger: Logger) {
        (self.connection, self.logger) = (connection, logger)
    }

    private func prepare() async throws {
        // The busy timeout first: another process (or store) opening the same file may hold the lock that
        // switching the journal mode and migrating need.
        try await run("PRAGMA busy_timeout=5000")
        // Switching to WAL needs an exclusive lock and SQLite does not wait for it (no busy handler for this
        // step), so a store opening the file while another does retries for a while.
        for attempt in 1... {
            do {
                _ = try await connection.query("PRAGMA journal_mode=WAL", [])
                break
            } catch let error as SQLiteError
                where [.busy, .busyInRecovery, .busyInSnapshot, .busyTimeout].contains(error.reason) && attempt < 100
            {
                try await Task.sleep(for: .milliseconds(50))
            } catch {
                throw StoreError(.unavailable, "cannot switch to WAL: \(error)")
            }
        }
        try await run("PRAGMA synchronous=FULL")
        // One write transaction reads the version and applies what is missing, so stores opening the same file
        // at once migrate it once: the second waits for the lock, then finds nothing left to do.
        try await run("BEGIN IMMEDIATE")
        do {
            try await run("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
            let rows = try await query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations", [])
            let current = Int(rows.first?.column("v")?.integer ?? 0)
            guard current <= Self.migrations.count else {
                throw StoreError(.schemaTooNew, "database schema version \(current) is newer than this build (\(Self.migrations.count))")
            }
            for version in Self.migrations.indices.map({ $0 + 1 }) where version > current {
                for statement in Self.migrations[version - 1] { try await run(statement) }
                try await run(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    [.integer(version), .integer(Int(Date().timeIntervalSince1970))]
                )
                logger.info("applied store migration", metadata: ["version": "\(version)"])
            }
            try await run("COMMIT")
        } catch {
            try? await run("ROLLBACK")
            throw error
        }
    }

    /// Rows per `INSERT`, well under SQLite's limit on bound parameters.
    private static let rowsPerStatement = 200

    public func append(_ messages: [ChatMessage], fence: Fence?) async throws {
        guard let room = messages.first?.room else { return }
        try await exclusive {
            guard let fence else {
                return messages.count > Self.rowsPerStatement
                    ? try await transaction { try await insert(messages) } : try await insert(messages)
            }
            precondition(messages.allSatisfy { $0.room == room }, "a fenced append is for one room")
            try await transaction {
                let owned = try await query(
                    "SELECT 1 FROM placements WHERE room = ? AND node = ? AND epoch = ?",
                    [.text(room.rawValue), .name(fence.node), .integer(Int(fence.epoch))])
                guard !owned.isEmpty else {
                    throw StoreError(.fenced, "\(fence.node) is no longer the home of \(room) (epoch \(fence.epoch))")
                }
                try await insert(messages)
            }
        }
    }

    /// Inserts the messages, `rowsPerStatement` to a statement; the caller holds the connection.
    func insert(_ messages: [ChatMessage]) async throws {
        var start = 0
        while start < messages.count {
            let chunk = messages[start..<min(start + Self.rowsPerStatement, messages.count)]
            var sql = "INSERT INTO chat_messages (room, seq, client_id, sender, sender_name, body, ts) VALUES "
            var binds: [SQLiteData] = []
            binds.reserveCapacity(chunk.count * 7)
            for (i, m) in chunk.enumerated() {
                sql += i == 0 ? "(?,?,?,?,?,?,?)" : ",(?,?,?,?,?,?,?)"
                binds += [
                    .text(m.room.rawValue), .integer(Int(m.offset)), .text(m.clientID), .text(m.sender.rawValue),
                    .text(m.senderName), .text(m.text), .integer(Int(m.timestamp)),
                ]
            }
            try await run(sql, binds)
            start += chunk.count
        }
    }

    public func messages(in room: RoomName, after offset: Int64, limit: Int) async throws -> [ChatMessage] {
        let rows = try await exclusive { try await query(
            "SELECT * FROM chat_messages WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?",
            [.text(room.rawValue), .integer(Int(offset)), .integer(max(0, limit))]
        ) }
        return rows.compactMap(Self.message)
    }

    public func messages(in room: RoomName, before offset: Int64, limit: Int) async throws -> [ChatMessage] {
        let rows = try await exclusive { try await query(
            "SELECT * FROM chat_messages WHERE room = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
            [.text(room.rawValue), .integer(Int(offset)), .integer(max(0, limit))]
        ) }
        return rows.compactMap(Self.message).reversed()
    }

    public func offset(in room: RoomName, sender: ParticipantID, clientID: String) async throws -> Int64? {
        let rows = try await exclusive { try await query(
            "SELECT seq FROM chat_messages WHERE room = ? AND sender = ? AND client_id = ?",
            [.text(room.rawValue), .text(sender.rawValue), .text(clientID)]
        ) }
        return rows.first?.column("seq")?.integer.map(Int64.init)
    }

    public func latestMessages(in room: RoomName, limit: Int) async throws -> [ChatMessage] {
        let rows = try await exclusive { try await query(
            "SELECT * FROM chat_messages WHERE room = ? ORDER BY seq DESC LIMIT ?",
            [.text(room.rawValue), .integer(max(0, limit))]
        ) }
        return rows.compactMap(Self.message).reversed()
    }

    public func lastOffset(in room: RoomName) async throws -> Int64 {
        let rows = try await exclusive { try await query(
            "SELECT COALESCE(MAX(seq), 0) AS last FROM chat_messages WHERE room = ?", [.text(room.rawValue)]
        ) }
        return Int64(rows.first?.column("last")?.integer ?? 0)
    }

    public func ping() async throws {
        try await exclusive { try await run("SELECT 1") }
    }

    public func close() async throws {
        try await exclusive { try await connection.close() }
    }

    private static func message(_ row: SQLiteRow) -> ChatMessage? {
        guard let roomName = row.column("room")?.string, let room = RoomName(roomName),
            let seq = row.column("seq")?.integer, let clientID = row.column("client_id")?.string,
            let sender = row.column("sender")?.string, let name = row.column("sender_name")?.string,
            let body = row.column("body")?.string, let ts = row.column("ts")?.integer
        else { return nil }
        return ChatMessage(
            room: room, offset: Int64(seq), clientID: clientID, sender: ParticipantID(sender), senderName: name,
            text: body, timestamp: Int64(ts)
        )
    }

    /// Runs `body` with the connection to itself: calls wait their turn, first come first served.
    func exclusive<T>(_ body: () async throws -> T) async throws -> T {
        if inUse {
            await withCheckedContinuation { waiting.append($0) }
        } else {
            inUse = true
        }
        // Hands the connection straight to the next caller, so a newcomer cannot overtake it.
        defer { if waiting.isEmpty { inUse = false } else { waiting.removeFirst().resume() } }
        return try await body()
    }

    /// Runs `body` in a write transaction (the file's write lock taken at the start, waiting up to the busy
    /// timeout for another process's), committed when it returns and rolled back when it throws. The caller
    /// holds the connection.
    func transaction<T>(_ body: () async throws -> T) async throws -> T {
        try await run("BEGIN IMMEDIATE")
        do {
            let result = try await body()
            try await run("COMMIT")
            return result
        } catch {
            try? await run("ROLLBACK")
            throw error
        }
    }

    func run(_ sql: String, _ binds: [SQLiteData] = []) async throws {
        _ = try await query(sql, binds)
    }

    func query(_ sql: String, _ binds: [SQLiteData]) async throws -> [SQLiteRow] {
        do {
            return try await connection.query(sql, binds)
        } catch let error as SQLiteError where error.reason == .constraint || error.reason == .constraintUniqueFailed
            || error.reason == .constraintPrimaryKeyFailed
        {
            throw StoreError(.conflict, error.message)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.unavailable, "\(error)")
        }
    }
}
