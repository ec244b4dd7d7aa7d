import Foundation
import Testing
import PlazaFleetModel
import PlazaAutoscaling
@testable import PlazaFleet

/// The pool file: the annotated sample (with the operator's seed rules) loads and its rules run as written;
/// bad files are refused with the pool and field at fault.
struct PoolFileTests {
    static let samplePath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("deploy/autoscaling/pools.json").path

    /// Feeds one value per instance per period; returns the capacity after each period.
    static func run(_ pool: PoolConfiguration, periods: Int, capacity: Int, metric: String, value: Double) -> [Int] {
        var evaluator = PolicyEvaluator(policies: pool.policies, minimum: pool.min, maximum: pool.max)
        var capacity = capacity
        var trace: [Int] = []
        for period in 0..<periods {
            let now = Double(period) * pool.period
            if let decision = evaluator.evaluate(
                PoolPeriod(now: now, capacity: capacity, metrics: [metric: Array(repeating: value, count: capacity)]))
            {
                capacity = decision.to
            }
            trace.append(capacity)
        }
        return trace
    }

    @Test func theSampleLoadsAndItsSeedRulesRunAsWritten() throws {
        let file = try PoolFile.load(path: Self.samplePath)
        #expect(file.pools.map(\.name) == ["rooms-eu", "bridges-eu-shard1", "recorders-eu"])
        #expect(file.pools.map(\.kind) == [.roomServer, .jvb, .jibri])
        let bridges = file.pools[1], recorders = file.pools[2]

        // Bridges: ≥ 750 MB a 60 s period on average (12.5 MB/s, as bytesOut counts) for 10 periods → one more;
        // never below 2.
        #expect(Self.run(bridges, periods: 10, capacity: 2, metric: "bytesOut", value: 13_000_000) == Array(repeating: 2, count: 9) + [3])
        #expect(Self.run(bridges, periods: 10, capacity: 2, metric: "bytesOut", value: 12_499_999).allSatisfy { $0 == 2 })
        #expect(Self.run(bridges, periods: 10, capacity: 3, metric: "bytesOut", value: 6_250_000).last == 2)
        #expect(Self.run(bridges, periods: 30, capacity: 2, metric: "bytesOut", value: 0).allSatisfy { $0 == 2 })
        #expect(bridges.drain.atDeadline == .wait)

        // Recorders: idle sum < 2 for 5 periods → one more; > 3 for 10 periods → one fewer.
        let busy = Self.run(recorders, periods: 5, capacity: 3, metric: "idle", value: 0)
        #expect(busy == [3, 3, 3, 3, 4])
        let idle = Self.run(recorders, periods: 10, capacity: 5, metric: "idle", value: 1)
        #expect(idle == Array(repeating: 5, count: 9) + [4])
        #expect(Self.run(recorders, periods: 20, capacity: 3, metric: "idle", value: 1).allSatisfy { $0 == 3 })
    }

    @Test func theLaptopSampleIsOneLocalPoolOfRoomServersThatFollowsLoad() throws {
        let path = URL(fileURLWithPath: Self.samplePath).deletingLastPathComponent().appendingPathComponent("local.json").path
        let pool = try #require(try PoolFile.load(path: path).pools.first)
        #expect(pool.kind == .roomServer && pool.min == 1 && pool.max == 4)
        guard case .local = pool.provider else { Issue.record("the local provider"); return }
        // Corrected load 0.9 on one server against a target of 0.6: ceil(1 × 0.9 / 0.6) = 2.
        #expect(Self.run(pool, periods: 1, capacity: 1, metric: "load", value: 0.9) == [2])
        // For `plaza serve --pools`, a pool that names no provider gets the local one.
        let bare = try PoolFile.parse(
            Data(#"{"pools": [{"name": "p", "kind": "room-server", "min": 1, "max": 3}]}"#.utf8),
            defaultProvider: .local(LocalProviderSettings()))
        #expect(bare.pools.first?.provider == .local(LocalProviderSettings()))
        // The one-machine samples load as `plaza serve --pools` reads them.
        for sample in ["local.json", "local-janus.json"] {
            let path = URL(fileURLWithPath: Self.samplePath).deletingLastPathComponent().appendingPathComponent(sample).path
            #expect(try !PoolFile.load(path: path, defaultProvider: .local(LocalProviderSettings())).pools.isEmpty)
        }
        // A local janus pool runs `plaza janus` unless told otherwise.
        let bridges = try PoolFile.parse(
            Data(#"{"pools": [{"name": "b", "kind": "janus", "min": 1, "max": 2, "provider": {"type": "local"}}]}"#.utf8),
            defaultProvider: .local(LocalProviderSettings()))
        #expect(bridges.pools.first?.kind == .janus)
        #expect(LocalProviderSettings.defaultArguments(.janus).first == "janus")
    }

    static func pool(_ fields: String) -> String {
        """
        {"pools": [{"name": "p", "kind": "room-server", "min": 1, "max": 3, "provider": {"type": "local"}\(fields)}]}
        """
    }

    @Test(arguments: [
        (#"{"pools": [{"name": "p", "kind": "room-server", "min": 1, "max": 3}]}"#, "pools[0]: missing 'provider'"),
        (#"{"pools": [{"name": "p", "kind": "room-server", "min": 1, "provider": {"type": "local"}}]}"#, "pools[0]: missing 'max'"),
        (pool(#", "desired": 5"#), "pool 'p': needs 0 ≤ min ≤ desired ≤ max (min 1, desired 5, max 3)"),
        (#"{"pools": [{"name": "p", "kind": "jvb", "min": 1, "max": 3, "provider": {"type": "local"}}]}"#,
         "pool 'p': a local provider for a jvb pool needs 'arguments' (what to run)"),
        (#"{"pools": [{"name": "p", "kind": "room-server", "min": 1, "max": 3, "provider": {"type": "ec3"}}]}"#,
         "pools[0].provider: unknown provider type 'ec3' (local, command, aws)"),
        (pool(#", "policies": [{"type": "step", "name": "s", "adjustment": 1, "alarm": {"metric": "load", "comparison": "GreaterThanThreshold", "threshold": 1, "period": 30, "evaluationPeriods": 2}}]"#),
         "pool 'p': policy 's' has an alarm period of 30.0 s; it must be the pool's period (60.0 s)"),
        (pool(#", "drain": {"deadline": 0}"#), "pool 'p': drain.deadline must be > 0"),
        (pool(#", "drain": {"deadlin": 60}"#), "pools[0].drain: unknown key 'deadlin'"),
        (pool(#", "desird": 2"#), "pools[0]: unknown key 'desird'"),
        (pool(#", "policies": [{"type": "step", "name": "s", "adjustment": 1, "alarm": {"metric": "load", "comparison": "GreaterThanThreshold", "threshold": 1, "period": 60, "evaluationPeriods": 2, "treatMissing": "ignore"}}]"#),
         "pools[0].policies[0].alarm: unknown key 'treatMissing'"),
        (pool(#", "policies": [{"type": "step", "name": "s", "adjustment": 1, "alarm": {"metric": "stress", "comparison": "GreaterThanThreshold", "threshold": 1, "period": 60, "evaluationPeriods": 2}}]"#),
         "pool 'p': policy 's' reads 'stress', which no instance reports (bytesIn, bytesOut, connections, cpu, idle, largestRoom, load, participants, rooms)"),
        (#"{"pools": [{"name": "p", "kind": "room-server", "min": 1, "max": 3, "provider": {"type": "local"}}, {"name": "p", "kind": "room-server", "min": 1, "max": 3, "provider": {"type": "local"}}]}"#,
         "pool 'p' is declared twice"),
    ])
    func badFilesAreRefusedWithWhatIsWrong(text: String, message: String) {
        #expect(throws: PoolFileError(message)) { try PoolFile.parse(Data(text.utf8)) }
    }
}
