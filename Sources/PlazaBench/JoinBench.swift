import Foundation
import NIOCore
import NIOPosix
import NIOHTTP1
import Synchronization
import PlazaWebSocketClient
import NIOSSL

/// What `plaza bench join` measures: participants arriving at an offered rate (open loop: the next join is sent
/// on schedule whether or not earlier ones have been answered), each one `POST /api/v1/join` through a directory,
/// a WebSocket to the node the answer names, `hello`, and the `welcome`. Latency runs from the moment the join
/// was due to the welcome, so a server that falls behind shows in it rather than slowing the generator down.
/// Each participant stays `hold` seconds, then leaves, so the fleet reaches a steady state of `rate × hold`
/// connections in `rooms` rooms.
public struct JoinBench: Sendable {
    public var settings: BenchSettings
    /// The fleet's store, `postgres://…`.
    public var store: String
    public var nodes = 2
    public var directories = 1
    /// Joins per second offered.
    public var rate = 1_000.0
    public var rooms = 1_000
    /// Seconds each participant stays connected.
    public var hold = 10.0

    public init(settings: BenchSettings, store: String) {
        (self.settings, self.store) = (settings, store)
    }

    public func run(log: @escaping @Sendable (String) -> Void) async throws -> [String: Double] {
        log("starting \(directories) directories and \(nodes) nodes")
        let fleet = try await BenchFleet.start(
            executable: settings.executable, store: store, nodes: nodes, directories: directories,
            environment: ["PLAZA_CLUSTER_CAPACITY": "1000000", "PLAZA_LIMITS_PARTICIPANTS_PER_ROOM": "10000"], tls: settings.tls)
        defer { fleet.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: settings.generatorThreads)
        let tls = settings.tls.map { (context: $0.clientContext, serverName: "localhost") }
        let http = HTTPClientPool(ports: fleet.directories.map(\.port), group: group, tls: tls)
        let held = HeldConnections()
        let outcome = JoinOutcome()
        let run = UUID().uuidString.prefix(6).lowercased()
        let (rate, rooms, hold) = (self.rate, self.rooms, self.hold)

        let total = Int((settings.warmup + settings.duration) * rate)
        let start = monotonicNanos() + 100_000_000
        let measureFrom = start + UInt64(settings.warmup * 1e9)
        let measureUntil = measureFrom + UInt64(settings.duration * 1e9)
        log("offering \(Int(rate)) joins/s for \(settings.warmup) s of warm-up and \(settings.duration) s measured")
        let reaper = Task {
            while !Task.isCancelled {
                held.closeDue(at: monotonicNanos())
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        var cpuBefore: [String: Double]?
        let cpuAfter: [String: Double] = try await withThrowingTaskGroup(of: Void.self) { tasks in
            var cpuAfter: [String: Double] = [:]
            for index in 0..<total {
                let due = start + UInt64(Double(index) / rate * 1e9)
                let now = monotonicNanos()
                if due > now { try await Task.sleep(for: .nanoseconds(Int64(due - now))) }
                if cpuBefore == nil, due >= measureFrom { cpuBefore = Self.cpuSeconds(of: fleet) }
                let measured = due >= measureFrom && due < measureUntil
                tasks.addTask {
                    await Self.join(
                        room: "j\(run)-\(index % rooms)", name: "p\(index)", due: due, measured: measured,
                        http: http, group: group, tls: tls, held: held, hold: hold, outcome: outcome)
                }
            }
            cpuAfter = Self.cpuSeconds(of: fleet)
            log("waiting for the last joins")
            try await tasks.waitForAll()
            return cpuAfter
        }
        let elapsed = Double(monotonicNanos() - measureFrom) / 1e9
        let measuredSeconds = min(elapsed, settings.duration)
        reaper.cancel()
        let connected = held.count
        held.closeAll()
        http.closeAll()
        try? await group.shutdownGracefully()

        var results = cpuCores(before: cpuBefore ?? [:], after: cpuAfter, elapsed: measuredSeconds)
        let counts = outcome.counts.withLock { $0 }
        results.merge([
            "nodes": Double(nodes), "directories": Double(directories), "rooms": Double(rooms), "hold_s": hold,
            "joins_per_s_offered": rate, "joins_per_s_welcomed": Double(counts.welcomed) / settings.duration,
            "join_failed": Double(counts.joinFailed), "connect_failed": Double(counts.connectFailed),
            "not_welcomed": Double(counts.notWelcomed), "connections_at_end": Double(connected),
            "join_to_welcome_ms_p50": outcome.total.quantile(0.5), "join_to_welcome_ms_p99": outcome.total.quantile(0.99),
            "join_to_welcome_ms_max": outcome.total.quantile(1.0),
            "http_join_ms_p99": outcome.http.quantile(0.99), "hello_to_welcome_ms_p99": outcome.webSocket.quantile(0.99),
        ]) { $1 }
        return results
    }

    /// The fleet's CPU seconds and the generator's own (`generator`: this process).
    private static func cpuSeconds(of fleet: BenchFleet) -> [String: Double] {
        var seconds = fleet.cpuSeconds()
        seconds["generator"] = ProcessSample.read(pid: getpid())?.cpuSeconds
        return seconds
    }

    /// One participant: join, connect, hello, welcome; then held open until its time is up.
    static func join(
        room: String, name: String, due: UInt64, measured: Bool, http: HTTPClientPool, group: any EventLoopGroup,
        tls: (context: NIOSSLContext, serverName: String)? = nil, held: HeldConnections, hold: Double, outcome: JoinOutcome
    ) async {
        let answer: JoinAnswer
        do {
            let (status, body) = try await http.request(.POST, "/api/v1/join", json: #"{"room":"\#(room)","name":"\#(name)"}"#)
            answer = try JoinAnswer(status: status, body: Data(body.readableBytesView))
        } catch {
            if measured { outcome.counts.withLock { $0.joinFailed += 1 } }
            return
        }
        let answered = monotonicNanos()
        let welcome = group.next().makePromise(of: Void.self)
        let settled = Atomic<Bool>(false)
        @Sendable func settle(_ result: Result<Void, any Error>) {
            guard settled.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
            welcome.completeWith(result)
        }
        let connection: WebSocketConnection
        do {
            // Over TLS the node is named in the answer (`localhost`) and reached on the loopback address.
            connection = try await WebSocketConnection.connect(
                host: tls == nil ? answer.host : "127.0.0.1", port: answer.port, path: answer.path, group: group,
                tls: tls.map { ($0.context, answer.host) },
                callbacks: .init(
                    onMessage: { buffer in
                        // `{"type":"welcome"…` is the first frame of a seated connection; anything else first
                        // (an `error`) is a refusal.
                        let isWelcome = buffer.readableBytesView.starts(with: #"{"type":"welcome""#.utf8)
                        settle(isWelcome ? .success(()) : .failure(BenchError("refused")))
                    },
                    onClose: { _ in settle(.failure(BenchError("closed"))) }))
        } catch {
            settle(.failure(error))
            if measured { outcome.counts.withLock { $0.connectFailed += 1 } }
            return
        }
        let timeout = welcome.futureResult.eventLoop.scheduleTask(in: .seconds(10)) { settle(.failure(BenchError("timeout"))) }
        connection.send(#"{"type":"hello","token":"\#(answer.token)"}"#)
        do {
            try await welcome.futureResult.get()
        } catch {
            timeout.cancel()
            if measured { outcome.counts.withLock { $0.notWelcomed += 1 } }
            connection.abort()
            return
        }
        timeout.cancel()
        let welcomed = monotonicNanos()
        held.add(connection, until: welcomed + UInt64(hold * 1e9))
        guard measured else { return }
        outcome.counts.withLock { $0.welcomed += 1 }
        outcome.total.record(nanos: welcomed - due)
        outcome.http.record(nanos: answered - due)
        outcome.webSocket.record(nanos: welcomed - answered)
    }
}

/// What the measured joins came to.
final class JoinOutcome: Sendable {
    struct Counts {
        var welcomed = 0
        var joinFailed = 0
        var connectFailed = 0
        var notWelcomed = 0
    }
    let counts = Mutex(Counts())
    /// Due → welcome.
    let total = LatencyHistogram()
    /// Due → join answered (includes waiting for a free HTTP connection).
    let http = LatencyHistogram()
    /// Join answered → welcome: connect, upgrade, hello.
    let webSocket = LatencyHistogram()
}

/// Connections kept open until their participant leaves.
final class HeldConnections: Sendable {
    private let open = Mutex<[(connection: WebSocketConnection, until: UInt64)]>([])

    func add(_ connection: WebSocketConnection, until: UInt64) { open.withLock { $0.append((connection, until)) } }

    var count: Int { open.withLock { $0.count } }

    func closeDue(at now: UInt64) {
        let due = open.withLock { open in
            let due = open.filter { $0.until <= now }
            open.removeAll { $0.until <= now }
            return due
        }
        for (connection, _) in due { connection.close() }
    }

    func closeAll() { closeDue(at: .max) }
}

/// Keep-alive connections to the directories, one request at a time each, opened as the offered load needs
/// them and reused after: an open-loop generator's HTTP client.
final class HTTPClientPool: Sendable {
    private let ports: [Int]
    private let group: any EventLoopGroup
    private let tls: (context: NIOSSLContext, serverName: String)?
    private let idle = Mutex<[KeepAliveHTTPClient]>([])
    private let opened = Atomic<Int>(0)

    init(ports: [Int], group: any EventLoopGroup, tls: (context: NIOSSLContext, serverName: String)? = nil) {
        (self.ports, self.group, self.tls) = (ports, group, tls)
    }

    func request(_ method: HTTPMethod, _ path: String, json body: String) async throws -> (status: Int, body: ByteBuffer) {
        let client: KeepAliveHTTPClient
        if let reused = idle.withLock({ $0.popLast() }) {
            client = reused
        } else {
            let index = opened.add(1, ordering: .relaxed).newValue
            client = try await KeepAliveHTTPClient.connect(host: "127.0.0.1", port: ports[index % ports.count], group: group, tls: tls)
        }
        do {
            let response = try await client.request(method, path, json: body)
            idle.withLock { $0.append(client) }
            return response
        } catch {
            client.close()
            throw error
        }
    }

    func closeAll() { for client in idle.withLock({ $0 }) { client.close() } }
}
