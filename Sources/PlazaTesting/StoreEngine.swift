public import PlazaStore
import PlazaRoles
import PlazaMemoryStore
import Logging
import Foundation
import Synchronization

/// The engines of the shared store, for suites that run on each: SQLite files in a temporary folder (the fleet of
/// one machine) and fresh databases of a real PostgreSQL server started for the test process.
public enum StoreEngine: String, CaseIterable, Sendable {
    case sqlite
    case postgres
    /// `plaza simulate`'s store: every opening of one location shares it.
    case memory

    /// A new, empty place for a store: a folder for SQLite, a database URL for PostgreSQL.
    public func newLocation() throws -> String {
        switch self {
        case .sqlite:
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-store-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            return path
        case .postgres:
            return try PostgresServer.shared().createDatabase()
        case .memory:
            return "memory-\(UUID().uuidString)"
        }
    }

    /// Opens the store at `location`, as the `store` setting names it; several stores opened at one location
    /// share their data.
    public func open(_ location: String) async throws -> any SharedStore {
        switch self {
        case .sqlite: try await SharedStores.open("sqlite:" + location + "/plaza.sqlite", logger: Logger(label: "test"))
        case .postgres: try await SharedStores.open(location, logger: Logger(label: "test"))
        case .memory: Self.memoryStores.withLock { stores in
            if let store = stores[location] { return store }
            let store = MemoryStore()
            stores[location] = store
            return store
        }
        }
    }

    /// The memory stores by location: every opening of one shares it, as processes share a database. (They
    /// live as long as the test process.)
    private static let memoryStores = Mutex<[String: MemoryStore]>([:])

    /// A new, empty store.
    public func openNew() async throws -> any SharedStore { try await open(newLocation()) }
}
