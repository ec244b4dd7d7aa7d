import Testing
import PlazaFleetModel
import Foundation
import PlazaTesting
import PlazaBench
import PlazaProtocol
import PlazaWebSocketClient
import PlazaPostgres
import Logging

/// A fleet of real `plaza node` and `plaza directory` processes on one PostgreSQL database: placement by load,
/// stickiness and racing joins across processes, and nodes killed with SIGKILL.
@Suite(.serialized) struct FleetProcessTests {
    /// Heartbeat timings short enough for tests (the defaults are 2 s / 6 s / 6 s), with room for a late
    /// heartbeat on a busy machine.
    static let fastTimings = [
        "PLAZA_CLUSTER_HEARTBEAT_INTERVAL": "0.5", "PLAZA_CLUSTER_HEARTBEAT_TTL": "2.5", "PLAZA_CLUSTER_LEASE_TTL": "2.5",
    ]

    /// Directory and node processes on a fresh database; stopped (SIGTERM) by `stop`.
    struct Fleet {
        var store = ""
        var directories: [BenchServer] = []
        var nodes: [String: BenchServer] = [:]

        static func start(nodes: Int, directories: Int, environment: [String: String] = [:]) async throws -> Fleet {
            let store = try PostgresServer.shared().createDatabase()
            let executable = try PlazaExecutable.path()
            let environment = fastTimings.merging(environment) { $1 }.merging(["PLAZA_AUTH_SECRET": TestServer.fleetSecret]) { $1 }
            var fleet = Fleet(store: store)
            do {
                for _ in 0..<directories {
                    fleet.directories.append(
                        try await BenchServer.start(executable: executable, arguments: ["directory", "--store", store], environment: environment))
                }
                for index in 0..<nodes {
                    let port = try LoopbackPort.free()
                    fleet.nodes["node-\(index)"] = try await BenchServer.start(
                        executable: executable,
                        arguments: ["node", "--store", store, "--node-id", "node-\(index)", "--public-url", "http://127.0.0.1:\(port)"],
                        port: port, environment: environment)
                }
            } catch {
                fleet.stop()  // the processes started before the one that failed
                throw error
            }
            return fleet
        }

        func stop() {
            for process in directories + nodes.values { process.stop() }
        }
    }

    static func join(_ directory: BenchServer, _ room: String, name: String = "Ann") async throws -> JSONValue {
        let answer = try await HTTP.join(directory.baseURL, room, name: name)
        #expect(answer.status == 200, "join \(room): \(answer.text)")
        return answer.json
    }

    @Test func roomsGoToTheLessLoadedNodesStayThereAndRacingJoinsAgree() async throws {
        // Capacity 100: thirty participants make a node 30% full, and each room placed since a node's last
        // report counts as one participant, so the burst below cannot make the idle nodes look as loaded.
        let fleet = try await Fleet.start(
            nodes: 3, directories: 2,
            environment: ["PLAZA_CLUSTER_CAPACITY": "100", "PLAZA_CLUSTER_PARTICIPANTS_PER_NEW_ROOM": "1"])
        defer { fleet.stop() }
        let (first, second) = (fleet.directories[0], fleet.directories[1])

        var crowd: [TestClient] = []
        var busyNode: String?
        for i in 0..<30 {
            let answer = try await Self.join(first, "busy", name: "P\(i)")
            busyNode = answer.string("node")
            let client = try await TestClient.connect(url: try #require(answer.string("url")))
            _ = try await client.hello(try #require(answer.string("token")))
            crowd.append(client)
        }
        let loaded = try #require(busyNode)
        let registry = try await PostgresStore.open(url: fleet.store, logger: Logger(label: "test"))
        let reported = try await eventually {
            try await registry.nodes().contains { $0.registration.id.rawValue == loaded && $0.report.participants == 30 }
        }
        try await registry.close()
        #expect(reported, "\(loaded) reports its 30 participants")

        var homes: [String: Int] = [:]
        for i in 0..<30 {
            let answer = try await Self.join(i % 2 == 0 ? first : second, "new-\(i)")
            homes[answer.string("node") ?? "?", default: 0] += 1
            let later = try await Self.join(i % 2 == 0 ? second : first, "new-\(i)", name: "Bob")
            #expect(later.string("url") == answer.string("url"), "stickiness across directories")
        }
        #expect(homes[loaded, default: 0] == 0, "no new room on the loaded node: \(homes)")
        #expect(homes.filter { $0.key != loaded }.allSatisfy { $0.value >= 5 } && homes.count == 2, "spread over the others: \(homes)")

        let urls = try await withThrowingTaskGroup(of: String?.self) { group in
            for i in 0..<20 {
                group.addTask { try await Self.join(i % 2 == 0 ? first : second, "contested", name: "R\(i)").string("url") }
            }
            return try await group.reduce(into: Set<String?>()) { $0.insert($1) }
        }
        #expect(urls.count == 1 && urls.first! != nil, "\(urls)")
        for client in crowd { client.close() }
    }

    @Test func killedNodesRoomsServeAgainWithNoAcknowledgedMessageLost() async throws {
        var drill = FailoverDrill(executable: try PlazaExecutable.path(), store: try PostgresServer.shared().createDatabase())
        drill.nodes = 3
        drill.directories = 2
        drill.rooms = 4
        drill.cycles = 4
        drill.environment = Self.fastTimings
        drill.serveAgainTimeout = 20
        let report = try await drill.run(log: { _ in })
        #expect(report.failures.isEmpty, "\(report.failures)")
        #expect(report.cycles == 4 && report.servedAgain.count >= 4)
        #expect(report.servedAgain.allSatisfy { $0 < 10 }, "rooms serve again within 10 s: \(report.servedAgain)")
        #expect(report.acknowledged >= 100, "the writers kept writing: \(report.acknowledged)")
        #expect(report.lost == 0 && report.duplicated == 0, "lost \(report.lost), duplicated \(report.duplicated)")
    }
}
