import Foundation
import Logging
import Synchronization
import Testing
import PlazaCore
import PlazaFleetModel
import PlazaFleet
import PlazaSQLite
import PlazaStore

/// The autoscaler's loop one tick at a time on a clock it is given, as `plaza simulate` runs it: an in-memory
/// store on the same clock, a provider that only remembers, numbered instances. Nothing reads the machine's time:
/// the clock starts in 1970, and the lease, the passes and the activities follow it.
@Suite struct AutoscalerLoopTests {
    /// Instances launched and terminated, in order; lists what runs.
    final class RememberingProvider: InstanceProvider {
        let log = Mutex<(running: [InstanceID], launched: [InstanceID], terminated: [InstanceID])>(([], [], []))
        func launch(_ request: LaunchRequest) async throws {
            log.withLock { if !$0.running.contains(request.id) { $0.running.append(request.id); $0.launched.append(request.id) } }
        }
        func terminate(_ id: InstanceID) async throws {
            log.withLock { $0.running.removeAll { $0 == id }; $0.terminated.append(id) }
        }
        func list() async throws -> [ProviderInstance] { log.withLock { $0.running.map { ProviderInstance(id: $0) } } }
        func protect(_ id: InstanceID) async throws {}
        func draining(_ id: InstanceID) async throws {}
    }

    static let pool = PoolConfiguration(
        name: "rooms", kind: .roomServer, region: "eu", min: 2, max: 4, desired: 2, period: 60, warmup: 0,
        provider: .local(LocalProviderSettings()), policies: [], drain: DrainRule(),
        health: HealthCheck(unhealthyThreshold: 2, registrationGrace: 120, reportTTL: 90))

    /// Runs ten simulated minutes from `t0`: two instances launched at once, registering 30 s later and reporting
    /// every minute; answers the activities and the provider's log.
    static func run(from t0: Int64) async throws -> (
        activities: [ScalingActivity], instances: [FleetInstance], launched: [InstanceID], leads: Bool
    ) {
        let time = Mutex(t0)
        let clock: @Sendable () -> Int64 = { time.withLock { $0 } }
        // The store's own clock is never read: the autoscaler is handed the simulated one.
        let store = try await SQLiteStore.inMemory(logger: Logger(label: "test"))
        let provider = RememberingProvider()
        let counter = Mutex(0)
        let autoscaler = Autoscaler(
            pools: [pool], store: store, holder: "simulation", leaseTTL: .seconds(15), retention: .seconds(30 * 86_400),
            logger: Logger(label: "test"), clock: clock,
            newInstanceID: { pool in InstanceID("\(pool)-\(counter.withLock { $0 += 1; return $0 })") }
        ) { _ in provider }
        var loop = AutoscalerLoop(autoscaler)
        for second in stride(from: Int64(0), through: 600, by: 1) {
            let now = t0 + second * 1000
            time.withLock { $0 = now }
            if second >= 30, second % 60 == 30 {
                for id in provider.log.withLock({ $0.running }) {
                    if second == 30 {
                        try await store.register(NodeRegistration(id: id.node, url: "http://\(id).test", region: "eu", capacity: 100), now: now)
                    }
                    _ = try await store.report(node: id.node, NodeReport(state: .serving), now: now)
                }
            }
            await loop.tick(now: now)
        }
        let activities = try await store.activities(pool: pool.name, limit: 100).reversed()
        let instances = try await store.instances(pool: pool.name, includeTerminated: true)
        let leads = loop.leadingControllers != nil
        try await store.close()
        return (Array(activities), instances, provider.log.withLock { $0.launched }, leads)
    }

    @Test func aLoopOnASimulatedClockLeadsLaunchesAndServesOnThatClockAlone() async throws {
        let t0: Int64 = 86_400_000  // 2 January 1970
        let run = try await Self.run(from: t0)
        #expect(run.leads)
        #expect(run.launched == ["rooms-1", "rooms-2"], "numbered, in order")
        let launches = run.activities.filter { $0.action == "launch" }
        #expect(launches.map(\.at) == [t0, t0], "at the simulated start: \(run.activities)")
        #expect(run.activities.allSatisfy { $0.at >= t0 && $0.at <= t0 + 600_000 })
        // Serving from the first pass after they reported (30 s in), launched at the start.
        #expect(run.instances.map(\.state) == [.serving, .serving])
        #expect(run.instances.allSatisfy { $0.launchedAt == t0 && $0.stateSince == t0 + 60_000 }, "\(run.instances)")
    }

    @Test func theSameInputsGiveTheSameDecisions() async throws {
        let first = try await Self.run(from: 86_400_000)
        let second = try await Self.run(from: 86_400_000)
        #expect(first.activities == second.activities)
        #expect(first.instances == second.instances)
        #expect(first.launched == second.launched)
    }
}
