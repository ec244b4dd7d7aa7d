import Foundation
import Logging
import Synchronization
import Testing
import PlazaAutoscaling
import PlazaFleet
import PlazaFleetModel
import PlazaStore
import PlazaTesting
@testable import PlazaSimulation

/// `plaza simulate`'s engine: the production autoscaler on a simulated week, its decisions the live autoscaler's
/// for the same inputs, the operator's seed rules doing what their author says, drains that cut nothing unless the
/// pool file says to terminate at the deadline.
@Suite struct SimulationTests {
    static let samplePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy/autoscaling/pools.json").path

    static func sample(_ names: [String]) throws -> [PoolConfiguration] {
        try PoolFile.load(path: samplePath).pools.filter { names.contains($0.name.rawValue) }
    }

    static func pool(_ report: SimulationReport, _ name: String) throws -> PoolReport {
        try #require(report.pools.first { $0.name == name })
    }

    static func timeline(_ report: SimulationReport, _ name: String) throws -> PoolTimeline {
        try #require(report.timelines.first { $0.name == name })
    }

    /// Six hours without a meeting: the bridges stay at their minimum of two, the recorders at three idle.
    @Test func withNoLoadTheSeedRulesHoldTwoBridgesAndThreeIdleRecorders() async throws {
        var simulation = Simulation(
            pools: try Self.sample(["bridges-eu-shard1", "recorders-eu"]), model: CapacityModel(),
            workload: Workload(conferences: [], duration: 6 * 3600))
        simulation.timelineStep = 60
        let outcome = try await simulation.run()
        let bridges = try Self.timeline(outcome.report, "bridges-eu-shard1")
        let recorders = try Self.timeline(outcome.report, "recorders-eu")
        #expect(bridges.desired.allSatisfy { $0 == 2 } && bridges.ready.last == 2)
        #expect(recorders.desired.allSatisfy { $0 == 3 } && recorders.ready.last == 3)
        #expect(outcome.activities.filter { $0.action == "desired" }.isEmpty, "\(outcome.activities)")
        // Instances are billed from launch: 2 + 3 instances for six hours.
        #expect(abs(outcome.report.total.instanceHours - 30) < 0.01)
    }

    /// The operator's recorders started at two: the first recording leaves one idle, below two for five periods,
    /// so a third is launched; once the recording is over, three idle recorders stay (three is not above three).
    @Test func recordersStartedAtTwoSettleAtThreeIdle() async throws {
        var recorders = try Self.sample(["recorders-eu"])
        (recorders[0].min, recorders[0].desired) = (2, 2)
        let meeting = SimulatedConference(start: 3600, end: 3600 + 1800, participants: 4, region: "eu", recorded: true)
        var simulation = Simulation(pools: recorders, model: CapacityModel(), workload: Workload(conferences: [meeting], duration: 6 * 3600))
        simulation.timelineStep = 60
        let outcome = try await simulation.run()
        let changes = outcome.activities.filter { $0.action == "desired" }
        #expect(changes.map(\.to) == [3] && changes.first?.cause == "recorders-out", "\(changes)")
        let launchedAt: Int64 = try #require(changes.first).at - simulation.epoch
        let fifthPeriod: Int64 = (3600 + 4 * 60) * 1000
        #expect(launchedAt == fifthPeriod, "the fifth period with one idle")
        let timeline = try Self.timeline(outcome.report, "recorders-eu")
        #expect(timeline.ready.prefix(60).allSatisfy { $0 <= 2 } && timeline.ready.last == 3 && timeline.demand.last == 0)
        let report = try Self.pool(outcome.report, "recorders-eu")
        #expect(report.recordingsKeptWaiting == 0 && report.recordingsRefused == 0)
    }

    /// Recorders given more than the rules keep shed one at a time down to three idle: the first after ten periods
    /// above three idle, the next ones a cooldown apart while the alarm stays in `ALARM` (CloudWatch's rule).
    @Test func idleRecordersSettleAtThree() async throws {
        var recorders = try Self.sample(["recorders-eu"])
        recorders[0].desired = 6
        var simulation = Simulation(pools: recorders, model: CapacityModel(), workload: Workload(conferences: [], duration: 3 * 3600))
        simulation.timelineStep = 60
        let outcome = try await simulation.run()
        let changes = outcome.activities.filter { $0.action == "desired" }
        #expect(changes.map(\.to) == [5, 4, 3], "\(changes)")
        #expect(changes.allSatisfy { $0.cause == "recorders-in" })
        let gaps = zip(changes.dropFirst(), changes).map { ($0.at - $1.at) / 60_000 }
        #expect(gaps == [5, 5], "the cooldown (300 s) between two steps: \(gaps)")
        let firstPass = try #require(outcome.activities.first { $0.action == "launch" }?.at)
        // Registered four minutes after their launch (the model's launch and boot delays), then ten periods.
        let firstStep = try #require(changes.first).at
        let minutes: Int64 = (firstStep - firstPass) / 60_000
        #expect(minutes == (60 + 180) / 60 + 9, "first step at \(firstStep - firstPass) ms")
        let timeline = try Self.timeline(outcome.report, "recorders-eu")
        #expect(timeline.ready.last == 3 && timeline.draining.last == 0)
        #expect(try Self.pool(outcome.report, "recorders-eu").conferencesCut == 0)
    }

    /// A load above the seed threshold from the first hour: the bridges add one only at the tenth consecutive
    /// period above it, and return to two (never fewer) when the load is gone.
    @Test func bridgesScaleOutAfterTenConsecutivePeriodsAndNeverGoBelowTwo() async throws {
        // Nine meetings of ten: 9 × 10 × 312,500 B/s (each receiver's 2.5 Mbit/s) ≈ 28 MB/s over two bridges,
        // above 12.5 MB/s each; over three, below.
        let conferences = (0..<9).map { _ in SimulatedConference(start: 3600, end: 3600 + 3 * 3600, participants: 10, region: "eu") }
        var simulation = Simulation(
            pools: try Self.sample(["bridges-eu-shard1"]), model: CapacityModel(), workload: Workload(conferences: conferences, duration: 8 * 3600))
        simulation.timelineStep = 60
        let outcome = try await simulation.run()
        let changes = outcome.activities.filter { $0.action == "desired" }
        let first = try #require(changes.first)
        #expect(first.cause == "bridges-out" && first.from == 2 && first.to == 3)
        #expect(first.at == simulation.epoch + (3600 + 9 * 60) * 1000, "the tenth period above the threshold")
        #expect(changes.last?.to == 2, "back to two without the load: \(changes)")
        let timeline = try Self.timeline(outcome.report, "bridges-eu-shard1")
        #expect(timeline.desired.allSatisfy { $0 >= 2 })
        let report = try Self.pool(outcome.report, "bridges-eu-shard1")
        #expect(report.conferencesCut == 0 && report.conferencesRefused == 0 && report.overloadMinutes == 0)
        #expect(report.egressGB > 0)
    }

    /// Two bridges of three participants each, one meeting of three on each from before the first pass with
    /// figures; target tracking then wants one bridge. Draining waits for the meeting; terminating at the drain's deadline cuts it, and says so.
    @Test(arguments: [DrainRule.AtDeadline.wait, .terminate])
    func drainingCutsNoConferenceUnlessThePoolSaysToTerminate(_ atDeadline: DrainRule.AtDeadline) async throws {
        let pool = PoolConfiguration(
            name: "bridges", kind: .jvb, region: "eu", min: 1, max: 4, desired: 2, period: 60, warmup: 0, provider: .local(.init()),
            policies: [.targetTracking(TargetTracking(name: "participants", metric: "participants", target: 10, scaleDownStabilization: 0))],
            drain: DrainRule(deadline: 600, atDeadline: atDeadline), health: HealthCheck(reportTTL: 90))
        var model = CapacityModel()
        model.kinds["jvb"] = InstanceModel(participants: 3, egressMbps: 0, pricePerHour: 0.17, launchDelay: 0, bootDelay: 0)
        let conferences = [
            SimulatedConference(start: 30, end: 30 + 7200, participants: 3, region: "eu"),
            SimulatedConference(start: 31, end: 30 + 7200, participants: 3, region: "eu"),
        ]
        let outcome = try await Simulation(pools: [pool], model: model, workload: Workload(conferences: conferences, duration: 4 * 3600)).run()
        let report = try Self.pool(outcome.report, "bridges")
        let drains = outcome.activities.filter { $0.action == "drain" && $0.result == "in progress" && $0.cause != "drain-deadline" }
        #expect(drains.count == 1, "one bridge chosen for scale-in: \(outcome.activities)")
        let terminations = outcome.activities.filter { $0.action == "terminate" }
        let epoch = Simulation(pools: [], model: model, workload: Workload(conferences: [], duration: 0)).epoch
        switch atDeadline {
        case .wait:
            #expect(report.conferencesCut == 0)
            let terminated = try #require(terminations.first)
            #expect(terminated.cause == "drain" && terminated.at >= epoch + (30 + 7200) * 1000, "once its meeting ended: \(terminated)")
        case .terminate:
            #expect(report.conferencesCut == 1)
            #expect(terminations.first?.cause == "drain-deadline", "\(terminations)")
            #expect(outcome.report.total.conferencesCut == 1)
        }
    }

    /// The inputs the simulated instances gave the registry, replayed through the live autoscaler's loop on a
    /// manual clock and a store of each engine, give the simulation's scaling activities, one for one.
    @Test(arguments: StoreEngine.allCases)
    func theLiveAutoscalerMakesTheSameDecisionsOnTheSameInputs(_ engine: StoreEngine) async throws {
        var week = SyntheticWeek(users: 4_000, seed: 7)
        week.recordedShare = 0.2
        let day = week.generate().conferences.filter { $0.start < 86_400 }
        let pools = try Self.sample(["rooms-eu", "bridges-eu-shard1", "recorders-eu"])
        var model = CapacityModel()
        model.pools["rooms-eu"] = InstanceModel(participants: 60)
        model.pools["bridges-eu-shard1"] = InstanceModel(participants: 60)
        let simulation = Simulation(pools: pools, model: model, workload: Workload(conferences: day, duration: 86_400))
        let outcome = try await simulation.run(recordInputs: true)
        let simulated = outcome.activities
        #expect(simulated.filter { $0.action == "desired" }.count >= 4, "a day with decisions to compare: \(simulated.count) activities")
        #expect(simulated.contains { $0.action == "drain" } && simulated.contains { $0.action == "launch" })

        // The live autoscaler: the production loop, a provider that only remembers, the same numbered ids.
        let time = Mutex(simulation.epoch)
        let clock: @Sendable () -> Int64 = { time.withLock { $0 } }
        let store = try await engine.openNew()
        let numbers = Mutex([PoolName: Int]())
        let providers = Dictionary(uniqueKeysWithValues: pools.map { ($0.name, SimulatedProvider(clock: clock)) })
        let autoscaler = Autoscaler(
            pools: pools, store: store, holder: "live", leaseTTL: .seconds(15), retention: .seconds(30 * 86_400), logger: Logger(label: "test"),
            clock: clock,
            newInstanceID: { pool in InstanceID("\(pool)-\(numbers.withLock { $0[pool, default: 0] += 1; return $0[pool]! })") }
        ) { pool in providers[pool.name]! }
        var loop = AutoscalerLoop(autoscaler)
        for input in outcome.inputs {
            switch input {
            case .register(let registration, let at):
                time.withLock { $0 = at }
                try await store.register(registration, now: at)
            case .report(let node, let report, let heartbeat, let rooms, let at):
                time.withLock { $0 = at }
                if heartbeat {
                    _ = try await store.heartbeat(node: node, report: report, rooms: rooms, leaseTTL: 60_000, now: at)
                } else {
                    _ = try await store.report(node: node, report, now: at)
                }
            case .pass(let at):
                time.withLock { $0 = at }
                await loop.tick(now: at)
            }
        }
        var live: [ScalingActivity] = []
        for pool in pools { live += try await store.activities(pool: pool.name, limit: 100_000) }
        try await store.close()
        func comparable(_ activities: [ScalingActivity]) -> [String] {
            activities.sorted { ($0.at, $0.id) < ($1.at, $1.id) }.map {
                "\($0.at) \($0.pool) \($0.action) \($0.instance?.rawValue ?? "-") \($0.from ?? -1)→\($0.to ?? -1) \($0.cause) \($0.reason) \($0.result)"
            }
        }
        let expected = comparable(simulated), actual = comparable(live)
        #expect(actual.count == expected.count)
        for (one, other) in zip(expected, actual) where one != other {
            Issue.record("first difference:\n  simulated \(one)\n  live      \(other)")
            break
        }
    }

    /// `deploy/autoscaling/model.json` is the defaults written out: reading it changes nothing.
    @Test func theShippedModelFileIsTheDefaults() throws {
        let path = URL(fileURLWithPath: Self.samplePath).deletingLastPathComponent().appendingPathComponent("model.json")
        #expect(try CapacityModel.parse(Data(contentsOf: path)) == CapacityModel())
    }

    @Test func aModelFileOverridesDefaultsAndRefusesUnknownKeys() throws {
        let model = try CapacityModel.parse(
            Data(#"{"videoKbps": 500, "kinds": {"jvb": {"egressMbps": 2000}}, "pools": {"b": {"pricePerHour": 1}}}"#.utf8))
        #expect(model.videoKbps == 500 && model.audioKbps == 40)
        let bridge = model.instance(pool: "b", kind: .jvb)
        #expect(bridge.egressMbps == 2000 && bridge.participants == 1000 && bridge.pricePerHour == 1)
        #expect(model.instance(pool: "other", kind: .jvb).pricePerHour == 0.17)
        #expect(throws: ModelError("unknown key 'videoKpbs'")) { try CapacityModel.parse(Data(#"{"videoKpbs": 1}"#.utf8)) }
        #expect(throws: ModelError("kinds.jvb: unknown key 'egress'")) { try CapacityModel.parse(Data(#"{"kinds": {"jvb": {"egress": 1}}}"#.utf8)) }
        #expect(throws: ModelError("kinds.sfu: not a kind (room-server, jvb, janus, jibri, custom)")) {
            try CapacityModel.parse(Data(#"{"kinds": {"sfu": {}}}"#.utf8))
        }
        #expect(throws: ModelError("kinds.jvb.participants must be ≥ 1")) {
            try CapacityModel.parse(Data(#"{"kinds": {"jvb": {"participants": 0}}}"#.utf8))
        }
        // Egress towards each of five: four videos at 500 kbit/s and three audio streams at 40; towards each of
        // ten, the receiver's 2,500 kbit/s.
        #expect(model.egressPerParticipant(5) == (4 * 500 + 3 * 40) * 125)
        #expect(model.egressPerParticipant(10) == 2_500 * 125)
        #expect(model.egressPerParticipant(1) == 0)
    }
}
