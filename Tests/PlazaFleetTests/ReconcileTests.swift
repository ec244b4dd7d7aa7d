import Foundation
import Logging
import Testing
import PlazaFleetModel
import PlazaAutoscaling
import PlazaFleet
import PlazaPlacement
import PlazaStore
import PlazaTesting

/// The reconcile pass on each engine of the store (a real PostgreSQL server, SQLite), with the `command` provider running shell scripts that keep
/// a folder of "cloud" instances (one file each, and a log of every launch). Time is the pass's `now`, so
/// health checks, warm-up and drain deadlines run without waiting.
@Suite struct ReconcileTests {
    let t0: Int64 = 1_700_000_000_000

    /// A pool on a fresh database, with its scripted cloud.
    struct Harness {
        let store: any SharedStore
        let cloud: URL
        var pool: PoolConfiguration
        let provider: CommandProvider

        static func start(_ engine: StoreEngine, _ pool: (CommandProviderSettings) -> PoolConfiguration) async throws -> Harness {
            let store = try await engine.openNew()
            let cloud = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-cloud-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: cloud.appendingPathComponent("instances"), withIntermediateDirectories: true)
            let settings = CommandProviderSettings(
                launch: ["/bin/sh", "-c", #"[ -e "$CLOUD/instances/$PLAZA_INSTANCE_ID" ] || { touch "$CLOUD/instances/$PLAZA_INSTANCE_ID"; echo "$PLAZA_INSTANCE_ID" >> "$CLOUD/launches"; }"#],
                terminate: ["/bin/sh", "-c", #"rm -f "$CLOUD/instances/$PLAZA_INSTANCE_ID""#],
                list: ["/bin/sh", "-c", #"printf '['; sep=''; for f in $(ls "$CLOUD/instances"); do printf '%s{"id":"%s"}' "$sep" "$f"; sep=','; done; printf ']'"#],
                environment: ["CLOUD": cloud.path], timeout: 10)
            let pool = pool(settings)
            let harness = Harness(
                store: store, cloud: cloud, pool: pool,
                provider: CommandProvider(settings: settings, pool: pool))
            _ = try await store.declare(
                FleetPool(name: pool.name, kind: pool.kind, region: pool.region, min: pool.min, max: pool.max, desired: pool.desired))
            return harness
        }

        func controller(stillLeading: @escaping @Sendable () async throws -> Void = {}) -> PoolController {
            PoolController(pool: pool, provider: provider, store: store, logger: Logger(label: "test"), stillLeading: stillLeading)
        }

        var running: [InstanceID] {
            ((try? FileManager.default.contentsOfDirectory(atPath: cloud.appendingPathComponent("instances").path)) ?? []).sorted()
                .map { InstanceID($0) }
        }

        var launches: [InstanceID] {
            ((try? String(contentsOf: cloud.appendingPathComponent("launches"), encoding: .utf8)) ?? "")
                .split(separator: "\n").map { InstanceID(String($0)) }
        }

        /// The instance registers (or reports) as a node would.
        func report(_ instance: InstanceID, participants: Int = 0, state: NodeState = .serving, at now: Int64) async throws -> RegistryAnswer {
            let id = instance.node
            if try await store.nodes().contains(where: { $0.registration.id == id }) == false {
                try await store.register(NodeRegistration(id: id, url: "http://\(id).test", region: pool.region, capacity: 100), now: now)
            }
            return try await store.report(
                node: id, NodeReport(state: state, rooms: participants > 0 ? 1 : 0, participants: participants), now: now)
        }

        func instances() async throws -> [FleetInstance] { try await store.instances(pool: pool.name, includeTerminated: false) }

        func activities() async throws -> [ScalingActivity] { try await store.activities(pool: pool.name, limit: 100).reversed() }

        func stop() async throws {
            try await store.close()
            try? FileManager.default.removeItem(at: cloud)
        }
    }

    static func roomServers(
        min: Int = 0, max: Int = 5, desired: Int, policies: [ScalingPolicy] = [], drain: DrainRule = DrainRule(),
        kind: NodeKind = .roomServer, warmup: Double = 0
    ) -> (CommandProviderSettings) -> PoolConfiguration {
        { settings in
            PoolConfiguration(
                name: "rooms", kind: kind, region: "eu", min: min, max: max, desired: desired, period: 1, warmup: warmup,
                provider: .command(settings), policies: policies, drain: drain,
                health: HealthCheck(unhealthyThreshold: 2, registrationGrace: 60, reportTTL: 15))
        }
    }

    /// A step rule on the pool's average participants, over periods of a second, with a minute's cooldown.
    static func participantsRule(
        _ name: String, _ comparison: Comparison, _ threshold: Double, periods: Int, adjustment: Int
    ) -> ScalingPolicy {
        .step(StepScaling(
            name: name,
            alarm: Alarm(
                metric: "participants", statistic: .average, comparison: comparison, threshold: threshold, period: 1,
                evaluationPeriods: periods),
            steps: [StepAdjustment(adjustment: adjustment)], cooldown: 60))
    }

    @Test(arguments: StoreEngine.allCases)
    func theLeaseHasOneHolderAndPassesOnWhenItRunsOutOrIsGivenUp(engine: StoreEngine) async throws {
        let store = try await engine.openNew()
        #expect(try await store.lead(holder: "a", ttl: 10_000, now: t0) == 1)
        #expect(try await store.lead(holder: "b", ttl: 10_000, now: t0 + 1_000) == nil)
        #expect(try await store.lead(holder: "a", ttl: 10_000, now: t0 + 9_000) == 1)
        #expect(try await store.lead(holder: "b", ttl: 10_000, now: t0 + 18_999) == nil)
        #expect(try await store.lead(holder: "b", ttl: 10_000, now: t0 + 19_000) == 2)
        #expect(try await store.lead(holder: "a", ttl: 10_000, now: t0 + 19_001) == nil)
        try await store.resign(holder: "b")
        #expect(try await store.lead(holder: "a", ttl: 10_000, now: t0 + 19_002) == 3)
        try await store.close()
    }

    @Test(arguments: StoreEngine.allCases)
    func aCrashInTheMiddleOfAScaleOutLaunchesNothingTwice(engine: StoreEngine) async throws {
        let harness = try await Harness.start(engine, Self.roomServers(desired: 3))
        // The first leader records its first launch and makes it, records the second, and dies before launching it
        // (its next check of the lease, with two launches recorded, is where it stops).
        let store = harness.store
        var first = harness.controller {
            if try await store.instances(pool: "rooms", includeTerminated: false).count == 2 { throw LeadershipLost() }
        }
        await #expect(throws: LeadershipLost.self) { try await first.reconcile(now: self.t0) }
        #expect(harness.running.count == 1)
        let recorded = try await harness.instances()
        #expect(recorded.map(\.state) == [.launching, .launching])
        let unlaunched = try #require(recorded.map(\.id).first { !harness.running.contains($0) })

        // Its successor re-issues the recorded launch and makes the third.
        var successor = harness.controller()
        try await successor.reconcile(now: t0 + 1_000)
        let instances = try await harness.instances()
        #expect(instances.count == 3)
        #expect(harness.running == instances.map(\.id).sorted())
        #expect(harness.launches.sorted() == harness.running, "every instance launched exactly once")
        let recovery = try await harness.activities().filter { $0.cause == "recovery" }
        #expect(recovery.count == 1 && recovery[0].instance == unlaunched)

        // Passes after that change nothing.
        try await successor.reconcile(now: t0 + 2_000)
        #expect(harness.launches.count == 3)
        try await harness.stop()
    }

    @Test(arguments: StoreEngine.allCases)
    func registeredInstancesServeAndAnUnhealthyOneIsReplacedLaunchFirst(engine: StoreEngine) async throws {
        let harness = try await Harness.start(engine, Self.roomServers(desired: 2))
        var controller = harness.controller()
        try await controller.reconcile(now: t0)
        let ids = try await harness.instances().map(\.id)
        for id in ids { _ = try await harness.report(id, at: t0 + 1_000) }
        try await controller.reconcile(now: t0 + 2_000)
        #expect(try await harness.instances().map(\.state) == [.serving, .serving])

        // One stops reporting: two failed checks (reportTTL 15 s, threshold 2) and it is replaced.
        let (healthy, failing) = (ids[0], ids[1])
        _ = try await harness.report(healthy, at: t0 + 20_000)
        try await controller.reconcile(now: t0 + 20_000)
        #expect(try await harness.instances().first { $0.id == failing }?.healthFailures == 1)
        _ = try await harness.report(healthy, at: t0 + 21_000)
        try await controller.reconcile(now: t0 + 21_000)
        let after = try await harness.instances()
        #expect(!after.contains { $0.id == failing })
        #expect(after.count == 2 && after.filter { $0.state == .launching }.count == 1)
        #expect(!harness.running.contains(failing) && harness.running.count == 2)
        let actions = try await harness.activities().filter { $0.at == t0 + 21_000 }.map { "\($0.action) \($0.cause)" }
        #expect(actions == ["replace health", "launch desired", "terminate health"], "launch first, then terminate")
        try await harness.stop()
    }

    /// After the store was down for a minute, every report is a minute old: that is the outage, not the instances.
    /// For a report TTL after the store answers again, nothing is replaced or ended for silence and no capacity is
    /// decided; once the instances have had time to report, the usual rules apply.
    @Test(arguments: StoreEngine.allCases)
    func reportsMadeStaleByAStoreOutageReplaceNothingAndDecideNothing(engine: StoreEngine) async throws {
        // A rule that scales in when the figures are missing, as they are while every report is stale.
        let scaleIn = ScalingPolicy.step(StepScaling(
            name: "quiet",
            alarm: Alarm(
                metric: "participants", statistic: .average, comparison: .lessThanOrEqualToThreshold, threshold: 2, period: 1,
                evaluationPeriods: 1, treatMissingData: .breaching),
            steps: [StepAdjustment(adjustment: -1)], cooldown: 60))
        var harness = try await Harness.start(engine, Self.roomServers(min: 0, desired: 2))
        var controller = harness.controller()
        try await controller.reconcile(now: t0)
        let ids = try await harness.instances().map(\.id)
        for id in ids { _ = try await harness.report(id, participants: 5, at: t0 + 500) }
        try await controller.reconcile(now: t0 + 1_000)
        #expect(try await harness.instances().map(\.state) == [.serving, .serving])
        let draining = ids[0]
        #expect(try await harness.store.setDesired(pool: "rooms", desired: 1))
        #expect(try await harness.store.requestDrain(node: draining.node))
        _ = try await harness.report(draining, participants: 5, state: .draining, at: t0 + 1_500)
        try await controller.reconcile(now: t0 + 2_000)

        // The store is back at t0 + 62 s; no one has reported since t0 + 1.5 s. (A leader that takes over now,
        // with the rule.)
        let back = t0 + 62_000
        harness.pool.policies = [scaleIn]
        controller = harness.controller()
        for now in stride(from: back, through: back + 10_000, by: 5_000) {
            try await controller.reconcile(now: now, storeReachableSince: back)
        }
        let held = try await harness.instances()
        #expect(held.map(\.healthFailures) == [0, 0], "no failed health check for silence during the outage")
        #expect(held.first { $0.id == draining }?.state == .draining && harness.running.count == 2, "the drain goes on")
        #expect(try await harness.activities().filter { $0.at >= back }.isEmpty, "no decision, no termination")

        // A report TTL (15 s) later, an instance still silent is judged as usual.
        _ = try await harness.report(draining, participants: 0, state: .draining, at: back + 14_000)
        try await controller.reconcile(now: back + 16_000, storeReachableSince: back)
        #expect(!harness.running.contains(draining), "the drained instance reported empty and ended")
        let decided = try await harness.activities().filter { $0.at == back + 16_000 }.map(\.action)
        #expect(decided.contains("desired"), "the rule decides again on what it sees: \(decided)")
        try await harness.stop()
    }

    @Test(arguments: StoreEngine.allCases)
    func scaleInDrainsTheLeastLoadedUnprotectedInstanceAndTerminatesItOnceEmpty(engine: StoreEngine) async throws {
        // Average participants ≤ 2 for one period: one fewer.
        let scaleIn = Self.participantsRule("quiet", .lessThanOrEqualToThreshold, 2, periods: 1, adjustment: -1)
        let harness = try await Harness.start(engine, Self.roomServers(min: 1, desired: 3, policies: [scaleIn]))
        var controller = harness.controller()
        try await controller.reconcile(now: t0)
        let ids = try await harness.instances().map(\.id)
        let (busy, light, empty) = (ids[0], ids[1], ids[2])
        #expect(try await harness.store.setProtected(instance: empty, true) == "rooms")
        _ = try await harness.report(busy, participants: 5, at: t0 + 500)
        _ = try await harness.report(light, participants: 1, at: t0 + 500)
        _ = try await harness.report(empty, participants: 0, at: t0 + 500)
        try await controller.reconcile(now: t0 + 1_000)  // registered, serving; average 2 → 3 becomes 2

        let decision = try #require(try await harness.activities().first { $0.action == "desired" })
        #expect(decision.from == 3 && decision.to == 2 && decision.cause == "quiet")
        #expect(decision.values == ["Average(participants)": 2])
        let drain = try #require(try await harness.activities().first { $0.action == "drain" })
        #expect(drain.instance == light, "the least loaded that is not protected")
        #expect(try await harness.store.nodes().first { $0.registration.id == light.node }?.report.state == .draining)

        // Its next heartbeat tells it to drain; it keeps its participant, so it stays.
        let answer = try await harness.report(light, participants: 1, at: t0 + 1_500)
        #expect(answer.drain)
        _ = try await harness.report(busy, participants: 5, at: t0 + 1_500)
        try await controller.reconcile(now: t0 + 2_000)
        #expect(harness.running.contains(light))
        #expect(try await harness.instances().first { $0.id == light }?.state == .draining)

        // Empty now: terminated.
        _ = try await harness.report(light, participants: 0, state: .draining, at: t0 + 2_500)
        try await controller.reconcile(now: t0 + 3_000)
        #expect(!harness.running.contains(light) && harness.running.count == 2)
        let terminate = try #require(try await harness.activities().last { $0.action == "terminate" })
        #expect(terminate.instance == light && terminate.reason.hasPrefix("drained: empty"))
        #expect(try await !harness.store.nodes().contains { $0.registration.id == light.node }, "gone from the registry too")
        try await harness.stop()
    }

    @Test(arguments: StoreEngine.allCases, [DrainRule.AtDeadline.terminate, .wait])
    func theDrainDeadlineDoesWhatThePoolSays(engine: StoreEngine, atDeadline: DrainRule.AtDeadline) async throws {
        let harness = try await Harness.start(engine, Self.roomServers(desired: 1, drain: DrainRule(deadline: 60, atDeadline: atDeadline)))
        var controller = harness.controller()
        try await controller.reconcile(now: t0)
        let id = try #require(try await harness.instances().first?.id)
        _ = try await harness.report(id, participants: 3, at: t0 + 500)
        try await controller.reconcile(now: t0 + 1_000)
        #expect(try await harness.store.setDesired(pool: "rooms", desired: 0))
        try await controller.reconcile(now: t0 + 2_000)
        for now in stride(from: t0 + 30_000, through: t0 + 90_000, by: 30_000) {
            _ = try await harness.report(id, participants: 3, state: .draining, at: now - 500)
            try await controller.reconcile(now: now)
        }
        let activities = try await harness.activities()
        switch atDeadline {
        case .terminate:
            #expect(harness.running.isEmpty)
            let terminate = try #require(activities.last)
            #expect(terminate.action == "terminate" && terminate.cause == "drain-deadline")
            #expect(terminate.reason.contains("3 participants in 1 rooms"))
        case .wait:
            #expect(harness.running == [id])
            #expect(activities.filter { $0.cause == "drain-deadline" }.count == 1, "reported once, logged every period")
        }
        try await harness.stop()
    }

    @Test(arguments: StoreEngine.allCases)
    func busyRecordersAreNeverScaledIn(engine: StoreEngine) async throws {
        let harness = try await Harness.start(engine, Self.roomServers(desired: 2, kind: .jibri))
        var controller = harness.controller()
        try await controller.reconcile(now: t0)
        let ids = try await harness.instances().map(\.id)
        _ = try await harness.report(ids[0], participants: 1, at: t0 + 500)
        _ = try await harness.report(ids[1], participants: 1, at: t0 + 500)
        try await controller.reconcile(now: t0 + 1_000)
        #expect(try await harness.store.setDesired(pool: "rooms", desired: 1))
        try await controller.reconcile(now: t0 + 2_000)
        #expect(try await harness.instances().allSatisfy { $0.state == .serving }, "both busy: neither is drained")
        _ = try await harness.report(ids[1], participants: 0, at: t0 + 2_500)
        try await controller.reconcile(now: t0 + 3_000)
        #expect(try await harness.instances().first { $0.id == ids[1] }?.state == .draining)
        try await harness.stop()
    }

    @Test(arguments: StoreEngine.allCases)
    func recordersWarmingUpAreNotLaunchedAgainEveryPeriod(engine: StoreEngine) async throws {
        // The operator's recorder rule with a two-minute warm-up, passes every second.
        let idle = ScalingPolicy.availability(Availability(name: "idle", minIdle: 2, maxIdle: 3))
        let harness = try await Harness.start(engine, Self.roomServers(min: 3, max: 10, desired: 3, policies: [idle], kind: .jibri, warmup: 120))
        var controller = harness.controller()
        try await controller.reconcile(now: t0)
        for id in try await harness.instances().map(\.id) { _ = try await harness.report(id, at: t0 + 500) }
        for second in 1...5 { try await controller.reconcile(now: t0 + Int64(second) * 1_000) }
        #expect(harness.launches.count == 3, "three warming recorders will be idle: none more")
        #expect(try await harness.store.pools().first?.desired == 3)

        // Warmed up, two of them busy: one idle, one more recorder.
        let ids = try await harness.instances().map(\.id)
        let warm = t0 + 121_000
        for (index, id) in ids.enumerated() { _ = try await harness.report(id, participants: index < 2 ? 1 : 0, at: warm) }
        try await controller.reconcile(now: warm + 500)
        #expect(try await harness.store.pools().first?.desired == 4)
        // The new one warms up: the pool waits for it rather than launching again.
        for second in 1...5 { try await controller.reconcile(now: warm + 500 + Int64(second) * 1_000) }
        #expect(harness.launches.count == 4)
        #expect(try await harness.store.pools().first?.desired == 4)
        // It gets a job before it has warmed up: no future idle capacity, so one more comes.
        let newest = try #require(try await harness.instances().map(\.id).first { !ids.contains($0) })
        _ = try await harness.report(newest, participants: 1, at: warm + 6_000)
        try await controller.reconcile(now: warm + 6_500)
        #expect(try await harness.store.pools().first?.desired == 5)
        try await harness.stop()
    }

    @Test(arguments: StoreEngine.allCases)
    func strangersAndInstancesThatNeverRegisterAreReportedThenTerminated(engine: StoreEngine) async throws {
        let harness = try await Harness.start(engine, Self.roomServers(desired: 1))
        _ = FileManager.default.createFile(atPath: harness.cloud.appendingPathComponent("instances/stray").path, contents: nil)
        var controller = harness.controller()
        try await controller.reconcile(now: t0)
        let launched = try #require(try await harness.instances().first?.id)
        #expect(try await harness.activities().contains { $0.action == "unregistered" && $0.instance == "stray" })
        #expect(harness.running.contains("stray"))

        // Past the registration grace (60 s): the stray and the never-registered instance go; a new one comes.
        try await controller.reconcile(now: t0 + 61_000)
        #expect(!harness.running.contains("stray") && !harness.running.contains(launched))
        let instances = try await harness.instances()
        #expect(instances.count == 1 && instances[0].id != launched && instances[0].state == .launching)
        let unregistered = try await harness.activities().filter { $0.action == "unregistered" }.map(\.instance)
        #expect(unregistered == ["stray", launched])
        try await harness.stop()
    }

    @Test(arguments: StoreEngine.allCases)
    func aSuccessorCarriesOnItsPredecessorsAlarmHistory(engine: StoreEngine) async throws {
        // Average participants ≥ 5 for three periods: one more.
        let busy = Self.participantsRule("busy", .greaterThanOrEqualToThreshold, 5, periods: 3, adjustment: 1)
        let harness = try await Harness.start(engine, Self.roomServers(min: 1, desired: 1, policies: [busy]))
        var leader = harness.controller()
        try await leader.reconcile(now: t0)
        let id = try #require(try await harness.instances().first?.id)
        for (index, now) in [t0 + 1_000, t0 + 2_000].enumerated() {
            _ = try await harness.report(id, participants: 10, at: now - 500)
            try await leader.reconcile(now: now)
            #expect(try await harness.activities().filter { $0.action == "desired" }.isEmpty, "period \(index + 1) of 3")
        }
        // The leader is gone; its successor's first period is the alarm's third breaching one.
        var successor = try await PoolController.resuming(
            pool: harness.pool, provider: harness.provider, store: harness.store, logger: Logger(label: "test")) {}
        _ = try await harness.report(id, participants: 10, at: t0 + 2_500)
        try await successor.reconcile(now: t0 + 3_000)
        let decision = try #require(try await harness.activities().first { $0.action == "desired" })
        #expect(decision.from == 1 && decision.to == 2 && decision.cause == "busy" && decision.at == t0 + 3_000)
        #expect(decision.reason.contains("in 3 of the last 3 periods"), "\(decision.reason)")
        try await harness.stop()
    }
}
