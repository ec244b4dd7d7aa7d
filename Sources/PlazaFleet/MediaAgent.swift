public import PlazaStore
public import PlazaFleetModel
import PlazaCore
import PlazaHTTPClient
import PlazaMedia
public import Logging
public import ServiceLifecycle
public import Foundation

/// `plaza agent`: the sidecar beside a media server or recorder. It registers the instance in the fleet's
/// registry (so the autoscaler and placement see it like a room server), polls the server's local API, reports
/// its load, and carries out the drain the autoscaler asks for. While the server is unhealthy the agent does not
/// report, so the autoscaler's health check fails and the instance is replaced, not repaired.
public struct MediaAgent: Service {
    /// `jvb` (load from `/colibri/stats`, drain by graceful shutdown), `jibri` (busy or idle, drain by graceful
    /// shutdown, records the room it is assigned), `janus` (health from `/info`, load from the admin API's
    /// sessions and VideoRoom rooms; no drain call: placement stops sending it conferences and it is stopped once empty) or `custom`
    /// (a health URL answering 2xx, whose JSON body may carry the load).
    public let kind: NodeKind
    /// The server's local API: JVB's private REST interface (`http://127.0.0.1:8080`), Jibri's HTTP API
    /// (`http://127.0.0.1:2222`), Janus's HTTP API (`http://127.0.0.1:8088/janus`), a custom server's health URL.
    public let api: URL
    /// Jibri's internal API (`http://127.0.0.1:3333`), where graceful shutdown is; Janus's admin API
    /// (`http://127.0.0.1:7088/admin`), where its sessions are listed.
    public let internalAPI: URL?
    /// Janus's `admin_secret`.
    public let adminSecret: String?
    /// Janus's VideoRoom `admin_key` (`media.janusRoomAdminKey`), to list its private rooms: conferences and their
    /// publishers.
    public let roomAdminKey: String?
    /// For a recorder: the meeting's base URL Jibri joins to record a room (`callUrlInfo.baseUrl`; the room
    /// name is the `callName`).
    public let callBaseURL: String?
    public let registration: NodeRegistration
    let store: any NodeRegistry & MediaStore
    public let interval: Duration
    let logger: Logger

    public init(
        kind: NodeKind, api: URL, internalAPI: URL?, adminSecret: String? = nil, roomAdminKey: String? = nil,
        callBaseURL: String? = nil, registration: NodeRegistration, store: any NodeRegistry & MediaStore, interval: Duration,
        logger: Logger
    ) {
        (self.kind, self.api, self.internalAPI, self.adminSecret, self.roomAdminKey) = (kind, api, internalAPI, adminSecret, roomAdminKey)
        (self.callBaseURL, self.registration, self.store) = (callBaseURL, registration, store)
        (self.interval, self.logger) = (interval, logger)
    }

    /// What one poll found.
    public struct Observation: Sendable, Equatable {
        public var healthy: Bool
        public var report: NodeReport
        /// A recorder at work (Jibri `BUSY`).
        public var busy: Bool { report.participants > 0 }
        /// Why it is unhealthy, for the log.
        public var problem: String?
    }

    /// Registers, then polls and reports every `interval` until the service group shuts down (SIGTERM).
    public func run() async {
        await cancelWhenGracefulShutdown { await pollUntilCancelled() }
    }

    private func pollUntilCancelled() async {
        var registered = false
        var reactions = AgentReactions()
        /// Whether looking for orphans failed already (said once per failure run).
        var orphansWarned = false
        while !Task.isCancelled {
            do {
                if !registered {
                    try await store.register(registration, now: store.fleetTime())
                    registered = true
                    logger.notice("registered with the fleet", metadata: ["instance": "\(registration.id)", "kind": "\(kind.rawValue)"])
                }
                let observation = await observe()
                if observation.healthy {
                    let answer = try await store.report(node: registration.id, observation.report, now: store.fleetTime())
                    for action in reactions.step(kind: kind, busy: observation.busy, answer: answer) {
                        switch action {
                        case .drain: try await drain()
                        case .record(let room, let replacing): try await record(room, replacing: replacing)
                        case .recordingEnded(let room):
                            _ = try await store.stopRecording(room)
                            logger.notice("recording ended on its own; recorder free", metadata: ["room": "\(room)"])
                        }
                        reactions.carriedOut(action)
                    }
                    if kind == .janus {
                        do {
                            try await endOrphans()
                            orphansWarned = false
                        } catch {
                            // A Janus without stored tokens, or an admin API that refuses: said once, not every pass.
                            if !orphansWarned { logger.warning("could not look for conferences of room servers gone", metadata: ["error": "\(error)"]) }
                            orphansWarned = true
                        }
                    }
                } else {
                    logger.warning(
                        "unhealthy: not reporting, so the autoscaler replaces this instance",
                        metadata: ["problem": "\(observation.problem ?? "")"])
                }
            } catch {
                logger.error("agent pass failed", metadata: ["error": "\(error)"])
            }
            do { try await Task.sleep(for: interval) } catch { break }
        }
    }

    /// Ends on Janus what room servers that are no longer registered left there (they crashed, and the autoscaler
    /// forgot them when it replaced them): the rooms and tokens Plaza marked with their identities (`JanusMarks`).
    func endOrphans() async throws {
        guard let internalAPI, adminSecret != nil else { return }
        let admin = JanusAdmin(url: internalAPI.absoluteString, secret: adminSecret, roomAdminKey: roomAdminKey)
        // Listed before the registry is read: a room server that registers meanwhile is known by then.
        let marked = try await admin.marked()
        let registered = Set(try await store.nodes().map(\.registration.id.rawValue))
        let ended = try await admin.end(marked) { owner, _ in !registered.contains(owner) }
        if ended > 0 {
            logger.notice("ended conferences of room servers no longer in the fleet", metadata: ["conferences": "\(ended)"])
        }
    }

    /// Most sessions whose handles a poll of Janus counts (a call each).
    static let janusHandleSessions = 2_000

    /// One poll of the server's API.
    public func observe() async -> Observation {
        switch kind {
        case .jvb:
            guard let (healthStatus, _) = try? await request("GET", api, "/about/health"), healthStatus == 200 else {
                return Observation(healthy: false, report: NodeReport(), problem: "/about/health did not answer 200")
            }
            guard let (status, body) = try? await request("GET", api, "/colibri/stats"), status == 200,
                let report = Self.bridgeReport(body)
            else {
                return Observation(healthy: false, report: NodeReport(), problem: "/colibri/stats did not answer its JSON")
            }
            return Observation(healthy: true, report: report)
        case .jibri:
            guard let (status, body) = try? await request("GET", api, "/jibri/api/v1.0/health"), status == 200,
                let health = Self.recorderHealth(body)
            else {
                return Observation(healthy: false, report: NodeReport(), problem: "/jibri/api/v1.0/health did not answer its JSON")
            }
            return health
        case .janus:
            guard let (status, body) = try? await request("GET", api, "/info"), status == 200,
                (try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["janus"] as? String == "server_info"
            else {
                return Observation(healthy: false, report: NodeReport(), problem: "/info did not answer server_info")
            }
            // Without its sessions a drained Janus would look empty and be stopped under its calls: no admin API,
            // no report.
            guard let admin = internalAPI else {
                return Observation(healthy: false, report: NodeReport(), problem: "no admin API to count sessions on")
            }
            let janus = JanusAdmin(url: admin.absoluteString, secret: adminSecret, roomAdminKey: roomAdminKey)
            guard let sessions = try? await janus.sessions() else {
                return Observation(healthy: false, report: NodeReport(), problem: "the admin API did not list the sessions")
            }
            // Its plugin handles (a participant's publisher and subscription: one call per session, so at most
            // `janusHandleSessions` of them), and its conferences and their publishers, when the rooms can be
            // listed (private ones need the admin key).
            var handles = 0
            for session in sessions.prefix(Self.janusHandleSessions) {
                handles += (try? await janus.handleCount(session: session)) ?? 0
            }
            let rooms = (try? await janus.rooms()) ?? []
            return Observation(
                healthy: true,
                report: NodeReport(
                    connections: handles, rooms: rooms.count, participants: sessions.count,
                    largestRoom: rooms.map(\.participants).max() ?? 0))
        case .custom, .roomServer:
            guard let (status, body) = try? await request("GET", api, ""), (200..<300).contains(status) else {
                return Observation(healthy: false, report: NodeReport(), problem: "\(api) did not answer 2xx")
            }
            return Observation(healthy: true, report: Self.customReport(body))
        }
    }

    /// A custom server's health answer: any body; a JSON object may carry `participants`, `rooms`,
    /// `connections`, `cpu` (0…1) and `draining` (bool).
    public static func customReport(_ body: Data) -> NodeReport {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return NodeReport() }
        func int(_ key: String) -> Int { (object[key] as? NSNumber)?.intValue ?? 0 }
        return NodeReport(
            state: (object["draining"] as? Bool) == true ? .draining : .serving, connections: int("connections"),
            rooms: int("rooms"), participants: int("participants"), cpu: (object["cpu"] as? NSNumber)?.doubleValue ?? 0)
    }

    /// JVB's `/colibri/stats`: `endpoints` (or the older `participants`), `conferences`, `largest_conference`,
    /// `stress_level` (as the load: 0 idle, 1 full), `bit_rate_upload` and `bit_rate_download` in kbit/s, and
    /// `graceful_shutdown`, `shutting_down` or `drain` as draining. Numbers may come as strings (old bridges).
    public static func bridgeReport(_ body: Data) -> NodeReport? {
        guard let stats = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return nil }
        func number(_ key: String) -> Double? {
            switch stats[key] {
            case let value as NSNumber: value.doubleValue
            case let value as String: Double(value)
            default: nil
            }
        }
        func flag(_ key: String) -> Bool {
            switch stats[key] {
            case let value as Bool: value
            case let value as String: value == "true"
            default: false
            }
        }
        let participants = Int(number("endpoints") ?? number("participants") ?? 0)
        let draining = flag("graceful_shutdown") || flag("shutting_down") || flag("drain")
        return NodeReport(
            state: draining ? .draining : .serving, connections: participants, rooms: Int(number("conferences") ?? 0),
            participants: participants, cpu: number("stress_level") ?? 0,
            bytesOutPerSecond: (number("bit_rate_upload") ?? 0) * 1000 / 8,
            bytesInPerSecond: (number("bit_rate_download") ?? 0) * 1000 / 8, largestRoom: Int(number("largest_conference") ?? 0))
    }

    /// Jibri's `/jibri/api/v1.0/health`: `{"status": {"busyStatus": "IDLE|BUSY|EXPIRED", "health":
    /// {"healthStatus": "HEALTHY|UNHEALTHY"}}}` (or the older `{"busy": bool}`). A busy recorder counts one
    /// participant and one room; `EXPIRED` (it must restart before it can record again) is unhealthy.
    public static func recorderHealth(_ body: Data) -> Observation? {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return nil }
        let busy: Bool
        var problem: String?
        if let status = object["status"] as? [String: Any], let busyStatus = status["busyStatus"] as? String {
            let health = (status["health"] as? [String: Any])?["healthStatus"] as? String
            busy = busyStatus == "BUSY"
            if busyStatus == "EXPIRED" { problem = "busyStatus EXPIRED" }
            if health != "HEALTHY" { problem = "healthStatus \(health ?? "missing")" }
        } else if let flag = object["busy"] as? Bool {
            busy = flag
        } else {
            return nil
        }
        let load = busy ? 1 : 0
        return Observation(
            healthy: problem == nil,
            report: NodeReport(connections: 0, rooms: load, participants: load, cpu: Double(load), largestRoom: load),
            problem: problem)
    }

    /// The autoscaler chose this instance for scale-in: a bridge shuts down gracefully (it takes no new
    /// conferences and exits when its last one ends); a recorder finishes its recording, then exits.
    /// Janus and custom servers have no such call: the registry's drain keeps new work away, and the
    /// autoscaler stops them once they report nobody.
    func drain() async throws {
        let (status, body): (Int, Data)
        switch kind {
        case .jvb:
            (status, body) = try await request("POST", api, "/colibri/shutdown", json: #"{"graceful-shutdown": true}"#)
        case .jibri:
            (status, body) = try await request("POST", internalAPI ?? api, "/jibri/api/internal/v1.0/gracefulShutdown")
        case .janus, .custom, .roomServer:
            logger.notice("draining: no new work comes here; stopped once empty", metadata: ["instance": "\(registration.id)"])
            return
        }
        guard status == 200 else {
            throw ProviderError("graceful shutdown answered \(status): \(String(decoding: body.prefix(200), as: UTF8.self))")
        }
        logger.notice("draining: graceful shutdown requested", metadata: ["instance": "\(registration.id)"])
    }

    /// Starts Jibri on the room assigned to this recorder, or stops it when the recording was stopped.
    func record(_ room: RoomName?, replacing previous: RoomName?) async throws {
        if previous != nil {
            let (status, _) = try await request("POST", api, "/jibri/api/v1.0/stopService")
            guard status == 200 else { throw ProviderError("stopService answered \(status)") }
            logger.notice("recording stopped", metadata: ["room": "\(previous.map(\.rawValue) ?? "")"])
        }
        guard let room else { return }
        let call: [String: Any] = [
            "callParams": ["callUrlInfo": ["baseUrl": callBaseURL ?? "", "callName": room.rawValue]], "sinkType": "file",
        ]
        let body = String(decoding: try JSONSerialization.data(withJSONObject: call, options: [.sortedKeys]), as: UTF8.self)
        let (status, _) = try await request("POST", api, "/jibri/api/v1.0/startService", json: body)
        guard status == 200 else { throw ProviderError("startService answered \(status)") }
        logger.notice("recording", metadata: ["room": "\(room)"])
    }

    private func request(_ method: String, _ base: URL, _ path: String, json: String? = nil) async throws -> (Int, Data) {
        let url = path.isEmpty ? base : base.appendingPathComponent(path)
        let call = HTTPCall(
            .init(rawValue: method), url.absoluteString, headers: json == nil ? [] : [("Content-Type", "application/json")],
            body: json.map { Array($0.utf8) }, timeout: .seconds(5))
        let answer = try await call.send()
        return (answer.status, answer.body)
    }
}
