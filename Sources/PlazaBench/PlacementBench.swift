import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Logging
import PlazaStore
import PlazaRoles
import PlazaFleetModel
import PlazaPlacement
import PlazaWebSocketClient

/// What `plaza bench placement` measures: `POST /api/v1/join` of new rooms through `plaza directory` processes,
/// with `nodes` registered nodes in the registry (PostgreSQL, or a SQLite file for the fleet of one machine), every one of them heartbeating like a real node
/// (`heartbeatInterval`), so each join is a placement decision against a live registry. Closed loop:
/// `concurrency` keep-alive connections, each sending its next join when the previous one is answered.
public struct PlacementBench: Sendable {
    public var settings: BenchSettings
    /// The fleet's store, `postgres://…` or `sqlite:<path>`; the bench registers its nodes there.
    public var store: String
    public var nodes = 1_000
    public var directories = 1
    public var concurrency = 64
    /// Seconds between two reports of one registered node.
    public var heartbeatInterval = 2.0
    /// Burst mode: this many joins of new rooms as fast as `concurrency` allows, against nodes that all report
    /// the same load, then how evenly the rooms spread (instead of the timed run).
    public var burst: Int?

    public init(settings: BenchSettings, store: String) {
        (self.settings, self.store) = (settings, store)
    }

    public func run(log: @escaping @Sendable (String) -> Void) async throws -> [String: Double] {
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let registry = try await SharedStores.open(store, logger: logger)
        let run = UUID().uuidString.prefix(8).lowercased()
        log("registering \(nodes) nodes")
        let ids = (0..<nodes).map { NodeID("bench-\(run)-\($0)") }
        try await concurrentMap(ids, width: 16) { id in
            try await registry.register(
                NodeRegistration(id: id, url: "http://\(id).invalid:8080", region: "default", capacity: 1_000_000),
                now: registry.fleetTime())
        }
        // Every registered node reports on its own schedule, as a fleet would: spread over the interval. In
        // burst mode every node reports the same figures once, at once, and the burst meets those reports when
        // they are about `heartbeatInterval` old.
        let heartbeats = Task {
            var round = 0
            let varied = burst == nil
            while !Task.isCancelled, varied || round == 0 {
                let started = ContinuousClock.now
                for (index, id) in ids.enumerated() {
                    let spread = varied ? Int64(heartbeatInterval * 1000) * Int64(index) / Int64(ids.count) : 0
                    try? await Task.sleep(until: started + .milliseconds(spread))
                    let report = NodeReport(
                        state: .serving, connections: 100 + (varied ? (index + round) % 50 : 0), rooms: 10,
                        participants: 100 + (varied ? (index * 7 + round) % 50 : 0), cpu: 0.2, bytesOutPerSecond: 1e6)
                    _ = try? await registry.heartbeat(
                        node: id, report: report, rooms: [], leaseTTL: 6_000, now: registry.fleetTime())
                }
                round += 1
            }
        }
        defer { heartbeats.cancel() }

        let fleet = try await BenchFleet.start(
            executable: settings.executable, store: store, nodes: 0, directories: directories, environment: [:])
        defer { fleet.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: settings.generatorThreads)
        let ports = fleet.directories.map(\.port)
        let clients = try await concurrentMap(Array(0..<concurrency), width: 16) { index in
            try await KeepAliveHTTPClient.connect(host: "127.0.0.1", port: ports[index % ports.count], group: group)
        }
        if let burst {
            _ = await heartbeats.value
            try await Task.sleep(for: .seconds(max(0, heartbeatInterval - 0.5)))
            let results = try await spread(of: burst, rooms: "b\(run)", clients: clients)
            for client in clients { client.close() }
            try await group.shutdownGracefully()
            return results
        }
        let histogram = LatencyHistogram()
        let state = RunState()
        let workers = clients.enumerated().map { index, client in
            Task {
                var sequence = 0
                while !state.stop.load(ordering: .relaxed) {
                    sequence += 1
                    let body = #"{"room":"p\#(run)-\#(index)-\#(sequence)","name":"Bench"}"#
                    let started = monotonicNanos()
                    let status = (try? await client.request(.POST, "/api/v1/join", json: body))?.status ?? 0
                    guard state.measuring.load(ordering: .relaxed) else { continue }
                    if status == 200 {
                        histogram.record(nanos: monotonicNanos() - started)
                        state.completed.add(1, ordering: .relaxed)
                    } else {
                        state.failed.add(1, ordering: .relaxed)
                    }
                }
            }
        }
        log("warming up for \(settings.warmup) s")
        try await progress("warm-up", seconds: settings.warmup, log: log)
        let cpuBefore = fleet.cpuSeconds().values.reduce(0, +)
        state.measuring.store(true, ordering: .relaxed)
        let started = monotonicNanos()
        log("measuring for \(settings.duration) s")
        try await progress("measuring", seconds: settings.duration, log: log)
        state.measuring.store(false, ordering: .relaxed)
        let elapsed = Double(monotonicNanos() - started) / 1e9
        let cpuAfter = fleet.cpuSeconds().values.reduce(0, +)
        state.stop.store(true, ordering: .relaxed)
        for worker in workers { await worker.value }
        for client in clients { client.close() }
        try await group.shutdownGracefully()
        heartbeats.cancel()
        try await registry.close()

        let decisions = Double(state.completed.load(ordering: .relaxed))
        return [
            "registered_nodes": Double(nodes), "directories": Double(directories), "concurrency": Double(concurrency),
            "decisions_per_second": decisions / elapsed, "errors": Double(state.failed.load(ordering: .relaxed)),
            "latency_ms_p50": histogram.quantile(0.5), "latency_ms_p99": histogram.quantile(0.99),
            "directory_cpu_cores": (cpuAfter - cpuBefore) / elapsed,
        ]
    }
}

extension PlacementBench {
    /// Joins `count` new rooms over `clients` (each one request at a time) and counts the rooms each node got.
    fileprivate func spread(of count: Int, rooms prefix: String, clients: [KeepAliveHTTPClient]) async throws -> [String: Double] {
        final class Tally: Sendable {
            let placed = Mutex<[String: Int]>([:])
            let failed = Atomic<Int>(0)
        }
        let tally = Tally()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for (index, client) in clients.enumerated() {
                tasks.addTask {
                    for room in stride(from: index, to: count, by: clients.count) {
                        let (status, body) = try await client.request(.POST, "/api/v1/join", json: #"{"room":"\#(prefix)-\#(room)","name":"B"}"#)
                        guard let node = (try? JoinAnswer(status: status, body: Data(body.readableBytesView)))?.node else {
                            tally.failed.add(1, ordering: .relaxed)
                            continue
                        }
                        tally.placed.withLock { $0[node, default: 0] += 1 }
                    }
                }
            }
            try await tasks.waitForAll()
        }
        let counts = tally.placed.withLock { $0 }
        let mean = Double(count) / Double(nodes)
        let most = Double(counts.values.max() ?? 0)
        return [
            "registered_nodes": Double(nodes), "burst_rooms": Double(count), "errors": Double(tally.failed.load(ordering: .relaxed)),
            "rooms_per_node_mean": mean, "rooms_per_node_max": most, "rooms_per_node_min": Double(nodes > counts.count ? 0 : counts.values.min() ?? 0),
            "max_over_mean": most / mean,
        ]
    }
}

/// The counters and switches the workers of a closed-loop benchmark share.
final class RunState: Sendable {
    let completed = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let measuring = Atomic<Bool>(false)
    let stop = Atomic<Bool>(false)
}
