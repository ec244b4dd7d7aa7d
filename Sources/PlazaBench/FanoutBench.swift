import PlazaWebSocketClient
import NIOCore
import NIOPosix
import Synchronization
import Foundation

/// One generated client: its connection and what it has seen.
final class BenchClient: Sendable {
    let index: Int
    let welcomed = Atomic<Bool>(false)
    let chats = Atomic<Int>(0)
    let bytes = Atomic<Int>(0)
    let closedCode = Mutex<UInt16??>(nil)
    let connection = Mutex<WebSocketConnection?>(nil)

    init(index: Int) { self.index = index }

    func send(_ text: String) { connection.withLock { $0 }?.send(text) }

    /// Connects and counts what arrives: bytes, the `welcome`, and one latency sample for each `timestampKey`
    /// found (the integer after it is a send time in units of `unitNanos` on `monotonicNanos()`'s clock).
    func connect(
        port: Int, group: any EventLoopGroup, timestampKey: [UInt8], unitNanos: UInt64, histogram: LatencyHistogram,
        tls: BenchTLS? = nil
    ) async throws {
        let connection = try await WebSocketConnection.connect(
            host: "127.0.0.1", port: port, group: group, tls: tls.map { ($0.clientContext, "localhost") },
            callbacks: .init(
                onMessage: { buffer in
                    self.bytes.add(buffer.readableBytes, ordering: .relaxed)
                    let now = monotonicNanos() / unitNanos
                    var samples: [UInt64] = []
                    buffer.withUnsafeReadableBytes { raw in
                        // `{"type":"w…`: the welcome.
                        if !self.welcomed.load(ordering: .relaxed), raw.count > 17, raw[9] == UInt8(ascii: "w") {
                            self.welcomed.store(true, ordering: .relaxed)
                        }
                        var at = 0
                        while let (sent, end) = scanInteger(raw, after: timestampKey, from: at) {
                            samples.append((now &- sent) &* unitNanos)
                            at = end
                        }
                    }
                    if !samples.isEmpty {
                        self.chats.add(samples.count, ordering: .relaxed)
                        histogram.record(samples)
                    }
                },
                onClose: { code in self.closedCode.withLock { $0 = .some(code) } }
            ))
        self.connection.withLock { $0 = connection }
    }
}

/// What `plaza bench fanout` measures: one room of `clients` connections, `senders` of which send chat
/// messages at `rate` messages per second in total, for `duration` seconds after a warm-up.
public struct FanoutBench: Sendable {
    public var settings: BenchSettings
    public var clients = 1_000
    public var senders = 10
    public var rate = 200.0
    public var size = 100

    public init(settings: BenchSettings) { self.settings = settings }

    public func run(log: @Sendable (String) -> Void) async throws -> [String: Double] {
        let (warmup, duration) = (settings.warmup, settings.duration)
        let setup = try await settings.setUp(
            clients: clients, room: "bench",
            environment: [
                "PLAZA_LIMITS_PARTICIPANTS_PER_ROOM": String(clients + 10),
                "PLAZA_LIMITS_FRAMES_PER_SECOND": "100000", "PLAZA_LIMITS_FRAME_BURST": "100000",
                "PLAZA_LIMITS_OUTBOUND_QUEUE_BYTES": String(8 << 20),
            ], log: log)
        let (server, group, histogram, pool, tokens) = (setup.server, setup.group, setup.histogram, setup.pool, setup.tokens)
        defer { server.stop() }
        let idleBefore = ProcessSample.read(pid: server.pid)!
        log("connecting")
        let textKey = Array(#""text":"t="#.utf8)
        try await concurrentMap(pool, width: 64) { client in
            try await client.connect(
                port: server.port, group: group, timestampKey: textKey, unitNanos: 1, histogram: histogram, tls: settings.tls)
        }
        try await Task.sleep(for: .seconds(1))
        let connectedSample = ProcessSample.read(pid: server.pid)!
        log("seating \(clients) clients in one room")
        let seatStart = monotonicNanos()
        for (client, token) in zip(pool, tokens) { client.send(#"{"type":"hello","token":"\#(token)"}"#) }
        try await waitForWelcomes(pool)
        let seatSeconds = Double(monotonicNanos() - seatStart) / 1e9
        try await Task.sleep(for: .seconds(2))
        let idleAfter = ProcessSample.read(pid: server.pid)!
        let perConnectionKiB = Double(idleAfter.residentBytes - idleBefore.residentBytes) / Double(clients) / 1024

        log("sending \(rate) messages/s from \(senders) senders (\(Int(rate) * clients) deliveries/s offered)")
        let control = SendControl()
        let senderTasks = control.sendChat(from: Array(pool.prefix(senders)), rate: rate, size: size)
        try await progress("warm-up", seconds: warmup, log: log)
        histogram.reset()
        let chatsBefore = pool.reduce(0) { $0 + $1.chats.load(ordering: .relaxed) }
        let cpuBefore = ProcessSample.read(pid: server.pid)!
        let clockBefore = monotonicNanos()
        try await progress("measuring", seconds: duration, log: log)
        let cpuAfter = ProcessSample.read(pid: server.pid)!
        let elapsed = Double(monotonicNanos() - clockBefore) / 1e9
        let chatsAfter = pool.reduce(0) { $0 + $1.chats.load(ordering: .relaxed) }
        let p50 = histogram.quantile(0.5), p99 = histogram.quantile(0.99), worst = histogram.quantile(1.0)
        control.stop.store(true, ordering: .relaxed)
        for task in senderTasks { await task.value }
        // Let the last messages arrive, then count what was lost.
        let totalSent = control.sent.load(ordering: .relaxed)
        let received = try await waitForDeliveries(pool, expected: totalSent * clients)
        let closed = pool.filter { $0.closedCode.withLock { $0 } != nil }.count
        let deliveries = Double(chatsAfter - chatsBefore)
        try? await group.shutdownGracefully()
        return [
            "clients": Double(clients), "senders": Double(senders), "rate_msgs_per_s": rate, "message_bytes": Double(size),
            "deliveries_per_s": deliveries / elapsed,
            "server_cpu_us_per_delivery": (cpuAfter.cpuSeconds - cpuBefore.cpuSeconds) * 1e6 / max(deliveries, 1),
            "server_cpu_cores": (cpuAfter.cpuSeconds - cpuBefore.cpuSeconds) / elapsed,
            "latency_p50_ms": p50, "latency_p99_ms": p99, "latency_max_ms": worst,
            "lost_deliveries": Double(totalSent * clients - received), "clients_closed": Double(closed),
            "seat_seconds": seatSeconds, "idle_kib_per_connection": perConnectionKiB,
            "connected_kib_per_connection": Double(connectedSample.residentBytes - idleBefore.residentBytes) / Double(clients) / 1024,
            "server_rss_mib": Double(cpuAfter.residentBytes) / 1048576,
        ]
    }
}

/// Waits until every client of `pool` has its `welcome` (at most 120 s).
func waitForWelcomes(_ pool: [BenchClient]) async throws {
    let start = monotonicNanos()
    while pool.contains(where: { !$0.welcomed.load(ordering: .relaxed) }) {
        try await Task.sleep(for: .milliseconds(5))
        if monotonicNanos() - start > 120_000_000_000 { throw BenchError("clients were not all welcomed in 120 s") }
    }
}

/// Once the senders have stopped: waits up to 10 s for `expected` chat messages to have arrived over `pool`,
/// and returns how many did.
func waitForDeliveries(_ pool: [BenchClient], expected: Int) async throws -> Int {
    func received() -> Int { pool.reduce(0) { $0 + $1.chats.load(ordering: .relaxed) } }
    let deadline = monotonicNanos() + 10_000_000_000
    while received() < expected, monotonicNanos() < deadline { try await Task.sleep(for: .milliseconds(100)) }
    return received()
}

/// Shared between the sender tasks and the bench.
final class SendControl: Sendable {
    let sent = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)

    /// One task per sender, sending chat messages of `size` text bytes at `rate` messages per second in total
    /// until `stop`; each text starts with its send time (`t=` and `monotonicNanos()`), for the receivers'
    /// latency samples. The senders are phased evenly over one interval, so the room receives a message every
    /// `1/rate` seconds, as independent users would send them, not all senders' at once.
    func sendChat(from senders: [BenchClient], rate: Double, size: Int) -> [Task<Void, Never>] {
        let padding = String(repeating: "x", count: max(0, size - 24))
        let interval = Double(senders.count) / rate
        let start = monotonicNanos()
        return senders.enumerated().map { s, sender in
            Task {
                var next = start + UInt64(Double(s) / Double(senders.count) * interval * 1e9)
                var n = 0
                while !self.stop.load(ordering: .relaxed) {
                    let now = monotonicNanos()
                    if now < next { try? await Task.sleep(for: .nanoseconds(Int64(next - now))); continue }
                    n += 1
                    sender.send(#"{"type":"chat","id":"\#(s)-\#(n)","text":"t=\#(monotonicNanos());\#(padding)"}"#)
                    self.sent.add(1, ordering: .relaxed)
                    next += UInt64(interval * 1e9)
                }
            }
        }
    }
}

/// Runs `body` over `items` with at most `width` in flight, keeping the order of results.
@discardableResult
func concurrentMap<T: Sendable, R: Sendable>(
    _ items: [T], width: Int, _ body: @escaping @Sendable (T) async throws -> R
) async throws -> [R] {
    try await withThrowingTaskGroup(of: (Int, R).self) { group in
        var results = [R?](repeating: nil, count: items.count)
        var next = 0
        while next < min(width, items.count) {
            let i = next
            group.addTask { (i, try await body(items[i])) }
            next += 1
        }
        while let (i, r) = try await group.next() {
            results[i] = r
            if next < items.count {
                let j = next
                group.addTask { (j, try await body(items[j])) }
                next += 1
            }
        }
        return results.map { $0! }
    }
}
