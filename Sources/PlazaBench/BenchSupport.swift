// `plaza bench`: load generators over real WebSockets and HTTP against real `plaza` processes, with the server's
// CPU and memory read from /proc and latencies kept in HdrHistograms. Load is shaped as users make it: senders
// evenly paced, not synchronized bursts.

public import Foundation
import NIOCore
import NIOPosix
import Synchronization
import PlazaWebSocketClient
import PlazaHTTPClient
public import AsyncHTTPClient
import Histogram
#if canImport(Glibc)
import Glibc
#endif

/// Monotonic nanoseconds, comparable across the load generator's threads.
@inline(__always) public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// A latency histogram (HdrHistogram, microseconds from 1 µs to 10 minutes, three significant digits), safe to
/// record into from many threads.
public final class LatencyHistogram: Sendable {
    private let histogram = Mutex(Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three))

    public init() {}

    private static func micros(_ nanos: UInt64) -> UInt64 { min(max(1, nanos / 1000), 600_000_000) }

    public func record(nanos: UInt64) {
        histogram.withLock { _ = $0.record(Self.micros(nanos)) }
    }

    public func record(_ samples: [UInt64]) {
        guard !samples.isEmpty else { return }
        histogram.withLock { histogram in for nanos in samples { _ = histogram.record(Self.micros(nanos)) } }
    }

    public var count: UInt64 { histogram.withLock { $0.totalCount } }

    /// Forgets every sample (the end of a warm-up).
    public func reset() { histogram.withLock { $0.reset() } }

    /// The `q` quantile (0…1) in milliseconds.
    public func quantile(_ q: Double) -> Double {
        histogram.withLock { histogram in
            histogram.totalCount == 0 ? .nan : Double(histogram.valueAtPercentile(q * 100)) / 1000
        }
    }
}

/// How a benchmark runs, whatever it measures.
public struct BenchSettings: Sendable {
    /// The `plaza` executable whose `serve` is measured.
    public var executable: String
    /// Seconds of load before measuring.
    public var warmup = 5.0
    /// Seconds measured.
    public var duration = 20.0
    /// Event-loop threads of the load generator.
    public var generatorThreads = 1
    /// Over TLS (https and wss) with this certificate, or plain.
    public var tls: BenchTLS?

    public init(executable: String) { self.executable = executable }

    /// A started benchmark: the server, the generator's event loops, a histogram, `clients` generated
    /// clients (not yet connected) and a guest token for each, joined to `room`.
    struct Setup {
        var server: BenchServer
        var group: MultiThreadedEventLoopGroup
        var histogram = LatencyHistogram()
        var pool: [BenchClient]
        var tokens: [String]
    }

    func setUp(clients: Int, room: String, environment: [String: String], log: @Sendable (String) -> Void) async throws -> Setup {
        var environment = environment
        var healthPort: Int?
        if let tls {
            healthPort = try LoopbackPort.free()
            environment.merge(tls.environment(httpPort: healthPort!)) { $1 }
        }
        let server = try await BenchServer.start(executable: executable, arguments: ["serve"], healthPort: healthPort, environment: environment)
        do {
            let base = "\(tls == nil ? "http" : "https")://localhost:\(server.port)"
            log("joining \(clients) clients over \(tls == nil ? "HTTP" : "HTTPS")")
            let client = try tls?.httpClient()
            let tokens: [String]
            do {
                tokens = try await concurrentMap(Array(0..<clients), width: 32) { i in
                    try await joinToken(base: base, room: room, name: "c\(i)", client: client)
                }
                try? await client?.shutdown()
            } catch {
                try? await client?.shutdown()
                throw error
            }
            return Setup(
                server: server, group: MultiThreadedEventLoopGroup(numberOfThreads: generatorThreads),
                pool: (0..<clients).map(BenchClient.init), tokens: tokens)
        } catch {
            server.stop()
            throw error
        }
    }
}

/// CPU time and memory of a process, from `/proc`.
public struct ProcessSample: Sendable {
    /// User + system CPU seconds.
    public var cpuSeconds: Double
    /// Resident set size, bytes.
    public var residentBytes: Int

    public static func read(pid: Int32) -> ProcessSample? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14, stime 15 (1-based) → indexes 11, 12 here.
        guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var rss = 0
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            rss = (Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0) * 1024
        }
        return ProcessSample(cpuSeconds: (utime + stime) / ticks, residentBytes: rss)
    }
}

/// A `plaza` child process (`serve`, `node` or `directory`) on a loopback port, for benchmarks and the
/// multi-process tests: started, killed (`SIGKILL`, as a crash) or stopped (`SIGTERM`) by its PID. Its log
/// goes to a file in its own temporary folder.
public final class BenchServer: Sendable {
    public let pid: Int32
    public let port: Int
    /// Where the process's standard error goes.
    public let logFile: String
    private let process: Process
    private let directory: String

    /// Starts `executable serve` with its own data directory and `environment` (PLAZA_* keys) added.
    public static func start(executable: String, environment: [String: String]) async throws -> BenchServer {
        try await start(executable: executable, arguments: ["serve"], environment: environment)
    }

    /// Starts `executable arguments… --port port` (a free port when nil) in a new temporary folder, which is
    /// also its `--data-dir` for `serve` unless the arguments name one, and waits until `/healthz` answers.
    /// `healthPort`: where `/healthz` answers over plain HTTP, when that is not `port` (a server over TLS).
    public static func start(
        executable: String, arguments: [String], port: Int? = nil, healthPort: Int? = nil, environment: [String: String]
    ) async throws -> BenchServer {
        let port = try port ?? LoopbackPort.free()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-bench-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let logFile = directory + "/plaza.log"
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        let process = Process()
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var arguments = arguments + ["--port", String(port)]
        if arguments.first == "serve" && !arguments.contains("--data-dir") { arguments += ["--data-dir", directory + "/data"] }
        if !arguments.contains("--log-level") { arguments += ["--log-level", "warning"] }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        // Every generated client comes from 127.0.0.1: one address, however many users it stands for.
        let generator = ["PLAZA_LIMITS_CONNECTIONS_PER_ADDRESS": "1000000"]
        process.environment = ProcessInfo.processInfo.environment.merging(generator.merging(environment) { $1 }) { $1 }
        process.standardError = FileHandle(forWritingAtPath: logFile)
        try process.run()
        let server = BenchServer(
            pid: process.processIdentifier, port: port, logFile: logFile, process: process, directory: directory)
        for _ in 0..<400 {
            if (try? await httpRequest("GET", "http://127.0.0.1:\(healthPort ?? port)/healthz"))?.status == 200 { return server }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        server.stop()
        throw BenchError("plaza \(arguments.joined(separator: " ")) did not start: \(log.suffix(2_000))")
    }

    private init(pid: Int32, port: Int, logFile: String, process: Process, directory: String) {
        (self.pid, self.port, self.logFile, self.process, self.directory) = (pid, port, logFile, process, directory)
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Graceful stop: SIGTERM, then wait for the exit; the temporary folder goes too. Stopping twice is harmless.
    public func stop() {
        if process.isRunning {
            kill(pid, SIGCONT)  // a paused process would not hear the SIGTERM
            kill(pid, SIGTERM)
        }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Freezes the process (SIGSTOP), as a machine that stalls or a VM that is paused.
    public func pause() { kill(pid, SIGSTOP) }

    /// Lets a paused process go on (SIGCONT).
    public func resume() { kill(pid, SIGCONT) }

    /// A crash: SIGKILL, then wait for the exit. Nothing of the process runs after this.
    public func kill9() {
        kill(pid, SIGKILL)
        process.waitUntilExit()
    }
}

/// A benchmark that could not run (a server that did not start, a join that failed), with what went wrong.
public struct BenchError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A minimal HTTP call for setup (joins): not on the measured path. `client`: one that trusts a benchmark's
/// certificate, for https.
public func httpRequest(
    _ method: String, _ url: String, body: String? = nil, bearer: String? = nil, client: HTTPClient? = nil
) async throws -> (status: Int, body: Data) {
    let answer = try await HTTPCall.json(.init(rawValue: method), url, body: body, bearer: bearer).send(using: client ?? .shared)
    return (answer.status, answer.body)
}

/// Joins `room` as a guest; returns the token.
public func joinToken(base: String, room: String, name: String, client: HTTPClient? = nil) async throws -> String {
    let (status, data) = try await httpRequest(
        "POST", base + "/api/v1/join", body: #"{"room":"\#(room)","name":"\#(name)"}"#, client: client)
    guard status == 200, let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
        let token = object["token"] as? String
    else { throw BenchError("join failed with \(status)") }
    return token
}

/// Finds `key` in `bytes` from `start` and parses the unsigned integer right after it. Allocation-free,
/// with libc's `memchr` for the search: the generator's hot path.
@inline(__always)
func scanInteger(_ bytes: UnsafeRawBufferPointer, after key: [UInt8], from start: Int) -> (value: UInt64, end: Int)? {
    guard let base = bytes.baseAddress else { return nil }
    var at = start
    var found: Int?
    while at + key.count <= bytes.count {
        guard let hit = memchr(base + at, Int32(key[0]), bytes.count - at) else { return nil }
        let index = base.distance(to: UnsafeRawPointer(hit))
        guard index + key.count <= bytes.count else { return nil }
        if memcmp(base + index, key, key.count) == 0 {
            found = index
            break
        }
        at = index + 1
    }
    guard let index = found else { return nil }
    var p = index + key.count
    var value: UInt64 = 0
    var digits = 0
    while p < bytes.count, bytes[p] >= 48, bytes[p] <= 57 {
        value = value * 10 + UInt64(bytes[p] - 48)
        p += 1
        digits += 1
    }
    return digits > 0 ? (value, p) : scanInteger(bytes, after: key, from: p)
}

/// Calls `body` with each frame of a server message (one JSON object per line: a welcome and the replayed chat
/// may share a message) and its `type`. For the drills' clients, whose frames are few.
func forEachFrame(in buffer: ByteBuffer, _ body: ([String: Any], String) -> Void) {
    for line in buffer.readableBytesView.split(separator: UInt8(ascii: "\n")) {
        guard let frame = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
            let type = frame["type"] as? String
        else { continue }
        body(frame, type)
    }
}

/// Waits `seconds` of a phase ("warm-up", "measuring"), logging a progress line each second so a long run is
/// never silent; `status` adds what the phase has done so far.
func progress(
    _ phase: String, seconds: Double, log: @Sendable (String) -> Void, status: () -> String = { "" }
) async throws {
    let end = ContinuousClock.now + .seconds(seconds)
    var elapsed = 0
    while ContinuousClock.now < end {
        try await Task.sleep(until: min(ContinuousClock.now + .seconds(1), end))
        elapsed += 1
        let extra = status()
        log("\(phase) \(min(elapsed, Int(seconds.rounded(.up))))/\(Int(seconds.rounded(.up))) s" + (extra.isEmpty ? "" : ": \(extra)"))
    }
}
