import Foundation
import NIOCore
import PlazaWebSocketClient

/// `plaza bench failover`: a fleet of `plaza node` and `plaza directory` processes on one PostgreSQL store,
/// one writer per room sending chat messages without pause, and `kill -9` of the node hosting a room, again
/// and again. Measures how long each moved room takes to serve again (kill → first acknowledgement from its new
/// home) and checks, at the end, every acknowledged message against the stored history: none may be missing,
/// stored under another offset, or stored twice.
public struct FailoverDrill: Sendable {
    /// The `plaza` executable whose `node` and `directory` are run.
    public var executable: String
    /// The shared store, `postgres://…`.
    public var store: String
    public var nodes = 3
    public var directories = 2
    public var rooms = 6
    public var cycles = 20
    /// Chat messages per second each room's writer sends.
    public var messagesPerSecond = 10.0
    /// Extra `PLAZA_*` settings for every process (heartbeat timings, for instance).
    public var environment: [String: String] = [:]
    /// Longest wait for a killed node's rooms to serve again before the cycle counts as failed.
    public var serveAgainTimeout = 60.0

    public init(executable: String, store: String) {
        (self.executable, self.store) = (executable, store)
    }

    /// What the drill saw.
    public struct Report: Sendable {
        public var cycles = 0
        /// Seconds from the kill to the first acknowledgement from the new home, one per moved room.
        public var servedAgain: [Double] = []
        public var acknowledged = 0
        /// Acknowledged messages missing from the history, or stored under another offset than acknowledged.
        public var lost = 0
        /// Messages stored more than once, or acknowledged twice with different offsets.
        public var duplicated = 0
        /// Cycles whose rooms did not serve again within the timeout, and other faults, in words.
        public var failures: [String] = []

        /// The figures `plaza bench` prints.
        public var results: [String: Double] {
            let sorted = servedAgain.sorted()
            func quantile(_ q: Double) -> Double {
                sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)]
            }
            return [
                "cycles": Double(cycles), "rooms_moved": Double(servedAgain.count), "acknowledged": Double(acknowledged),
                "lost": Double(lost), "duplicated": Double(duplicated), "failed_cycles": Double(failures.count),
                "serve_again_s_p50": quantile(0.5), "serve_again_s_max": sorted.last ?? .nan,
            ]
        }
    }

    public func run(log: @escaping @Sendable (String) -> Void) async throws -> Report {
        var writers: [RoomWriter] = []
        var tasks: [Task<Void, Never>] = []
        log("starting \(directories) directories and \(nodes) nodes")
        var fleet = try await BenchFleet.start(
            executable: executable, store: store, nodes: nodes, directories: directories, environment: environment)
        defer {
            for task in tasks { task.cancel() }
            fleet.stop()
        }

        let interval = Duration.milliseconds(Int64(1000 / messagesPerSecond))
        for index in 0..<rooms {
            let writer = RoomWriter(room: "drill-\(index)", directories: fleet.directories.map(\.baseURL))
            writers.append(writer)
            tasks.append(Task { await writer.run(interval: interval) })
        }
        var report = Report()
        guard await allServing(writers, since: monotonicNanos(), timeout: 30) else {
            throw BenchError("the rooms did not start serving")
        }
        for cycle in stride(from: 1, through: cycles, by: 1) {
            let chosen = writers[(cycle - 1) % writers.count]
            guard let victim = await chosen.home, let process = fleet.nodes[victim] else {
                report.failures.append("cycle \(cycle): \(chosen.room) has no home")
                continue
            }
            var affected: [RoomWriter] = []
            for writer in writers where await writer.home == victim { affected.append(writer) }
            process.kill9()
            let killedAt = monotonicNanos()
            let deadline = killedAt + UInt64(serveAgainTimeout * 1e9)
            var pending = affected
            while !pending.isEmpty, monotonicNanos() < deadline {
                try await Task.sleep(for: .milliseconds(20))
                var still: [RoomWriter] = []
                for writer in pending {
                    // An acknowledgement the killed node sent just before dying does not count: only one from a
                    // home that welcomed the writer after the kill.
                    if let acknowledgedAt = await writer.acknowledged(byAHomeWelcomedAfter: killedAt) {
                        report.servedAgain.append(Double(acknowledgedAt - killedAt) / 1e9)
                    } else {
                        still.append(writer)
                    }
                }
                pending = still
            }
            report.cycles = cycle
            let worst = report.servedAgain.suffix(affected.count - pending.count).max() ?? .nan
            log("cycle \(cycle): killed \(victim) (\(affected.count) rooms), served again after \(String(format: "%.2f", worst)) s")
            for writer in pending {
                report.failures.append(
                    "cycle \(cycle): \(writer.room) did not serve again within \(serveAgainTimeout) s (\(await writer.lastEvent))")
                log(report.failures.last!)
            }
            let index = Int(victim.dropFirst("node-".count))!
            try await fleet.startNode(index)
            if !(await allServing(writers, since: monotonicNanos(), timeout: serveAgainTimeout)) {
                report.failures.append("cycle \(cycle): not every room served after \(victim) restarted")
                log(report.failures.last!)
            }
        }

        for task in tasks { task.cancel() }
        for writer in writers { await writer.stop() }
        for writer in writers {
            let check = try await writer.verify(directory: fleet.directories[0].baseURL)
            report.acknowledged += check.acknowledged
            report.lost += check.lost
            report.duplicated += check.duplicated
        }
        log("checked \(report.acknowledged) acknowledged messages: \(report.lost) lost, \(report.duplicated) duplicated")
        return report
    }

}
