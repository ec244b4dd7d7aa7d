import Foundation
import Hummingbird
import Logging
import PlazaAuth
import PlazaCore
import Synchronization
import Testing
import PlazaHTTPClient
import PlazaMedia
import PlazaFleetModel
import PlazaBench
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
            router.post("/jibri/api/v1.0/startService") { request, _ in await fake.record(request) }
            router.post("/jibri/api/v1.0/stopService") { request, _ in await fake.record(request) }
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

    static func node(_ store: PostgresStore, _ id: NodeID) async throws -> NodeRecord? {
        try await store.nodes().first { $0.registration.id == id }
    }

    /// A fresh database and a folder for the processes' logs.
    static func workspace() async throws -> (url: String, store: PostgresStore, folder: URL) {
        let url = try PostgresServer.shared().createDatabase()
        let store = try await PostgresStore.open(url: url, logger: Logger(label: "test"))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-agent-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return (url, store, folder)
    }

    /// The instance's reports stop: once the report in flight has landed, none comes for a second (five polls).
    static func expectSilent(_ store: PostgresStore, _ id: NodeID, _ comment: Comment? = nil) async throws {
        try await Task.sleep(for: .milliseconds(500))
        let silentSince = try #require(try await node(store, id)).reportedAt
        try await Task.sleep(for: .seconds(1))
        #expect(try await node(store, id)?.reportedAt == silentSince, comment)
    }

    @Test func aBridgeAgentReportsStatsStopsReportingWhileUnhealthyAndShutsTheBridgeDownGracefully() async throws {
        let fake = try Self.bridge()
        defer { fake.stop() }
        fake.set { $0.body = Self.stats(endpoints: 42, conferences: 3, stress: 0.35, upload: 8_000) }
        let (url, store, folder) = try await Self.workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        let agent = try PlazaProcess(
            arguments: [
                "agent", "--kind", "jvb", "--store", url, "--api", fake.url, "--public-url", "wss://bridge-1.example.org",
                "--region", "eu", "--capacity", "200", "--interval", "0.2",
            ],
            environment: ["PLAZA_INSTANCE_ID": "bridges-abc"], directory: folder)
        defer { agent.stop() }

        #expect(try await eventually { try await Self.node(store, "bridges-abc")?.report.participants == 42 }, "\(agent.log)")
        let record = try #require(try await Self.node(store, "bridges-abc"))
        #expect(record.registration == NodeRegistration(id: "bridges-abc", url: "wss://bridge-1.example.org", region: "eu", capacity: 200, kind: .jvb))
        #expect(record.report.rooms == 3 && record.report.cpu == 0.35 && record.report.bytesOutPerSecond == 1_000_000)
        #expect(record.report.bytesInPerSecond == 150_000 && record.report.largestRoom == 42)
        #expect(record.report.state == .serving)

        // Unhealthy: no more reports.
        fake.set { $0.healthStatus = 500 }
        try await Self.expectSilent(store, "bridges-abc")
        let silentSince = try #require(try await Self.node(store, "bridges-abc")).reportedAt
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

    /// A session on a real Janus for a participant with a fresh token, as a browser opens one.
    static func janusSession(_ janus: JanusServer, admin: JanusAdmin) async throws {
        let token = "participant-" + UUID().uuidString
        try await admin.add(token: token)
        let json = #"{"janus":"create","transaction":"t-\#(UUID().uuidString)","token":"\#(token)"}"#
        let answer = try await HTTPCall.json(.POST, janus.apiURL, body: json).send()
        #expect(answer.text.contains(#""janus":"success""#), "\(answer.text)")
    }

    @Test func aJanusAgentCountsARealJanussSessionsAndConferencesAndIsSilentWithoutThem() async throws {
        let roomAdminKey = "agent-room-key-" + UUID().uuidString
        let janus = try await JanusServer.start(roomAdminKey: roomAdminKey)
        defer { janus.stop() }
        let admin = JanusAdmin(url: janus.adminURL, secret: janus.adminSecret, roomAdminKey: roomAdminKey)
        let (url, store, folder) = try await Self.workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        let agent = try PlazaProcess(
            arguments: [
                "agent", "--kind", "janus", "--store", url, "--api", janus.apiURL, "--internal-api", janus.adminURL,
                "--instance-id", "janus-1", "--public-url", "ws://127.0.0.1:8188", "--interval", "0.2",
            ],
            environment: ["PLAZA_AGENT_ADMIN_SECRET": janus.adminSecret, "PLAZA_MEDIA_JANUS_ROOM_ADMIN_KEY": roomAdminKey],
            directory: folder)
        defer { agent.stop() }
        #expect(try await eventually { try await Self.node(store, "janus-1")?.report.participants == 0 }, "\(agent.log)")
        let registered = try await Self.node(store, "janus-1")?.registration
        #expect(registered?.kind == .janus)
        #expect(registered?.controlURL == janus.adminURL, "room servers drive it there")
        for _ in 0..<3 { try await Self.janusSession(janus, admin: admin) }
        #expect(try await eventually { try await Self.node(store, "janus-1")?.report.participants == 3 }, "\(agent.log)")
        // Two conferences (private VideoRoom rooms), one with two publishers joined: its rooms and largest room.
        for id: Int64 in [71, 72] {
            try await admin.create(JanusAdmin.Room(id: id, secret: "s\(id)", pin: "p\(id)", publishers: 10, bitrate: 256_000))
        }
        for display in ["ann", "bob"] {
            let token = "publisher-" + UUID().uuidString
            try await admin.add(token: token)
            _ = try await JanusClient.open(apiURL: janus.apiURL, token: token).joinAsPublisher(room: 71, pin: "p71", display: display)
        }
        #expect(
            try await eventually {
                let report = try await Self.node(store, "janus-1")?.report
                // Five sessions; handles only on the two publishers'.
                return report?.rooms == 2 && report?.largestRoom == 2 && report?.participants == 5 && report?.connections == 2
            }, "\(agent.log)")

        // Drained: it keeps reporting, as draining, until the autoscaler stops it.
        try await store.requestDrain(node: "janus-1")
        let drainedAt = wallClockMilliseconds()
        #expect(try await eventually { (try await Self.node(store, "janus-1")?.reportedAt ?? 0) > drainedAt }, "\(agent.log)")
        #expect(try await Self.node(store, "janus-1")?.report.state == .draining)
        #expect(agent.log.contains("draining"))

        // What a room server the fleet no longer knows left (it crashed and was forgotten) is ended; what a
        // registered one made, and what Plaza did not make, stays.
        for (id, owner): (Int64, String) in [(81, "node-gone"), (82, "janus-1")] {
            try await admin.create(
                JanusAdmin.Room(
                    id: id, secret: JanusMarks.roomSecret(id, adminSecret: janus.adminSecret), pin: "p", publishers: 4, bitrate: 128_000,
                    description: JanusMarks.description(owner: owner, run: "a1")))
            try await admin.add(token: JanusMarks.tokenPrefix(owner: owner, run: "a1") + "secret")
        }
        #expect(try await eventually { try await !admin.exists(room: 81) }, "\(agent.log)")
        #expect(try await eventually { try await !admin.tokens().contains("plaza.node-gone.a1.secret") })
        #expect(try await admin.exists(room: 82), "a registered room server's")
        #expect(try await admin.exists(room: 71), "not Plaza's")
        #expect(try await admin.tokens().contains("plaza.janus-1.a1.secret"))

        // A wrong admin secret: Janus refuses, so its sessions are unknown and it is not reported.
        let refused = try PlazaProcess(
            arguments: [
                "agent", "--kind", "janus", "--store", url, "--api", janus.apiURL, "--internal-api", janus.adminURL,
                "--instance-id", "janus-2", "--admin-secret", "wrong", "--interval", "0.2",
            ],
            environment: [:], directory: folder)
        defer { refused.stop() }
        #expect(try await eventually { try await Self.node(store, "janus-2") != nil }, "\(refused.log)")
        try await Self.expectSilent(store, "janus-2", "registered, never reported")
        #expect(refused.log.contains("the admin API did not list the sessions"), "\(refused.log)")

        // Janus gone: not reported, so the autoscaler replaces it.
        janus.stop()
        try await Self.expectSilent(store, "janus-1")
        try await store.close()
    }

    @Test func aCustomAgentReportsWhatItsHealthURLSays() async throws {
        let fake = try Fake { router, fake in
            router.get("/healthz") { _, _ in fake.answer() }
        }
        defer { fake.stop() }
        fake.set { $0.body = #"{"participants": 7, "rooms": 2, "cpu": 0.25}"# }
        let (url, store, folder) = try await Self.workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        let missing = try await PlazaProcess.run(["agent", "--kind", "custom", "--store", url, "--instance-id", "c-1"], directory: folder)
        #expect(missing.status != 0 && missing.output.contains("--api is needed for --kind custom"), "\(missing.output)")
        let agent = try PlazaProcess(
            arguments: ["agent", "--kind", "custom", "--store", url, "--api", fake.url + "/healthz", "--instance-id", "c-1", "--interval", "0.2"],
            environment: [:], directory: folder)
        defer { agent.stop() }
        #expect(try await eventually { try await Self.node(store, "c-1")?.report.participants == 7 }, "\(agent.log)")
        let record = try #require(try await Self.node(store, "c-1"))
        #expect(record.registration.kind == .custom && record.report.rooms == 2 && record.report.cpu == 0.25)
        fake.set { $0.healthStatus = 500 }
        try await Self.expectSilent(store, "c-1", "a failing health URL is not reported")
        try await store.close()
    }

    @Test func aRecorderAgentReportsBusyAndIdleIsReplacedWhenUnhealthyAndDrainsGracefully() async throws {
        let fake = try Self.recorder()
        defer { fake.stop() }
        fake.set { $0.body = Self.health(busy: "BUSY", health: "HEALTHY") }
        let (url, store, folder) = try await Self.workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
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
            try await Self.expectSilent(store, "recorders-1", "\(unhealthy) is not reported")
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

    @Test func conferencesGoToTheLessLoadedBridgeAndRecordingsToAnIdleRecorder() async throws {
        let (url, store, folder) = try await Self.workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        let environment = FleetProcessTests.fastTimings.merging([
            "PLAZA_AUTH_SECRET": TestServer.fleetSecret, "PLAZA_AUTH_ADMIN_TOKEN": "media-admin", "PLAZA_MEDIA_BRIDGE_ROOMS": "conf-",
            "PLAZA_MEDIA_RETRY_AFTER": "7",
        ]) { $1 }
        let executable = try PlazaExecutable.path()
        let directory = try await BenchServer.start(executable: executable, arguments: ["directory", "--store", url], environment: environment)
        defer { directory.stop() }
        let nodePort = try LoopbackPort.free()
        let node = try await BenchServer.start(
            executable: executable,
            arguments: ["node", "--store", url, "--node-id", "rooms-1", "--public-url", "http://127.0.0.1:\(nodePort)"],
            port: nodePort, environment: environment)
        defer { node.stop() }

        // Two bridges: a busy one and a quiet one, each with its agent.
        var agents: [PlazaProcess] = []
        defer { for agent in agents { agent.stop() } }
        var fakes: [Fake] = []
        defer { for fake in fakes { fake.stop() } }
        for (id, endpoints, stress) in [("bridge-busy", 300, 0.7), ("bridge-quiet", 20, 0.1)] {
            let fake = try Self.bridge()
            fake.set { $0.body = Self.stats(endpoints: endpoints, conferences: 3, stress: stress, upload: 1_000) }
            fakes.append(fake)
            agents.append(try PlazaProcess(
                arguments: [
                    "agent", "--kind", "jvb", "--store", url, "--api", fake.url, "--instance-id", id,
                    "--public-url", "wss://\(id).example.org", "--capacity", "500", "--interval", "0.2",
                ],
                environment: environment, directory: folder))
        }
        let recorder = try Self.recorder()
        fakes.append(recorder)
        recorder.set { $0.body = Self.health(busy: "IDLE", health: "HEALTHY") }
        agents.append(try PlazaProcess(
            arguments: [
                "agent", "--kind", "jibri", "--store", url, "--api", recorder.url, "--internal-api", recorder.url,
                "--instance-id", "recorder-1", "--call-base-url", "https://meet.example.org", "--interval", "0.2",
            ],
            environment: environment, directory: folder))
        // Registered is not enough: placement must see the bridges' stats (a bridge that has not reported yet looks idle).
        #expect(try await eventually {
            let nodes = try await store.nodes()
            return nodes.count == 4 && nodes.first { $0.registration.id == "bridge-busy" }?.report.participants == 300
                && nodes.first { $0.registration.id == "bridge-quiet" }?.report.participants == 20
        })

        // A conference room goes to the quiet bridge, and stays there; rooms themselves go to the room server.
        let first = try await HTTP.join(directory.baseURL, "conf-1", name: "Ann")
        #expect(first.status == 200, "\(first.text)")
        #expect(first.json.string("node") == "rooms-1")
        #expect(first.json["bridge"]?.string("id") == "bridge-quiet")
        #expect(first.json["bridge"]?.string("url") == "wss://bridge-quiet.example.org")
        let again = try await HTTP.join(directory.baseURL, "conf-1", name: "Bob")
        #expect(again.json["bridge"]?.string("id") == "bridge-quiet")
        #expect(try await HTTP.join(directory.baseURL, "lobby", name: "Cy").json["bridge"] == nil, "peer-to-peer room")
        let asked = try await HTTP.request(
            "POST", directory.baseURL + "/api/v1/join", body: #"{"room":"grown","name":"Di","bridge":true}"#)
        #expect(asked.json["bridge"]?.string("id") == "bridge-quiet")
        let later = try await HTTP.join(directory.baseURL, "grown", name: "Dan")
        #expect(later.json["bridge"]?.string("id") == "bridge-quiet", "a later join that does not ask gets the room's bridge")

        // Never a new conference on a draining bridge; its conferences stay.
        try await store.requestDrain(node: "bridge-quiet")
        #expect(try await HTTP.join(directory.baseURL, "conf-2", name: "Ed").json["bridge"]?.string("id") == "bridge-busy")
        #expect(try await HTTP.join(directory.baseURL, "conf-1", name: "Flo").json["bridge"]?.string("id") == "bridge-quiet")
        try await store.requestDrain(node: "bridge-busy")
        let none = try await HTTP.join(directory.baseURL, "conf-3", name: "Gus")
        #expect(none.status == 503 && none.json["error"]?.string("code") == "bridges_unavailable" && none.retryAfter == "7", "\(none.text)")

        // Recordings: an idle recorder is assigned and told to record; a second one finds every recorder busy.
        let recordings = directory.baseURL + "/api/v1/rooms/lobby/recordings"
        #expect(try await HTTP.request("POST", recordings).status == 401)
        let member = try #require(first.json.string("token"))
        #expect(try await HTTP.request("POST", directory.baseURL + "/api/v1/rooms/conf-1/recordings", bearer: member).status == 403)
        // A moderator of the room starts it (the admin token would do too).
        let moderator = try await TokenAuthority(secret: TestServer.fleetSecret, external: nil).issue(
            participant: ParticipantID("host"), name: "Host", room: RoomName("lobby")!, role: .moderator,
            expiresAt: Date().addingTimeInterval(300))
        let started = try await HTTP.request("POST", recordings, bearer: moderator)
        #expect(started.status == 201 && started.json.string("recorder") == "recorder-1", "\(started.text)")
        #expect(try await eventually { recorder.posts.contains { $0.hasPrefix("/jibri/api/v1.0/startService") } })
        let start = try #require(recorder.posts.first { $0.hasPrefix("/jibri/api/v1.0/startService") })
        #expect(start.contains(#""callName":"lobby""#) && start.contains(#""baseUrl":"https:\/\/meet.example.org""#) && start.contains(#""sinkType":"file""#), "\(start)")
        #expect(try await store.nodes().first { $0.registration.id == "recorder-1" }?.report.participants == 1, "busy for the availability policy")
        let busy = try await HTTP.request("POST", directory.baseURL + "/api/v1/rooms/conf-1/recordings", bearer: "media-admin")
        #expect(busy.status == 503 && busy.json["error"]?.string("code") == "recorders_busy" && busy.retryAfter == "7", "\(busy.text)")
        #expect(try await HTTP.request("POST", recordings, bearer: "media-admin").status == 200, "already recording: the same recording")

        let stopped = try await HTTP.request("DELETE", recordings, bearer: "media-admin")
        #expect(stopped.status == 200 && stopped.json.string("recorder") == "recorder-1")
        #expect(try await eventually { recorder.posts.contains { $0.hasPrefix("/jibri/api/v1.0/stopService") } })
        #expect(try await HTTP.request("DELETE", recordings, bearer: "media-admin").status == 404)
        #expect(try await eventually {
            try await HTTP.request("POST", directory.baseURL + "/api/v1/rooms/conf-1/recordings", bearer: "media-admin").status == 201
        })
        try await store.close()
    }
}
