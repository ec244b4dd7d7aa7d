public import PlazaCore
public import Logging
import SQLiteNIO
import Foundation

/// The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a returned `append` has been
/// fsynced and survives a power cut.
///
/// A single connection serves reads and writes; SQLite serializes them anyway, and one writer keeps commits
/// in offset order. Several messages go in one multi-row `INSERT`, which is one transaction and one fsync.
public actor SQLiteStore: PlazaStore {
    private let connection: SQLiteConnection
    private let logger: Logger

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
        ]
    ]

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    public static func open(path: String, logger: Logger) async throws -> SQLiteStore {
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        } catch {
            throw StoreError(.unavailable, "cannot open \(path): \(error)")
        }
        let store = SQLiteStore(connection: connection, logger: logger)
        do {
            try await store.prepare()
        } catch {
            try? await connection.close()
            throw error
        }
        return store
    }

    /// An in-memory database, for tests and `plaza simulate`.
    public static func inMemory(logger: Logger) async throws -> SQLiteStore {
        let connection = try await SQLiteConnection.open(storage: .memory, logger: logger)
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
        self.connection = connection
        self.logger = logger
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
            } catch let error as SQLiteError where error.reason == .busy && attempt < 100 {
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

    public func append(_ messages: [ChatMessage]) async throws {
        guard !messages.isEmpty else { return }
        let transactional = messages.count > Self.rowsPerStatement
        if transactional { try await run("BEGIN IMMEDIATE") }
        do {
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
            if transactional { try await run("COMMIT") }
        } catch {
            if transactional { try? await run("ROLLBACK") }
            throw error
        }
    }

    public func messages(in room: RoomName, after offset: Int64, limit: Int) async throws -> [ChatMessage] {
        let rows = try await query(
            "SELECT * FROM chat_messages WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?",
            [.text(room.rawValue), .integer(Int(offset)), .integer(max(0, limit))]
        )
        return rows.compactMap(Self.message)
    }

    public func messages(in room: RoomName, before offset: Int64, limit: Int) async throws -> [ChatMessage] {
        let rows = try await query(
            "SELECT * FROM chat_messages WHERE room = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
            [.text(room.rawValue), .integer(Int(offset)), .integer(max(0, limit))]
        )
        return rows.compactMap(Self.message).reversed()
    }

    public func offset(in room: RoomName, sender: ParticipantID, clientID: String) async throws -> Int64? {
        let rows = try await query(
            "SELECT seq FROM chat_messages WHERE room = ? AND sender = ? AND client_id = ?",
            [.text(room.rawValue), .text(sender.rawValue), .text(clientID)]
        )
        return rows.first?.column("seq")?.integer.map(Int64.init)
    }

    public func latestMessages(in room: RoomName, limit: Int) async throws -> [ChatMessage] {
        let rows = try await query(
            "SELECT * FROM chat_messages WHERE room = ? ORDER BY seq DESC LIMIT ?",
            [.text(room.rawValue), .integer(max(0, limit))]
        )
        return rows.compactMap(Self.message).reversed()
    }

    public func lastOffset(in room: RoomName) async throws -> Int64 {
        let rows = try await query(
            "SELECT COALESCE(MAX(seq), 0) AS last FROM chat_messages WHERE room = ?", [.text(room.rawValue)]
        )
        return Int64(rows.first?.column("last")?.integer ?? 0)
    }

    public func ping() async throws {
        _ = try await query("SELECT 1", [])
    }

    public func close() async throws {
        try await connection.close()
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

    private func run(_ sql: String, _ binds: [SQLiteData] = []) async throws {
        _ = try await query(sql, binds)
    }

    private func query(_ sql: String, _ binds: [SQLiteData]) async throws -> [SQLiteRow] {
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
