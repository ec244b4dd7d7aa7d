import PlazaWebSocketClient
import NIOCore
import NIOPosix
import Synchronization
import Foundation

/// What `plaza bench space` measures: `avatars` clients in one space, each moving at `rate` Hz in a random
/// walk over a `mapSize`² map; move latency (send to arrival at each viewer) and bytes per client per second.
///
/// Each move carries its send time in `dir` (`t<microseconds>`), so every entry of every `moves` frame a
/// viewer receives is one latency sample.
public struct SpaceBench: Sendable {
    public var settings: BenchSettings
    public var avatars = 3_000
    public var rate = 5.0
    public var mapSize = 8_192.0

    public init(settings: BenchSettings) { self.settings = settings }

    public func run(log: @Sendable (String) -> Void) async throws -> [String: Double] {
        let (warmup, duration) = (settings.warmup, settings.duration)
        let setup = try await settings.setUp(
            clients: avatars, room: "space", environment: ["PLAZA_LIMITS_PARTICIPANTS_PER_ROOM": String(avatars + 10)],
            log: log)
        let (server, group, histogram, pool, tokens) = (setup.server, setup.group, setup.histogram, setup.pool, setup.tokens)
        defer { server.stop() }
        let dirKey = Array(#""dir":"t"#.utf8)
        log("connecting and seating in batches")
        for start in stride(from: 0, to: avatars, by: 250) {
            let batch = Array(pool[start..<min(start + 250, avatars)])
            try await concurrentMap(batch, width: 64) { client in
                try await client.connect(port: server.port, group: group, timestampKey: dirKey, unitNanos: 1000, histogram: histogram)
                client.send(#"{"type":"hello","token":"\#(tokens[client.index])"}"#)
            }
            while batch.contains(where: { !$0.welcomed.load(ordering: .relaxed) }) {
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        log("moving \(avatars) avatars at \(rate) Hz")
        let control = SendControl()
        let (count, rate, mapSize) = (avatars, self.rate, self.mapSize)
        let driver = Task { [pool] in
            var positions = (0..<count).map { _ in (Double.random(in: 0..<mapSize), Double.random(in: 0..<mapSize)) }
            let ticksPerSecond = 50.0
            let perTick = Double(count) * rate / ticksPerSecond
            var carry = 0.0
            var cursor = 0
            var next = monotonicNanos()
            while !control.stop.load(ordering: .relaxed) {
                let now = monotonicNanos()
                if now < next { try? await Task.sleep(for: .nanoseconds(Int64(next - now))); continue }
                next += UInt64(1e9 / ticksPerSecond)
                carry += perTick
                var batch: [(WebSocketConnection, String)] = []
                while carry >= 1 {
                    carry -= 1
                    var (x, y) = positions[cursor]
                    x = min(max(0, x + Double.random(in: -32...32)), mapSize - 1)
                    y = min(max(0, y + Double.random(in: -32...32)), mapSize - 1)
                    positions[cursor] = (x, y)
                    if let connection = pool[cursor].connection.withLock({ $0 }) {
                        batch.append((connection, #"{"type":"move","x":\#(Int(x)),"y":\#(Int(y)),"dir":"t\#(monotonicNanos() / 1000)"}"#))
                    }
                    control.sent.add(1, ordering: .relaxed)
                    cursor = (cursor + 1) % count
                }
                WebSocketConnection.send(batch)
            }
        }
        try await progress("warm-up", seconds: warmup, log: log)
        histogram.reset()
        let bytesBefore = pool.map { $0.bytes.load(ordering: .relaxed) }
        let movesBefore = control.sent.load(ordering: .relaxed)
        let cpuBefore = ProcessSample.read(pid: server.pid)!
        let clockBefore = monotonicNanos()
        try await progress("measuring", seconds: duration, log: log)
        let cpuAfter = ProcessSample.read(pid: server.pid)!
        let elapsed = Double(monotonicNanos() - clockBefore) / 1e9
        let perClient = zip(pool, bytesBefore).map { Double($0.bytes.load(ordering: .relaxed) - $1) / elapsed }
        let movesSent = Double(control.sent.load(ordering: .relaxed) - movesBefore)
        let p50 = histogram.quantile(0.5), p99 = histogram.quantile(0.99)
        control.stop.store(true, ordering: .relaxed)
        await driver.value
        let closed = pool.filter { $0.closedCode.withLock { $0 } != nil }.count
        try? await group.shutdownGracefully()
        return [
            "avatars": Double(avatars), "rate_hz": rate, "map_size": mapSize,
            "moves_sent_per_s": movesSent / elapsed,
            "move_latency_p50_ms": p50, "move_latency_p99_ms": p99,
            "bytes_per_client_per_s_mean": perClient.reduce(0, +) / Double(perClient.count),
            "bytes_per_client_per_s_max": perClient.max() ?? 0,
            "server_cpu_cores": (cpuAfter.cpuSeconds - cpuBefore.cpuSeconds) / elapsed,
            "server_rss_mib": Double(cpuAfter.residentBytes) / 1048576, "clients_closed": Double(closed),
        ]
    }
}
