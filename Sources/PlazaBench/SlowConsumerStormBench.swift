import Foundation

/// What `plaza bench slow-consumers` measures: a room of `clients` connections that join and then stop reading,
/// while one participant that does read sends chat at `rate` messages per second for `duration` seconds. The
/// server must find every stalled client, close it (4002) or reset it, and keep its memory bounded during the
/// storm and near its baseline after it.
public struct SlowConsumerStormBench: Sendable {
    public var settings: BenchSettings
    public var clients = 500
    public var rate = 200.0
    public var size = 200
    /// Extra PLAZA_* settings of the server (a different `limits.slowConsumerSeconds`, say).
    public var environment: [String: String] = [:]

    public init(settings: BenchSettings) { self.settings = settings }

    public func run(log: @Sendable (String) -> Void) async throws -> [String: Double] {
        let setup = try await settings.setUp(
            clients: clients + 1, room: "storm",
            environment: [
                "PLAZA_LIMITS_PARTICIPANTS_PER_ROOM": String(clients + 10),
                "PLAZA_LIMITS_FRAMES_PER_SECOND": "100000", "PLAZA_LIMITS_FRAME_BURST": "100000",
            ].merging(environment) { $1 }, log: log)
        let (server, group, histogram, pool, tokens) = (setup.server, setup.group, setup.histogram, setup.pool, setup.tokens)
        defer { server.stop() }
        let started = ProcessSample.read(pid: server.pid)!
        log("connecting \(clients + 1) clients")
        let textKey = Array(#""text":"t="#.utf8)
        try await concurrentMap(pool, width: 64) { client in
            try await client.connect(port: server.port, group: group, timestampKey: textKey, unitNanos: 1, histogram: histogram)
        }
        for (client, token) in zip(pool, tokens) { client.send(#"{"type":"hello","token":"\#(token)"}"#) }
        try await waitForWelcomes(pool)
        try await Task.sleep(for: .seconds(2))
        let baseline = ProcessSample.read(pid: server.pid)!
        let kernelBaseline = KernelTCPMemory.read()

        let sender = pool[0], stalled = Array(pool.dropFirst())
        for client in stalled { client.connection.withLock { $0 }?.setReading(false) }
        log("\(clients) clients stopped reading; chat at \(rate) messages/s for \(settings.duration) s")
        let control = SendControl()
        let senderTask = control.sendChat(from: [sender], rate: rate, size: size)
        var peak = baseline.residentBytes, kernelPeak = kernelBaseline
        let stormEnd = monotonicNanos() + UInt64(settings.duration * 1e9)
        while monotonicNanos() < stormEnd {
            try await Task.sleep(for: .milliseconds(250))
            peak = max(peak, ProcessSample.read(pid: server.pid)?.residentBytes ?? 0)
            kernelPeak = max(kernelPeak, KernelTCPMemory.read())
        }
        control.stop.store(true, ordering: .relaxed)
        for task in senderTask { await task.value }
        // Everything stalled has been found and reset by now (limits.slowConsumerSeconds + websocket.closeTimeout).
        log("storm over; letting the server settle")
        try await Task.sleep(for: .seconds(20))
        let after = ProcessSample.read(pid: server.pid)!
        let kernelAfter = KernelTCPMemory.read()
        let metrics = try await PrometheusText.fetch(server.baseURL + "/metrics")
        try? await group.shutdownGracefully()
        let mib = { (bytes: Int) in Double(bytes) / 1_048_576 }
        return [
            "clients": Double(clients), "rate_msgs_per_s": rate, "message_bytes": Double(size),
            "duration_s": settings.duration,
            "server_rss_started_mib": mib(started.residentBytes),
            "server_rss_baseline_mib": mib(baseline.residentBytes),
            "server_rss_peak_mib": mib(peak),
            "server_rss_after_mib": mib(after.residentBytes),
            "kernel_tcp_baseline_mib": mib(kernelBaseline), "kernel_tcp_peak_mib": mib(kernelPeak),
            "kernel_tcp_after_mib": mib(kernelAfter),
            "closed_4002": metrics["plaza_closes_total{code=\"4002\"}"] ?? 0,
            "slow_by_queue_bytes": metrics["plaza_slow_consumer_disconnects_total{cause=\"queue_bytes\"}"] ?? 0,
            "slow_by_stall": metrics["plaza_slow_consumer_disconnects_total{cause=\"stalled\"}"] ?? 0,
            "aborted": metrics["plaza_connections_aborted_total"] ?? 0,
            "connections_after": metrics["plaza_connections"] ?? 0,
            "sent": Double(control.sent.load(ordering: .relaxed)),
        ]
    }
}

/// The kernel's memory in TCP buffers, machine-wide (`/proc/net/sockstat`, `TCP: … mem` in pages), in bytes.
enum KernelTCPMemory {
    static func read() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/net/sockstat", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("TCP:") {
            let fields = line.split(separator: " ")
            if let at = fields.firstIndex(of: "mem"), at + 1 < fields.count, let pages = Int(fields[at + 1]) {
                return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
            }
        }
        return 0
    }
}

/// A `/metrics` page as series → value (`name{labels}` exactly as printed).
enum PrometheusText {
    static func fetch(_ url: String) async throws -> [String: Double] {
        let answer = try await httpRequest("GET", url)
        var values: [String: Double] = [:]
        for line in String(decoding: answer.body, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            values[String(line[..<space])] = value
        }
        return values
    }
}
