import Foundation
import PlazaWebSocketClient

/// What `plaza bench handshakes` measures: TLS handshakes per second one `plaza serve` sustains when every visitor
/// opens new connections (a join storm), and the server's CPU per handshake, for full handshakes (TLS 1.3, what
/// a first visit does) and resumed ones (what a returning browser does). The generator is OpenSSL's own
/// `openssl s_time`, `clients` processes at once, each opening connection after connection: a C client, so the
/// figures are the server's. (`s_time` resumes by session ID, over TLS 1.2: it reads nothing after the
/// handshake, so it never receives a TLS 1.3 ticket.)
public struct HandshakeBench: Sendable {
    public var settings: BenchSettings
    public var clients = 2

    public init(settings: BenchSettings) { self.settings = settings }

    public func run(log: @escaping @Sendable (String) -> Void) async throws -> [String: Double] {
        var settings = self.settings
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-bench-handshakes-\(getpid())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let tls = try settings.tls ?? BenchTLS.make(in: folder)
        settings.tls = tls
        let healthPort = try LoopbackPort.free()
        let server = try await BenchServer.start(
            executable: settings.executable, arguments: ["serve"], healthPort: healthPort, environment: tls.environment(httpPort: healthPort))
        defer { server.stop() }
        var results: [String: Double] = ["clients": Double(clients)]
        let (port, seconds) = (server.port, settings.duration)
        for (name, arguments) in [("full", ["-new"]), ("resumed", ["-reuse", "-tls1_2"])] {
            log("\(name) handshakes: \(clients) openssl s_time clients for \(seconds) s")
            let before = ProcessSample.read(pid: server.pid)!
            let started = monotonicNanos()
            let counts = try await concurrentMap(Array(0..<clients), width: clients) { _ in
                // Off the concurrency pool: waiting for a process blocks its thread.
                try await withCheckedThrowingContinuation { continuation in
                    DispatchQueue.global().async {
                        continuation.resume(with: Result { try Self.sTime(port: port, seconds: seconds, arguments: arguments) })
                    }
                }
            }
            let elapsed = Double(monotonicNanos() - started) / 1e9
            let after = ProcessSample.read(pid: server.pid)!
            let handshakes = Double(counts.reduce(0, +))
            results["\(name)_handshakes_per_s"] = handshakes / elapsed
            results["\(name)_server_cpu_cores"] = (after.cpuSeconds - before.cpuSeconds) / elapsed
            results["\(name)_server_cpu_us_per_handshake"] = (after.cpuSeconds - before.cpuSeconds) / handshakes * 1e6
        }
        results["server_rss_mib"] = Double(ProcessSample.read(pid: server.pid)?.residentBytes ?? 0) / 1_048_576
        return results
    }

    /// Runs one `openssl s_time` for `seconds`; returns the connections it completed.
    static func sTime(port: Int, seconds: Double, arguments: [String]) throws -> Int {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["s_time", "-connect", "127.0.0.1:\(port)", "-time", String(Int(seconds.rounded()))] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        // "4668 connections in 3 real seconds, …"
        let text = String(decoding: data, as: UTF8.self)
        guard let line = text.split(separator: "\n").last(where: { $0.contains("real seconds") }),
            let count = Int(line.split(separator: " ").first ?? "")
        else { throw BenchError("openssl s_time printed no count: \(text.suffix(300))") }
        return count
    }
}
