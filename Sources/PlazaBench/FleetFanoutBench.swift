import Foundation
import NIOPosix

/// What `plaza bench fleet-fanout` measures: chat fan-out spread over a fleet. `rooms` rooms of
/// `clientsPerRoom` clients each join through a directory, which places the rooms on the `nodes` nodes; one
/// client per room sends chat messages (`rate` messages per second over all rooms). Every room lives on one node,
/// so the fleet's deliveries per second grow with its nodes while each node's cost per delivery stays that of one
/// node.
public struct FleetFanoutBench: Sendable {
    public var settings: BenchSettings
    /// The fleet's store, `postgres://…`.
    public var store: String
    public var nodes = 2
    public var rooms = 20
    public var clientsPerRoom = 100
    /// Chat messages per second, all rooms together.
    public var rate = 2_000.0
    public var size = 100

    public init(settings: BenchSettings, store: String) {
        (self.settings, self.store) = (settings, store)
    }

    public func run(log: @escaping @Sendable (String) -> Void) async throws -> [String: Double] {
        log("starting 1 directory and \(nodes) nodes")
        let fleet = try await BenchFleet.start(
            executable: settings.executable, store: store, nodes: nodes, directories: 1,
            environment: [
                "PLAZA_CLUSTER_CAPACITY": "1000000", "PLAZA_LIMITS_PARTICIPANTS_PER_ROOM": String(clientsPerRoom + 10),
                "PLAZA_LIMITS_FRAMES_PER_SECOND": "100000", "PLAZA_LIMITS_FRAME_BURST": "100000",
                "PLAZA_LIMITS_OUTBOUND_QUEUE_BYTES": String(8 << 20),
            ])
        defer { fleet.stop() }
        let (rooms, clientsPerRoom) = (self.rooms, self.clientsPerRoom)
        let run = UUID().uuidString.prefix(6).lowercased()
        let directory = fleet.directories[0].baseURL
        log("joining \(rooms) rooms of \(clientsPerRoom) clients through the directory")
        let answers = try await concurrentMap(Array(0..<(rooms * clientsPerRoom)), width: 32) { index in
            let (status, body) = try await httpRequest(
                "POST", directory + "/api/v1/join", body: #"{"room":"f\#(run)-\#(index % rooms)","name":"c\#(index)"}"#)
            return try JoinAnswer(status: status, body: body)
        }
        var roomsPerNode: [String: Set<Int>] = [:]
        for (index, answer) in answers.enumerated() { roomsPerNode[answer.node ?? "?", default: []].insert(index % rooms) }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: settings.generatorThreads)
        let histogram = LatencyHistogram()
        let pool = answers.indices.map(BenchClient.init)
        let textKey = Array(#""text":"t="#.utf8)
        log("connecting and seating \(pool.count) clients")
        try await concurrentMap(pool, width: 64) { client in
            let answer = answers[client.index]
            try await client.connect(port: answer.port, group: group, timestampKey: textKey, unitNanos: 1, histogram: histogram)
            client.send(#"{"type":"hello","token":"\#(answer.token)"}"#)
        }
        try await waitForWelcomes(pool)

        // The first `rooms` clients are one per room (client i is in room i % rooms).
        log("sending \(rate) messages/s in \(rooms) rooms (\(Int(rate) * clientsPerRoom) deliveries/s offered)")
        let control = SendControl()
        let senderTasks = control.sendChat(from: Array(pool.prefix(rooms)), rate: rate, size: size)
        try await progress("warm-up", seconds: settings.warmup, log: log)
        histogram.reset()
        let chatsBefore = pool.reduce(0) { $0 + $1.chats.load(ordering: .relaxed) }
        let cpuBefore = fleet.cpuSeconds()
        let clockBefore = monotonicNanos()
        try await progress("measuring", seconds: settings.duration, log: log)
        let cpuAfter = fleet.cpuSeconds()
        let elapsed = Double(monotonicNanos() - clockBefore) / 1e9
        let deliveries = Double(pool.reduce(0) { $0 + $1.chats.load(ordering: .relaxed) } - chatsBefore)
        let (p50, p99) = (histogram.quantile(0.5), histogram.quantile(0.99))
        control.stop.store(true, ordering: .relaxed)
        for task in senderTasks { await task.value }
        // Every client of a room receives every message of its room, its sender's included.
        let expected = control.sent.load(ordering: .relaxed) * clientsPerRoom
        let received = try await waitForDeliveries(pool, expected: expected)
        let closed = pool.filter { $0.closedCode.withLock { $0 } != nil }.count
        try? await group.shutdownGracefully()

        var results = cpuCores(before: cpuBefore, after: cpuAfter, elapsed: elapsed)
        let nodeCores = results["cpu_cores_nodes"] ?? 0
        for (node, placed) in roomsPerNode { results["rooms_on_\(node)"] = Double(placed.count) }
        results.merge([
            "nodes": Double(nodes), "rooms": Double(rooms), "clients_per_room": Double(clientsPerRoom),
            "rate_msgs_per_s": rate, "message_bytes": Double(size),
            "deliveries_per_s": deliveries / elapsed,
            "node_cpu_us_per_delivery": nodeCores * elapsed * 1e6 / max(deliveries, 1),
            "latency_p50_ms": p50, "latency_p99_ms": p99,
            "lost_deliveries": Double(expected - received), "clients_closed": Double(closed),
        ]) { $1 }
        return results
    }
}
