import Foundation
import NIOCore
import NIOPosix
import PlazaWebSocketClient

/// What `plaza bench load` does: fills an existing fleet with participants through its directory and holds them,
/// so the autoscaler has load to act on (and a drill sees what scale-out and drain do to real connections).
/// Participants join `rooms` rooms, `participantsPerRoom` each, `concurrency` joins at a time; the answer counts
/// the welcomed participants per node.
public struct LoadBench: Sendable {
    /// The directory's base URL, `http://host:port`.
    public var directory: String
    public var rooms = 10
    public var participantsPerRoom = 10
    /// Room names are `<prefix>-<n>`.
    public var prefix = "load"
    /// Seconds to hold everyone before leaving.
    public var hold = 60.0
    public var concurrency = 16

    public init(directory: String) {
        self.directory = directory
    }

    public func run(log: @escaping @Sendable (String) -> Void) async throws -> [String: Double] {
        guard let components = URLComponents(string: directory), let port = components.port else {
            throw BenchError("--directory must be http://host:port")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let http = HTTPClientPool(ports: [port], group: group)
        let held = HeldConnections()
        let outcome = JoinOutcome()
        let total = rooms * participantsPerRoom
        let (rooms, prefix, hold) = (self.rooms, self.prefix, self.hold)
        log("joining \(total) participants to \(rooms) rooms through \(directory)")
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for index in 0..<total {
                if index >= concurrency { try await tasks.next() }
                tasks.addTask {
                    await JoinBench.join(
                        room: "\(prefix)-\(index % rooms)", name: "load\(index)", due: monotonicNanos(), measured: true,
                        http: http, group: group, held: held, hold: hold, outcome: outcome)
                }
            }
            try await tasks.waitForAll()
        }
        let counts = outcome.counts.withLock { $0 }
        log("holding \(held.count) participants for \(hold) s (welcomed \(counts.welcomed), failed \(counts.joinFailed + counts.connectFailed + counts.notWelcomed))")
        let deadline = ContinuousClock.now + .milliseconds(Int64(hold * 1000))
        while ContinuousClock.now < deadline, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(200))
        }
        let connected = held.count
        held.closeAll()
        http.closeAll()
        try? await group.shutdownGracefully()
        return [
            "participants": Double(total), "welcomed": Double(counts.welcomed),
            "failed": Double(counts.joinFailed + counts.connectFailed + counts.notWelcomed),
            "connected_at_end": Double(connected), "join_to_welcome_ms_p99": outcome.total.quantile(0.99),
        ]
    }
}
