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

    /// Waits until every writer has an acknowledgement later than `since`.
    private func allServing(_ writers: [RoomWriter], since: UInt64, timeout: Double) async -> Bool {
        let deadline = monotonicNanos() + UInt64(timeout * 1e9)
        while monotonicNanos() < deadline {
            var all = true
            for writer in writers where await writer.lastAcknowledgedAt <= since { all = false }
            if all { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}

/// One room's client as the protocol asks clients to behave: join through a directory, hello with `since`,
/// send chat messages with ids, keep each until its `ack`, and on any disconnection join again and resend what is
/// unacknowledged under the same ids.
actor RoomWriter {
    let room: String
    private let directories: [String]
    private var token: String?
    /// The node the last join answered with.
    private(set) var home: String?
    /// Monotonic time of the latest acknowledgement.
    private(set) var lastAcknowledgedAt: UInt64 = 0
    /// Monotonic time of the latest welcome.
    private var welcomedAt: UInt64 = 0
    private var acknowledged: [String: Int64] = [:]
    private var conflicting = 0
    /// Sent and not yet acknowledged, oldest first: id, text, when last sent.
    private var unacknowledged: [(id: String, text: String, sentAt: UInt64)] = []
    private var sequence = 0
    private var highestOffset: Int64 = 0
    private var connection: WebSocketConnection?
    private var stopped = false
    /// What the writer last ran into, for the drill's failure messages.
    private(set) var lastEvent = "starting"

    init(room: String, directories: [String]) {
        (self.room, self.directories) = (room, directories)
    }

    /// What arrives on the socket, reduced to what the writer acts on.
    enum Event: Sendable {
        case frame(type: String, id: String?, offset: Int64?, code: String?)
        case tick
        case closed
    }

    func run(interval: Duration) async {
        var attempt = 0
        while !stopped, !Task.isCancelled {
            attempt += 1
            do {
                try await session(through: directories[attempt % directories.count], interval: interval)
            } catch {
                // Refused, reset or not placeable yet: join again shortly, as a client's backoff would.
                lastEvent = "attempt \(attempt): \(error)"
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    func stop() {
        stopped = true
        connection?.close()
    }

    private func session(through directory: String, interval: Duration) async throws {
        lastEvent = "joining through \(directory)"
        let (status, body) = try await httpRequest(
            "POST", directory + "/api/v1/join", body: #"{"room":"\#(room)","name":"Writer"}"#, bearer: token)
        let answer = try JoinAnswer(status: status, body: body)
        self.token = answer.token
        home = answer.node
        lastEvent = "connecting to \(answer.host):\(answer.port)"
        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        let connection = try await WebSocketConnection.connect(
            host: answer.host, port: answer.port, path: answer.path,
            callbacks: .init(
                onMessage: { buffer in
                    // One message may carry several frames, one per line (a welcome and the replayed chat).
                    for line in buffer.readableBytesView.split(separator: UInt8(ascii: "\n")) {
                        guard let frame = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                            let type = frame["type"] as? String
                        else { continue }
                        continuation.yield(
                            .frame(
                                type: type, id: frame["id"] as? String, offset: (frame["offset"] as? NSNumber)?.int64Value,
                                code: frame["code"] as? String))
                    }
                },
                onClose: { _ in
                    continuation.yield(.closed)
                    continuation.finish()
                }))
        self.connection = connection
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                continuation.yield(.tick)
            }
        }
        defer { ticker.cancel() }
        let since = highestOffset > 0 ? #","since":\#(highestOffset)"# : ""
        connection.send(#"{"type":"hello","token":"\#(answer.token)"\#(since)}"#)
        lastEvent = "hello sent to \(answer.host):\(answer.port)"
        var welcomed = false
        for await event in events {
            if stopped { break }
            switch event {
            case .frame("welcome", _, _, _):
                lastEvent = "welcomed by \(home ?? "?")"
                welcomedAt = monotonicNanos()
                welcomed = true
                resend(olderThan: 0)
            case .frame("ack", let id?, let offset?, _):
                acknowledge(id, at: offset)
            case .frame("error", _, _, let code):
                lastEvent = "error \(code ?? "?") from \(home ?? "?")"
            case .frame:
                break
            case .tick where welcomed:
                sequence += 1
                let id = "\(room)-\(sequence)"
                unacknowledged.append((id, "message \(sequence)", monotonicNanos()))
                connection.send(#"{"type":"chat","id":"\#(id)","text":"message \#(sequence)"}"#)
                resend(olderThan: 2_000_000_000)
            case .tick:
                break
            case .closed:
                lastEvent = "closed by \(home ?? "?")"
                return
            }
        }
    }

    /// The time of the latest acknowledgement if the current session was welcomed after `time`.
    func acknowledged(byAHomeWelcomedAfter time: UInt64) -> UInt64? {
        welcomedAt > time && lastAcknowledgedAt > welcomedAt ? lastAcknowledgedAt : nil
    }

    /// Sends again, under the same ids, the messages sent more than `age` nanoseconds ago and not acknowledged.
    private func resend(olderThan age: UInt64) {
        let now = monotonicNanos()
        for index in unacknowledged.indices where now - unacknowledged[index].sentAt >= age {
            let message = unacknowledged[index]
            connection?.send(#"{"type":"chat","id":"\#(message.id)","text":"\#(message.text)"}"#)
            unacknowledged[index].sentAt = now
        }
    }

    private func acknowledge(_ id: String, at offset: Int64) {
        if let earlier = acknowledged[id] {
            if earlier != offset { conflicting += 1 }
        } else {
            acknowledged[id] = offset
        }
        unacknowledged.removeAll { $0.id == id }
        highestOffset = max(highestOffset, offset)
        lastAcknowledgedAt = monotonicNanos()
    }

    /// Reads the room's whole history and compares it with what was acknowledged.
    func verify(directory: String) async throws -> (acknowledged: Int, lost: Int, duplicated: Int) {
        var stored: [String: [Int64]] = [:]
        var after: Int64 = 0
        while true {
            let (status, body) = try await httpRequest(
                "GET", directory + "/api/v1/rooms/\(room)/messages?since=\(after)&limit=200", bearer: token)
            guard status == 200, let page = try JSONSerialization.jsonObject(with: body) as? [String: Any],
                let messages = page["messages"] as? [[String: Any]]
            else { throw BenchError("history of \(room) answered \(status)") }
            guard !messages.isEmpty else { break }
            for message in messages {
                guard let id = message["id"] as? String, let offset = (message["offset"] as? NSNumber)?.int64Value else { continue }
                stored[id, default: []].append(offset)
                after = max(after, offset)
            }
        }
        let lost = acknowledged.filter { id, offset in !(stored[id] ?? []).contains(offset) }.count
        let duplicated = stored.values.filter { $0.count > 1 }.count + conflicting
        return (acknowledged.count, lost, duplicated)
    }
}
