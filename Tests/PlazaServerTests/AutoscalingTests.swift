import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
import PlazaFleetModel
import PlazaBench
import PlazaProtocol
import PlazaTesting

/// The autoscaler end to end: real `plaza autoscaler`, `plaza directory`, `plaza node` (launched by the local
/// provider) and `plaza bench load` processes on one PostgreSQL database, and the same drill on one
/// `plaza serve --pools` whose room servers share its SQLite file. Load fills the first room server
/// until the scale-out policy fires; a second is launched and new rooms land on it; the load stops; the
/// least-loaded server is drained — its meeting carries on until it ends — and then stopped. No participant is
/// disconnected by the scale-in, and every step is in `plaza fleet activities`.
@Suite(.serialized) struct AutoscalingTests {
    static let adminToken = "fleet-admin-token-for-tests"

    /// The drill's pool; `policies: false` leaves the desired capacity to the operator.
    static func poolFile(directory: URL, policies: Bool = true) throws -> String {
        var pools = """
            {"pools": [{
              "name": "rooms", "kind": "room-server", "region": "default", "min": 1, "max": 2, "desired": 1,
              "period": 1, "warmup": 1,
              "provider": {"type": "local", "environment": {"PLAZA_CLUSTER_CAPACITY": "100"}, "stopTimeout": 10},
              "policies": [
                {"type": "step", "name": "busy", "adjustment": 1, "cooldown": 5,
                 "alarm": {"metric": "participants", "statistic": "Average", "comparison": "GreaterThanOrEqualToThreshold",
                           "threshold": 20, "period": 1, "evaluationPeriods": 2}},
                {"type": "step", "name": "quiet", "adjustment": -1, "cooldown": 5,
                 "alarm": {"metric": "participants", "statistic": "Average", "comparison": "LessThanOrEqualToThreshold",
                           "threshold": 3, "period": 1, "evaluationPeriods": 3}}
              ],
              "drain": {"deadline": 600, "atDeadline": "terminate"},
              "health": {"unhealthyThreshold": 5, "registrationGrace": 60, "reportTTL": 5}
            }]}
            """
        if !policies {
            let start = pools.range(of: #""policies": ["#)!.lowerBound, end = pools.range(of: #""drain""#)!.lowerBound
            pools.replaceSubrange(start..<end, with: #""policies": [], "#)
        }
        let path = directory.appendingPathComponent("pools.json").path
        try Data(pools.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    struct Instance {
        var id, state: String
        var participants: Int?
    }

    static func instances(_ directory: BenchServer, adminToken: String) async throws -> [Instance] {
        let status = try await HTTP.request("GET", directory.baseURL + "/api/v1/fleet", bearer: adminToken)
        #expect(status.status == 200, "\(status.text)")
        return status.json.array("pools").first?.array("instances").map { instance in
            Instance(
                id: instance.string("id") ?? "", state: instance.string("state") ?? "",
                participants: instance["node"]?.int("participants").map(Int.init))
        } ?? []
    }

    static func seat(_ directory: BenchServer, _ room: String, _ name: String) async throws -> (TestClient, String) {
        let answer = try await HTTP.join(directory.baseURL, room, name: name)
        #expect(answer.status == 200, "\(answer.text)")
        let client = try await TestClient.connect(url: try #require(answer.json.string("url")))
        try await client.hello(try #require(answer.json.string("token")))
        return (client, try #require(answer.json.string("node")))
    }

    /// Where the drill runs: a fleet of processes on PostgreSQL, or `plaza serve --pools` on its embedded SQLite.
    enum Deployment: String, CaseIterable, Sendable {
        /// `plaza directory` and `plaza autoscaler` on a fresh PostgreSQL database.
        case fleet
        /// One `plaza serve --pools`: directory and autoscaler in one process, room servers on its SQLite file.
        case serve
    }

    /// The join and fleet API (a directory, or `plaza serve --pools`) and the autoscaler, with a folder for the
    /// pool file and the local provider's instances (`fleet/`).
    struct Drill {
        let folder: URL
        let pools: String
        let store: String
        let environment: [String: String]
        let directory: BenchServer
        let adminToken: String
        /// The autoscaler when it is a process of its own.
        var autoscaler: PlazaProcess?

        static func start(_ deployment: Deployment, policies: Bool = true, startsAutoscaler: Bool = true) async throws -> Drill {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-autoscaling-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let pools = try AutoscalingTests.poolFile(directory: folder, policies: policies)
            switch deployment {
            case .fleet:
                let environment = FleetProcessTests.fastTimings.merging([
                    "PLAZA_AUTH_SECRET": TestServer.fleetSecret, "PLAZA_AUTH_ADMIN_TOKEN": AutoscalingTests.adminToken,
                ]) { $1 }
                let store = try PostgresServer.shared().createDatabase()
                let directory = try await BenchServer.start(
                    executable: try PlazaExecutable.path(), arguments: ["directory", "--store", store], environment: environment)
                var drill = Drill(
                    folder: folder, pools: pools, store: store, environment: environment, directory: directory,
                    adminToken: AutoscalingTests.adminToken, autoscaler: nil)
                if startsAutoscaler { drill.autoscaler = try drill.startAutoscaler("test-autoscaler", pools: pools) }
                return drill
            case .serve:
                // As on a laptop: the secrets are generated in the data directory, and the settings the room
                // servers need too (the fast timings of FleetProcessTests) come from the --config file, so both
                // reach them only through what `plaza serve` hands on.
                let config = folder.appendingPathComponent("plaza.json")
                try Data(#"{"cluster": {"heartbeatInterval": 0.5, "heartbeatTTL": 2.5, "leaseTTL": 2.5}}"#.utf8).write(to: config)
                let serve = try await BenchServer.start(
                    executable: try PlazaExecutable.path(),
                    arguments: ["serve", "--pools", pools, "--data-dir", folder.path, "--config", config.path, "--log-level", "info"],
                    environment: [:])
                let adminToken = try String(contentsOf: folder.appendingPathComponent("admin-token"), encoding: .utf8)
                return Drill(
                    folder: folder, pools: pools, store: "sqlite:" + folder.appendingPathComponent("plaza.sqlite").path,
                    environment: [:], directory: serve, adminToken: adminToken, autoscaler: nil)
            }
        }

        /// The fleet API's view of the pool's instances.
        func instances() async throws -> [Instance] { try await AutoscalingTests.instances(directory, adminToken: adminToken) }

        /// What the autoscaler logged.
        var log: String {
            autoscaler?.log ?? ((try? String(contentsOfFile: directory.logFile, encoding: .utf8)) ?? "")
        }

        /// A `plaza autoscaler` on the drill's store, its local instances under `fleet/`.
        func startAutoscaler(_ id: String, pools: String, leaseTTL: Double = 15) throws -> PlazaProcess {
            try PlazaProcess(
                arguments: [
                    "autoscaler", "--store", store, "--pools", pools, "--state-dir", folder.appendingPathComponent("fleet").path,
                    "--id", id, "--lease-ttl", String(leaseTTL),
                ],
                environment: environment, directory: folder)
        }

        /// The pids of the room servers the local provider runs, by instance id.
        var roomServerPids: [String: Int32] {
            let instances = folder.appendingPathComponent("fleet/rooms")
            var pids: [String: Int32] = [:]
            for name in (try? FileManager.default.contentsOfDirectory(atPath: instances.path)) ?? [] where name.hasSuffix(".json") {
                guard let data = try? Data(contentsOf: instances.appendingPathComponent(name)),
                    let pid = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["pid"] as? Int
                else { continue }
                pids[String(name.dropLast(".json".count))] = Int32(pid)
            }
            return pids
        }

        /// Stops the autoscaler, the directory and the room servers the local provider left running (an autoscaler
        /// that stops leaves its instances), and removes the folder.
        func stop() {
            autoscaler?.stop()
            directory.stop()
            for pid in roomServerPids.values { kill(pid, SIGTERM) }
            try? FileManager.default.removeItem(at: folder)
        }
    }

    /// Whether process `pid` is gone (or a zombie nobody reaped).
    static func isGone(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return true }
        return stat[stat.index(end, offsetBy: 2)] == "Z"
    }

    /// A chat message from `from` reaches `to`: both are still connected and in their room.
    static func stillTalking(_ from: TestClient, _ to: TestClient, _ id: String) async throws {
        from.send(#"{"type":"chat","id":"\#(id)","text":"still here"}"#)
        var received = try await to.next("chat", timeout: 10)
        while received.string("id") != id { received = try await to.next("chat", timeout: 10) }
    }

    @Test(arguments: Deployment.allCases)
    func loadScalesTheFleetOutAndItsEndDrainsAndStopsAServerWithoutDroppingAnyone(deployment: Deployment) async throws {
        let drill = try await Drill.start(deployment)
        defer { drill.stop() }
        let (folder, directory) = (drill.folder, drill.directory)
        var clients: [TestClient] = []
        defer { for client in clients { client.close() } }

        // The pool starts at its desired capacity: one room server.
        #expect(try await eventually(timeout: 30) { try await drill.instances().map(\.state) == ["serving"] }, "\(drill.log)")
        let first = try #require(try await drill.instances().first?.id)

        // A meeting, and load from plaza bench: 32 participants on the only server.
        let (ann, meetingNode) = try await Self.seat(directory, "meeting", "Ann")
        let (bob, _) = try await Self.seat(directory, "meeting", "Bob")
        clients += [ann, bob]
        #expect(meetingNode == first)
        let load = try PlazaProcess(
            arguments: ["bench", "load", "--directory", directory.baseURL, "--rooms", "3", "--participants", "10", "--hold", "600"],
            environment: [:], directory: folder)
        defer { load.stop() }

        // Average participants ≥ 20 for two periods: a second server is launched and serves.
        #expect(try await eventually(timeout: 40) { try await drill.instances().filter { $0.state == "serving" }.count == 2 }, "\(drill.log)\n\(load.log)")
        let second = try #require(try await drill.instances().map(\.id).first { $0 != first })

        // New rooms land on the new server; a later meeting starts there.
        var late: [TestClient] = []
        for name in ["Cy", "Di", "Ed"] {
            let (client, node) = try await Self.seat(directory, "late", name)
            #expect(node == second, "a new room goes to the empty server")
            late.append(client)
        }
        clients += late

        // The load stops: 2 participants on the first server, 3 on the second, an average of 2.5 ≤ 3 for three
        // periods: one server goes, the least loaded — the first, where the meeting still runs.
        load.stop()
        #expect(try await eventually(timeout: 40) { try await drill.instances().contains { $0.id == first && $0.state == "draining" } }, "\(drill.log)")
        try await Self.stillTalking(ann, bob, "during-drain-1")
        // No new rooms on a draining server; the meeting keeps its home.
        let placed = try await HTTP.join(directory.baseURL, "after-scale-in", name: "Flo")
        #expect(placed.json.string("node") == second)
        let joinsMeeting = try await HTTP.join(directory.baseURL, "meeting", name: "Gus")
        #expect(joinsMeeting.json.string("node") == first, "a draining server keeps its rooms")
        try await Task.sleep(for: .seconds(3))  // several passes: the draining server is not empty, so it stays
        #expect(try await drill.instances().first { $0.id == first }?.state == "draining")
        try await Self.stillTalking(bob, ann, "during-drain-2")
        try await Self.stillTalking(late[0], late[1], "late-room")

        // The meeting ends: the drained server is stopped.
        ann.close()
        bob.close()
        #expect(try await eventually(timeout: 30) { try await drill.instances().map(\.id) == [second] }, "\(drill.log)")
        let pidFile = folder.appendingPathComponent("fleet/rooms/\(first).json").path
        #expect(!FileManager.default.fileExists(atPath: pidFile), "the local provider stopped its process")
        try await Self.stillTalking(late[2], late[0], "after-scale-in")

        // All of it is in `plaza fleet activities`.
        let cli = ["--directory", directory.baseURL, "--admin-token", drill.adminToken]
        let activities = try await PlazaProcess.run(["fleet", "activities"] + cli, directory: folder)
        #expect(activities.status == 0, "\(activities.output)")
        let lines = activities.output.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("TIME") == true)
        #expect(lines.contains { $0.contains(" desired ") && $0.contains("1→2") && $0.contains(" busy ") }, "\(activities.output)")
        #expect(lines.contains { $0.contains(" launch ") && $0.contains(second) })
        #expect(lines.contains { $0.contains(" desired ") && $0.contains("2→1") && $0.contains(" quiet ") })
        #expect(lines.contains { $0.contains(" drain ") && $0.contains(first) })
        #expect(lines.contains { $0.contains(" terminate ") && $0.contains(first) && $0.contains("drained: empty") })
        let status = try await PlazaProcess.run(["fleet", "status"] + cli, directory: folder)
        #expect(status.output.contains("rooms") && status.output.contains(second) && status.output.contains("serving"), "\(status.output)")
        // Without a token it says where the token is; a wrong one is named as refused, with no HTTP advice.
        let missing = try await PlazaProcess.run(
            ["fleet", "status", "--directory", directory.baseURL, "--data-dir", folder.appendingPathComponent("none").path], directory: folder)
        #expect(missing.status != 0 && missing.output.contains("<data-dir>/admin-token"), "\(missing.output)")
        #expect(missing.output.contains(folder.appendingPathComponent("none/admin-token").path), "\(missing.output)")
        let wrong = try await PlazaProcess.run(["fleet", "status", "--directory", directory.baseURL, "--admin-token", "wrong"], directory: folder)
        #expect(wrong.status != 0 && wrong.output.contains("refused the token given"), "\(wrong.output)")
        #expect(!wrong.output.contains("Authorization"), "\(wrong.output)")
        if case .serve = deployment {
            // On the machine of `plaza serve`, its data directory is enough; and its log told the pools and servers.
            let local = try await PlazaProcess.run(
                ["fleet", "status", "--directory", directory.baseURL, "--data-dir", folder.path], directory: folder)
            #expect(local.status == 0, "\(local.output)")
            #expect(drill.log.contains("pool=rooms") && drill.log.contains("] pool"), "\(drill.log)")
            #expect(drill.log.contains("instance registered") && drill.log.contains("url=http://127.0.0.1:"), "\(drill.log)")
        }

        // `plaza serve --pools` stops its room servers when it stops; `plaza autoscaler` leaves them to a successor.
        let running = try #require(drill.roomServerPids[second])
        switch deployment {
        case .serve:
            directory.stop()
            #expect(Self.isGone(running) && drill.roomServerPids.isEmpty, "\(drill.log)")
        case .fleet:
            drill.autoscaler?.stop()
            #expect(!Self.isGone(running))
        }
    }

    @Test func serveTakesLocalPoolsOnly() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-serve-pools-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let pools = folder.appendingPathComponent("pools.json")
        try Data(#"""
            {"pools": [{"name": "cloud", "kind": "room-server", "min": 1, "max": 2,
                        "provider": {"type": "command", "launch": ["true"], "terminate": ["true"], "list": ["echo", "[]"]}}]}
            """#.utf8).write(to: pools)
        let refused = try await PlazaProcess.run(
            ["serve", "--pools", pools.path, "--data-dir", folder.path, "--port", "0"], directory: folder)
        #expect(refused.status != 0 && refused.output.contains("pool 'cloud': plaza serve --pools runs local pools only"), "\(refused.output)")
    }

    @Test func aStandbyTakesOverWhenTheLeaderIsKilledAndLaunchesNothingTwice() async throws {
        let drill = try await Drill.start(.fleet, policies: false, startsAutoscaler: false)
        defer { drill.stop() }
        let (directory, pools) = (drill.directory, drill.pools)
        let leader = try drill.startAutoscaler("first", pools: pools, leaseTTL: 2)
        defer { leader.stop() }
        #expect(try await eventually(timeout: 30) { try await drill.instances().map(\.state) == ["serving"] }, "\(leader.log)")
        let standby = try drill.startAutoscaler("second", pools: pools, leaseTTL: 2)
        defer { standby.stop() }
        #expect(try await eventually { standby.log.contains("standing by") }, "\(standby.log)")

        // The leader dies; within the lease the standby leads and adopts the running server.
        leader.kill()
        #expect(try await eventually(timeout: 15) { standby.log.contains("leading the fleet's autoscaling") }, "\(standby.log)")

        // The operator asks for two: the pass that acts on it finds the adopted server and launches one more, so
        // two launches in all — a takeover that launched again would show a third.
        let cli = ["--directory", directory.baseURL, "--admin-token", drill.adminToken]
        let set = try await PlazaProcess.run(["fleet", "set-desired", "rooms", "2"] + cli, directory: drill.folder)
        #expect(set.status == 0, "\(set.output)")
        #expect(try await eventually(timeout: 30) { try await drill.instances().filter { $0.state == "serving" }.count == 2 }, "\(standby.log)")
        let activities = try await HTTP.request("GET", directory.baseURL + "/api/v1/fleet/activities", bearer: drill.adminToken)
        #expect(activities.json.array("activities").filter { $0.string("action") == "launch" }.count == 2)
        #expect(try await drill.instances().count == 2)

        // The operator protects the adopted server from scale-in, and lifts it again.
        let adopted = try #require(try await drill.instances().first?.id)
        let protect = try await PlazaProcess.run(["fleet", "protect", adopted] + cli, directory: drill.folder)
        #expect(protect.status == 0, "\(protect.output)")
        let fleet = try await HTTP.request("GET", directory.baseURL + "/api/v1/fleet", bearer: drill.adminToken)
        let protected = fleet.json.array("pools").first?.array("instances").first { $0.string("id") == adopted }?["protected"]
        #expect(protected == .bool(true), "\(fleet.text)")
        let lift = try await PlazaProcess.run(["fleet", "protect", adopted, "--off"] + cli, directory: drill.folder)
        #expect(lift.status == 0, "\(lift.output)")
        let lifted = try await HTTP.request("GET", directory.baseURL + "/api/v1/fleet", bearer: drill.adminToken)
        #expect(lifted.json.array("pools").first?.array("instances").first { $0.string("id") == adopted }?["protected"] == .bool(false))
        let unknown = try await PlazaProcess.run(["fleet", "set-desired", "no-such-pool", "1"] + cli, directory: drill.folder)
        #expect(unknown.status != 0, "\(unknown.output)")
    }
}
