import Foundation
import Logging
import Testing
import PlazaFleetModel
import PlazaBench
import PlazaPostgres
import PlazaStore
import PlazaTesting

/// The fleet API of a `plaza directory` process over a store the autoscaler wrote: status with instances and
/// their load, activities, set-desired and protection, behind the admin token, with documented errors.
@Suite(.serialized) struct FleetAPITests {
    static let token = "fleet-api-admin-token"

    @Test func theFleetAPIShowsAndSteersThePools() async throws {
        let url = try PostgresServer.shared().createDatabase()
        let store = try await PostgresStore.open(url: url, logger: Logger(label: "test"))
        let now = wallClockMilliseconds()
        _ = try await store.declare(FleetPool(name: "rooms", kind: .roomServer, region: "eu", min: 1, max: 4, desired: 2))
        try await store.save(FleetInstance(id: "rooms-a", pool: "rooms", state: .serving, launchedAt: now - 5_000, stateSince: now - 4_000))
        try await store.save(FleetInstance(id: "rooms-b", pool: "rooms", state: .launching, launchedAt: now, stateSince: now))
        try await store.register(NodeRegistration(id: "rooms-a", url: "http://a.test", region: "eu", capacity: 100), now: now)
        _ = try await store.report(node: "rooms-a", NodeReport(rooms: 2, participants: 7, cpu: 0.25), now: now)
        try await store.record(ScalingActivity(pool: "rooms", at: now, action: "desired", from: 1, to: 2, cause: "busy", reason: "because"))

        let directory = try await BenchServer.start(
            executable: try PlazaExecutable.path(), arguments: ["directory", "--store", url],
            environment: ["PLAZA_AUTH_SECRET": TestServer.fleetSecret, "PLAZA_AUTH_ADMIN_TOKEN": Self.token])
        defer { directory.stop() }
        let base = directory.baseURL + "/api/v1/fleet"

        let anonymous = try await HTTP.request("GET", base)
        #expect(anonymous.status == 401 && anonymous.json["error"]?.string("code") == "unauthorized")

        let status = try await HTTP.request("GET", base, bearer: Self.token)
        #expect(status.status == 200, "\(status.text)")
        let pool = try #require(status.json.array("pools").first)
        #expect(pool.string("name") == "rooms" && pool.int("desired") == 2 && pool.int("capacity") == 2 && pool.string("region") == "eu")
        let instances = pool.array("instances")
        #expect(instances.map { $0.string("id") } == ["rooms-a", "rooms-b"])
        #expect(instances[0]["node"]?.int("participants") == 7 && instances[0]["node"]?.string("url") == "http://a.test")
        #expect(instances[1]["node"] == nil, "not registered yet")

        let set = try await HTTP.request("PUT", base + "/pools/rooms/desired", body: #"{"desired":3}"#, bearer: Self.token)
        #expect(set.status == 200 && set.json.int("desired") == 3, "\(set.text)")
        #expect(try await store.pools().first?.desired == 3)
        let outside = try await HTTP.request("PUT", base + "/pools/rooms/desired", body: #"{"desired":9}"#, bearer: Self.token)
        #expect(outside.status == 400 && outside.json["error"]?.string("code") == "invalid_request")
        let unknown = try await HTTP.request("PUT", base + "/pools/nope/desired", body: #"{"desired":1}"#, bearer: Self.token)
        #expect(unknown.status == 404 && unknown.json["error"]?.string("code") == "not_found")
        let malformed = try await HTTP.request("PUT", base + "/pools/rooms/desired", body: #"{"desired":"x"}"#, bearer: Self.token)
        #expect(malformed.status == 400)

        let protect = try await HTTP.request("PUT", base + "/instances/rooms-a/protection", body: #"{"protected":true}"#, bearer: Self.token)
        #expect(protect.status == 200, "\(protect.text)")
        #expect(try await store.instances(pool: "rooms", includeTerminated: false).first { $0.id == "rooms-a" }?.protected == true)
        let missing = try await HTTP.request("PUT", base + "/instances/ghost/protection", body: #"{"protected":true}"#, bearer: Self.token)
        #expect(missing.status == 404)

        let activities = try await HTTP.request("GET", base + "/activities?pool=rooms&limit=10", bearer: Self.token)
        let actions = activities.json.array("activities").map { "\($0.string("action") ?? "") \($0.string("cause") ?? "")" }
        #expect(actions == ["protect operator", "desired operator", "desired busy"], "newest first")
        let tooMany = try await HTTP.request("GET", base + "/activities?limit=100000", bearer: Self.token)
        #expect(tooMany.status == 400 && tooMany.json["error"]?.string("code") == "invalid_request")
        try await store.close()
    }
}
