import Testing
import Foundation
import Logging
import PlazaPostgres
import PlazaTesting

/// The store against a PostgreSQL server of its own that goes away and comes back.
@Suite struct PostgresOutageTests {
    /// The connection pool waits longer and longer between attempts while the database is gone (about 7 s after
    /// 30 s away); the store tries a fresh pool instead, so it answers within a couple of seconds of the
    /// database's return, however long it was gone.
    @Test func theStoreAnswersSoonAfterALongOutage() async throws {
        let database = try PostgresServer.dedicated()
        defer { database.stop() }
        let store = try await PostgresStore.open(url: try database.createDatabase(), timeout: .seconds(1), logger: Logger(label: "test"))
        try await store.ping()
        database.shutDown()
        // Calls go on meanwhile, as a node's heartbeats do: each fails within the deadline.
        let outage = ContinuousClock.now
        while ContinuousClock.now - outage < .seconds(30) {
            await #expect(throws: (any Error).self) { try await store.ping() }
            try await Task.sleep(for: .milliseconds(500))
        }
        try database.startAgain()
        let back = ContinuousClock.now
        while (try? await store.ping()) == nil, ContinuousClock.now - back < .seconds(20) {
            try await Task.sleep(for: .milliseconds(100))
        }
        let waited = ContinuousClock.now - back
        #expect(waited < .milliseconds(2_500), "answered \(waited) after the database was back")
        try await store.close()
    }
}
