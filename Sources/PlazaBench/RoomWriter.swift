import Foundation
import NIOCore
import PlazaHTTPClient
import PlazaWebSocketClient

/// One room's client as the protocol asks clients to behave: join through a directory, hello with `since`,
/// send chat messages with ids and a move each tick, keep each message until its `ack`, and on any
/// disconnection join again (after `Retry-After` when a directory asks for it) and resend what is
/// unacknowledged under the same ids. It counts what the fleet answered, for the drills' checks.
actor RoomWriter {
    let room: String
    /// Tells this writer's message ids apart from another writer's in the same room.
    let label: String
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
    private(set) var lastEvent = "starting" {
        didSet {
            trail.append(String(format: "%.2f", Double(monotonicNanos() - started) / 1e9) + " s " + lastEvent)
            if trail.count > 16 { trail.removeFirst() }
        }
    }
    /// The last events, with the time since the writer started: what a drill prints about its slowest writer.
    private(set) var trail: [String] = []
    private let started = monotonicNanos()
    /// Every node that welcomed this writer since `startCounting()` was first called.
    private(set) var homesSinceFirstCount: Set<String> = []
    /// What the fleet answered since `startCounting()`.
    private(set) var counts = Counts()
    private var lastMovesAt: UInt64 = 0

    /// What a writer saw, for a drill to check.
    struct Counts: Sendable {
        /// `error` frames by code (`store_unavailable` while the database is gone).
        var errors: [String: Int] = [:]
        /// Close codes the servers sent (0: the connection ended without a close frame).
        var closes: [Int: Int] = [:]
        /// Join answers other than 200, by status and code (`503 store_unavailable`).
        var refusedJoins: [String: Int] = [:]
        /// Joins whose answer named a node that could not be connected to (a node that had stopped).
        var unreachableHomes = 0
        /// The longest time without an acknowledgement while messages were being sent, in nanoseconds.
        var longestAckGap: UInt64 = 0
        /// The longest time without another participant's `moves` frame while connected, in nanoseconds.
        var longestMovesGap: UInt64 = 0
        /// Sockets given up after `silence` without a frame.
        var silentSockets = 0

        mutating func add(_ other: Counts) {
            errors.merge(other.errors, uniquingKeysWith: +)
            closes.merge(other.closes, uniquingKeysWith: +)
            refusedJoins.merge(other.refusedJoins, uniquingKeysWith: +)
            unreachableHomes += other.unreachableHomes
            silentSockets += other.silentSockets
            longestAckGap = max(longestAckGap, other.longestAckGap)
            longestMovesGap = max(longestMovesGap, other.longestMovesGap)
        }
    }

    /// Silence after which the writer gives its socket up and joins again (the web client waits 35 s; a drill,
    /// whose rooms are busy, much less), as when its node froze.
    private let silence: UInt64

    init(room: String, directories: [String], label: String = "w", silence: Duration = .seconds(5)) {
        (self.room, self.directories, self.label) = (room, directories, label)
        self.silence = UInt64(silence.components.seconds) * 1_000_000_000 + UInt64(silence.components.attoseconds / 1_000_000_000)
    }

    /// What arrives on the socket, reduced to what the writer acts on.
    enum Event: Sendable {
        case frame(type: String, id: String?, offset: Int64?, code: String?)
        case tick
        case closed(UInt16?)
    }

    /// Forgets what was counted so far: a drill counts from the moment its fault starts.
    func startCounting() {
        counts = Counts()
        let now = monotonicNanos()
        (lastAcknowledgedAt, lastMovesAt) = (max(lastAcknowledgedAt, now), now)
        if let home { homesSinceFirstCount.insert(home) }
    }

    /// The counts, with the gaps still open at this moment included.
    func finishCounting() -> Counts {
        let now = monotonicNanos()
        counts.longestAckGap = max(counts.longestAckGap, now - lastAcknowledgedAt)
        counts.longestMovesGap = max(counts.longestMovesGap, now - lastMovesAt)
        return counts
    }

    func run(interval: Duration) async {
        var attempt = 0
        while !stopped, !Task.isCancelled {
            attempt += 1
            var pause = Duration.milliseconds(100)
            do {
                try await session(through: directories[attempt % directories.count], interval: interval)
            } catch let refusal as JoinRefusal {
                lastEvent = "attempt \(attempt): \(refusal)"
                if let retryAfter = refusal.retryAfter { pause = .seconds(retryAfter) }
            } catch {
                // Refused, reset or not placeable yet: join again shortly, as a client's backoff would.
                lastEvent = "attempt \(attempt): \(error)"
            }
            try? await Task.sleep(for: pause)
        }
    }

    func stop() {
        stopped = true
        connection?.close()
    }

    /// A join the directory did not answer with 200.
    struct JoinRefusal: Error, CustomStringConvertible {
        var status: Int
        var code: String
        var retryAfter: Int?
        var description: String { "join answered \(status) \(code)" }
    }

    private func session(through directory: String, interval: Duration) async throws {
        lastEvent = "joining through \(directory)"
        let reply = try await HTTPCall.json(
            .POST, directory + "/api/v1/join", body: #"{"room":"\#(room)","name":"Writer \#(label)"}"#, bearer: token
        ).send()
        guard reply.status == 200 else {
            let error = (try? JSONSerialization.jsonObject(with: reply.body) as? [String: Any])?["error"] as? [String: Any]
            let refusal = JoinRefusal(
                status: reply.status, code: error?["code"] as? String ?? "?",
                retryAfter: reply.headers.first(name: "Retry-After").flatMap { Int($0) })
            counts.refusedJoins["\(refusal.status) \(refusal.code)", default: 0] += 1
            throw refusal
        }
        let answer = try JoinAnswer(status: reply.status, body: reply.body)
        self.token = answer.token
        home = answer.node
        lastEvent = "connecting to \(answer.host):\(answer.port)"
        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        let connection: WebSocketConnection
        do {
            connection = try await WebSocketConnection.connect(
                host: answer.host, port: answer.port, path: answer.path, handshakeTimeout: .nanoseconds(Int64(silence)),
                callbacks: .init(
                    onMessage: { buffer in
                        forEachFrame(in: buffer) { frame, type in
                            continuation.yield(
                                .frame(
                                    type: type, id: frame["id"] as? String,
                                    offset: (frame["offset"] as? NSNumber)?.int64Value,
                                    code: frame["code"] as? String))
                        }
                    },
                    onClose: { code in
                        continuation.yield(.closed(code))
                        continuation.finish()
                    }))
        } catch {
            counts.unreachableHomes += 1
            throw error
        }
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
        var lastHeard = monotonicNanos()
        for await event in events {
            if stopped { break }
            if case .frame = event { lastHeard = monotonicNanos() }
            switch event {
            case .frame("welcome", _, _, _):
                lastEvent = "welcomed by \(home ?? "?")"
                welcomedAt = monotonicNanos()
                lastMovesAt = welcomedAt
                welcomed = true
                if let home, !homesSinceFirstCount.isEmpty { homesSinceFirstCount.insert(home) }
                resend(olderThan: 0)
            case .frame("ack", let id?, let offset?, _):
                acknowledge(id, at: offset)
            case .frame("moves", _, _, _):
                let now = monotonicNanos()
                counts.longestMovesGap = max(counts.longestMovesGap, now - lastMovesAt)
                lastMovesAt = now
            case .frame("error", _, _, let code):
                lastEvent = "error \(code ?? "?") from \(home ?? "?")"
                counts.errors[code ?? "?", default: 0] += 1
            case .frame:
                break
            case .tick where monotonicNanos() - lastHeard > silence:
                lastEvent = "\(home ?? "?") went silent"
                counts.silentSockets += 1
                connection.abort()
                return
            case .tick where welcomed:
                sequence += 1
                if sequence % 10 == 0 { connection.send(#"{"type":"ping"}"#) }
                let id = "\(room)-\(label)-\(sequence)"
                unacknowledged.append((id, "message \(sequence)", monotonicNanos()))
                connection.send(#"{"type":"chat","id":"\#(id)","text":"message \#(sequence)"}"#)
                let step = Double(sequence % 20)
                connection.send(#"{"type":"move","x":\#(100 + step),"y":\#(100 + step)}"#)
                resend(olderThan: 2_000_000_000)
            case .tick:
                break
            case .closed(let code):
                lastEvent = "closed by \(home ?? "?") with \(code.map(String.init) ?? "no close frame")"
                counts.closes[Int(code ?? 0), default: 0] += 1
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
        let now = monotonicNanos()
        counts.longestAckGap = max(counts.longestAckGap, now - lastAcknowledgedAt)
        lastAcknowledgedAt = now
    }

    /// Reads the room's whole history and compares it with what this writer had acknowledged.
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
        let mine = stored.filter { $0.key.hasPrefix("\(room)-\(label)-") }
        let duplicated = mine.values.filter { $0.count > 1 }.count + conflicting
        return (acknowledged.count, lost, duplicated)
    }
}

/// Waits until every writer has an acknowledgement later than `since` (monotonic nanoseconds), at most
/// `timeout` seconds.
func allServing(_ writers: [RoomWriter], since: UInt64, timeout: Double) async -> Bool {
    let deadline = monotonicNanos() + UInt64(timeout * 1e9)
    while monotonicNanos() < deadline {
        var all = true
        for writer in writers where await writer.lastAcknowledgedAt <= since { all = false }
        if all { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return false
}
