import Foundation
import Hummingbird
import Logging
import Synchronization
import Testing
import PlazaFleet
import PlazaPostgres
import PlazaStore
import PlazaTesting
import PlazaWebSocketClient

/// `plaza agent` against small servers that answer as Jitsi Videobridge's private REST interface and Jibri's HTTP
/// APIs do (the shapes in docs/autoscaling.md): it registers the instance, reports what the server says, stops
/// reporting while the server is unhealthy, and carries out the drain the autoscaler asks for.
@Suite(.serialized) struct AgentTests {
    /// What the fake server answers, and the requests it got.
    final class Fake: Sendable {
        struct State {
            var body = "{}"
            var healthStatus = 200
            var posts: [String] = []
        }
        let state = Mutex(State())
        let port: Int
        private let server = Mutex<Task<Void, any Error>?>(nil)

        /// Serves the routes `routes` adds (all of them before the server starts: Hummingbird builds its
        /// responder then).
        init(routes: (Router<BasicRequestContext>, Fake) -> Void) throws {
            port = try LoopbackPort.free()
            let router = Router()
            routes(router, self)
            let app = Application(
                router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: Logger(label: "fake"))
            server.withLock { $0 = Task { try await app.runService(gracefulShutdownSignals: []) } }
        }

        var url: String { "http://127.0.0.1:\(port)" }

        func set(_ update: (inout State) -> Void) { state.withLock { update(&$0) } }
        var posts: [String] { state.withLock { $0.posts } }
        func stop() { server.withLock { $0?.cancel() } }

        func answer(status: Int? = nil) -> Response {
            let (body, health) = state.withLock { ($0.body, $0.healthStatus) }
            return Response(
                status: .init(code: status ?? health), headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: body)))
        }

        func record(_ request: Request) async -> Response {
            let body = (try? await request.body.collect(upTo: 4096)).map { String(buffer: $0) } ?? ""
            state.withLock { $0.posts.append("\(request.uri.path) \(body)") }
            return Response(status: .ok)
        }
    }

    static func bridge() throws -> Fake {
        try Fake { router, fake in
            router.get("/colibri/stats") { _, _ in fake.answer(status: 200) }
            router.get("/about/health") { _, _ in
                Response(status: .init(code: fake.state.withLock { $0.healthStatus }), headers: [.contentType: "application/json"])
            }
            router.post("/colibri/shutdown") { request, _ in await fake.record(request) }
        }
    }

    static func recorder() throws -> Fake {
        try Fake { router, fake in
            router.get("/jibri/api/v1.0/health") { _, _ in fake.answer(status: 200) }
            router.post("/jibri/api/internal/v1.0/gracefulShutdown") { request, _ in await fake.record(request) }
        }
    }

    /// JVB 2.3's `/colibri/stats` (VideobridgeStatisticsShim), trimmed to what Plaza reads plus a few others.
    static func stats(endpoints: Int, conferences: Int, stress: Double, upload: Int, gracefulShutdown: Bool = false) -> String {
        """
        {"stress_level":\(stress),"endpoints":\(endpoints),"participants":\(endpoints),"conferences":\(conferences),\
        "largest_conference":\(endpoints),"bit_rate_download":1200,"bit_rate_upload":\(upload),"packet_rate_download":300,\
        "packet_rate_upload":900,"graceful_shutdown":\(gracefulShutdown),"shutting_down":false,"drain":false,"healthy":true,\
        "version":"2.3.105","region":"eu-west-1","relay_id":"10.0.0.5:4096"}
        """
    }

    /// Jibri 8.0's `/jibri/api/v1.0/health` (JibriHealth with a component detail).
    static func health(busy: String, health: String) -> String {
        """
        {"status":{"busyStatus":"\(busy)","health":{"healthStatus":"\(health)",\
        "details":{"JibriManager":{"healthStatus":"\(health)","detail":""}}}}}
        """
    }

    static func node(_ store: PostgresStore, _ id: String) async throws -> NodeRecord? {
        try await store.nodes().first { $0.registration.id == id }
    }

    @Test func aBridgeAgentReportsStatsStopsReportingWhileUnhealthyAndShutsTheBridgeDownGracefully() async throws {
        let fake = try Self.bridge()
        defer { fake.stop() }
        fake.set { $0.body = Self.stats(endpoints: 42, conferences: 3, stress: 0.35, upload: 8_000) }
        let url = try PostgresServer.shared().createDatabase()
        let store = try await PostgresStore.open(url: url, logger: Logger(label: "test"))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-agent-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let agent = try PlazaProcess(
            arguments: [
                "agent", "--kind", "jvb", "--store", url, "--api", fake.url, "--public-url", "wss://bridge-1.example.org",
                "--region", "eu", "--capacity", "200", "--interval", "0.2",
            ],
            environment: ["PLAZA_INSTANCE_ID": "bridges-abc"], directory: folder)
        defer { agent.stop() }

        #expect(try await eventually { try await Self.node(store, "bridges-abc")?.report.participants == 42 }, "\(agent.log)")
        let record = try #require(try await Self.node(store, "bridges-abc"))
        #expect(record.registration == NodeRegistration(id: "bridges-abc", url: "wss://bridge-1.example.org", region: "eu", capacity: 200))
        #expect(record.report.rooms == 3 && record.report.cpu == 0.35 && record.report.bytesOutPerSecond == 1_000_000)
        #expect(record.report.state == .serving)

        // Unhealthy: no more reports.
        fake.set { $0.healthStatus = 500 }
        try await Task.sleep(for: .milliseconds(500))
        let silentSince = try #require(try await Self.node(store, "bridges-abc")).reportedAt
        try await Task.sleep(for: .seconds(1))
        #expect(try await Self.node(store, "bridges-abc")?.reportedAt == silentSince)
        fake.set { $0.healthStatus = 200 }
        #expect(try await eventually { try await Self.node(store, "bridges-abc")?.reportedAt != silentSince })

        // The autoscaler picks it for scale-in: graceful shutdown, once.
        try await store.requestDrain(node: "bridges-abc")
        #expect(try await eventually { fake.posts.count == 1 }, "\(agent.log)")
        try await Task.sleep(for: .milliseconds(600))
        #expect(fake.posts.count == 1)
        let post = try #require(fake.posts.first)
        #expect(post.hasPrefix("/colibri/shutdown "))
        let body = try JSONSerialization.jsonObject(with: Data(post.dropFirst("/colibri/shutdown ".count).utf8)) as? [String: Any]
        #expect(body?["graceful-shutdown"] as? Bool == true)
        fake.set { $0.body = Self.stats(endpoints: 5, conferences: 1, stress: 0.05, upload: 100, gracefulShutdown: true) }
        #expect(try await eventually { try await Self.node(store, "bridges-abc")?.report.participants == 5 })
        #expect(try await Self.node(store, "bridges-abc")?.report.state == .draining)
        try await store.close()
    }

    @Test func aRecorderAgentReportsBusyAndIdleIsReplacedWhenUnhealthyAndDrainsGracefully() async throws {
        let fake = try Self.recorder()
        defer { fake.stop() }
        fake.set { $0.body = Self.health(busy: "BUSY", health: "HEALTHY") }
        let url = try PostgresServer.shared().createDatabase()
        let store = try await PostgresStore.open(url: url, logger: Logger(label: "test"))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-agent-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let agent = try PlazaProcess(
            arguments: [
                "agent", "--kind", "jibri", "--store", url, "--api", fake.url, "--internal-api", fake.url,
                "--instance-id", "recorders-1", "--interval", "0.2",
            ],
            environment: [:], directory: folder)
        defer { agent.stop() }

        #expect(try await eventually { try await Self.node(store, "recorders-1")?.report.participants == 1 }, "\(agent.log)")
        fake.set { $0.body = Self.health(busy: "IDLE", health: "HEALTHY") }
        #expect(try await eventually { try await Self.node(store, "recorders-1")?.report.participants == 0 })

        for unhealthy in [Self.health(busy: "IDLE", health: "UNHEALTHY"), Self.health(busy: "EXPIRED", health: "HEALTHY")] {
            fake.set { $0.body = unhealthy }
            try await Task.sleep(for: .milliseconds(500))
            let silentSince = try #require(try await Self.node(store, "recorders-1")).reportedAt
            try await Task.sleep(for: .seconds(1))
            #expect(try await Self.node(store, "recorders-1")?.reportedAt == silentSince, "\(unhealthy) is not reported")
        }

        // The older shape still reads.
        fake.set { $0.body = #"{"busy":false}"# }
        let before = try #require(try await Self.node(store, "recorders-1")).reportedAt
        #expect(try await eventually { try await Self.node(store, "recorders-1")?.reportedAt != before })

        try await store.requestDrain(node: "recorders-1")
        #expect(try await eventually { fake.posts.count == 1 }, "\(agent.log)")
        #expect(fake.posts.first?.hasPrefix("/jibri/api/internal/v1.0/gracefulShutdown") == true)
        try await store.close()
    }
}
