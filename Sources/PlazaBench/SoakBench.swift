import Foundation
import NIOCore
import PlazaHTTPClient
import PlazaWebSocketClient
import Synchronization

/// `plaza bench soak`: churn on one `plaza serve` for a long time — participants join a room, move, chat, drop
/// their socket now and then and resume, and leave for good to be replaced by new ones — while the server's
/// resident memory and open file descriptors are sampled. What leaks shows as growth once the server is warm.
public struct SoakBench: Sendable {
    /// The `plaza` executable whose `serve` is measured.
    public var executable: String
    /// How long the churn lasts, seconds.
    public var duration = 3_600.0
    /// How often the server is sampled, seconds.
    public var sampleInterval = 60.0
    /// Participants connected at any time.
    public var population = 200
    public var rooms = 20
    /// Mean seconds a participant stays (exponential), before leaving for good.
    public var meanStay = 60.0
    /// Moves per second each participant sends, evenly paced from a random phase.
    public var movesPerSecond = 2.0
    /// Seconds between a participant's chat messages.
    public var chatInterval = 10.0
    /// Chance, per participant and second, that its socket drops (no close frame) and it resumes with `since`.
    public var dropRate = 0.005

    public init(executable: String) { self.executable = executable }

    /// One sample of the server.
    public struct Sample: Sendable {
        public var seconds: Double
        public var residentBytes: Int
        public var fileDescriptors: Int
        public var sessions: Int
        public var connections: Int
    }

    public struct Report: Sendable {
        public var samples: [Sample] = []
        public var sessions = 0
        public var resumes = 0
        public var messages = 0
        public var acknowledged = 0
        public var errors = 0

        /// The figures `plaza bench` prints: memory and descriptors at the first sample past a tenth of the run
        /// (warm) and at the last, and the peak.
        public var results: [String: Double] {
            let warmFrom = (samples.last?.seconds ?? 0) / 10
            let warm = samples.first { $0.seconds >= warmFrom } ?? samples.first
            let mib = { (bytes: Int) in Double(bytes) / 1_048_576 }
            return [
                "sessions": Double(sessions), "resumes": Double(resumes), "messages": Double(messages),
                "acknowledged": Double(acknowledged), "errors": Double(errors),
                "rss_mb_warm": warm.map { mib($0.residentBytes) } ?? .nan,
                "rss_mb_end": samples.last.map { mib($0.residentBytes) } ?? .nan,
                "rss_mb_peak": mib(samples.map(\.residentBytes).max() ?? 0),
                "fds_warm": Double(warm?.fileDescriptors ?? 0), "fds_end": Double(samples.last?.fileDescriptors ?? 0),
                "fds_peak": Double(samples.map(\.fileDescriptors).max() ?? 0),
            ]
        }
    }

    public func run(log: @escaping @Sendable (String) -> Void) async throws -> Report {
        let server = try await BenchServer.start(executable: executable, environment: [:])
        defer { server.stop() }
        let tally = Tally()
        let end = monotonicNanos() + UInt64(duration * 1e9)
        log("soak: \(population) participants in \(rooms) rooms for \(Int(duration)) s, sampled every \(Int(sampleInterval)) s")
        var participants: [Task<Void, Never>] = []
        for index in 0..<population {
            participants.append(Task { await churn(seat: index, server: server, until: end, tally: tally) })
        }
        var report = Report()
        let started = monotonicNanos()
        while monotonicNanos() < end {
            try await Task.sleep(for: .seconds(min(sampleInterval, Double(end - monotonicNanos()) / 1e9 + 0.01)))
            guard let process = ProcessSample.read(pid: server.pid) else { throw BenchError("the server exited") }
            let counts = await tally.counts
            let sample = Sample(
                seconds: Double(monotonicNanos() - started) / 1e9, residentBytes: process.residentBytes,
                fileDescriptors: Self.openFiles(pid: server.pid), sessions: counts.sessions, connections: counts.connected)
            report.samples.append(sample)
            log(String(
                format: "t=%5.0f s  rss %6.1f MiB  fds %4d  connected %4d  sessions %6d", sample.seconds,
                Double(sample.residentBytes) / 1_048_576, sample.fileDescriptors, sample.connections, sample.sessions))
        }
        for participant in participants { participant.cancel() }
        for participant in participants { await participant.value }
        let counts = await tally.counts
        (report.sessions, report.resumes, report.messages) = (counts.sessions, counts.resumes, counts.messages)
        (report.acknowledged, report.errors) = (counts.acknowledged, counts.errors)
        return report
    }

    /// Open file descriptors of `pid`, from /proc.
    static func openFiles(pid: Int32) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).count
    }

    /// One seat of the population: participant after participant until the end.
    private func churn(seat: Int, server: BenchServer, until end: UInt64, tally: Tally) async {
        var random = SystemRandomNumberGenerator()
        var generation = 0
        while monotonicNanos() < end, !Task.isCancelled {
            generation += 1
            let stay = -meanStay * log(Double.random(in: Double.ulpOfOne..<1, using: &random))
            let leaveAt = min(end, monotonicNanos() + UInt64(stay * 1e9))
            let room = "soak-\(Int.random(in: 0..<rooms, using: &random))"
            do {
                try await participate(
                    as: "p\(seat)-\(generation)", in: room, server: server, until: leaveAt, tally: tally, random: &random)
            } catch {
                await tally.error()
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    /// One participant: joins, stays until `leaveAt` (resuming after each dropped socket), leaves.
    private func participate(
        as name: String, in room: String, server: BenchServer, until leaveAt: UInt64, tally: Tally,
        random: inout SystemRandomNumberGenerator
    ) async throws {
        let (status, body) = try await httpRequest(
            "POST", server.baseURL + "/api/v1/join", body: #"{"room":"\#(room)","name":"\#(name)"}"#)
        let answer = try JoinAnswer(status: status, body: body)
        await tally.session()
        var since: Int64 = 0
        var sequence = 0
        let tick = 1 / movesPerSecond
        var nextChat = monotonicNanos() + UInt64(Double.random(in: 0..<chatInterval, using: &random) * 1e9)
        while monotonicNanos() < leaveAt, !Task.isCancelled {
            let offsets = OffsetBox()
            let connection = try await WebSocketConnection.connect(
                host: answer.host, port: answer.port, path: answer.path, handshakeTimeout: .seconds(10),
                callbacks: .init(
                    onMessage: { buffer in
                        forEachFrame(in: buffer) { frame, type in
                            if type == "ack" || type == "chat", let offset = (frame["offset"] as? NSNumber)?.int64Value {
                                offsets.saw(offset, ack: type == "ack")
                            }
                        }
                    },
                    onClose: { _ in offsets.closed() }))
            await tally.connected(1)
            let resume = since > 0 ? #","since":\#(since)"# : ""
            connection.send(#"{"type":"hello","token":"\#(answer.token)"\#(resume)}"#)
            try? await Task.sleep(for: .seconds(Double.random(in: 0..<tick, using: &random)))
            var dropped = false
            while monotonicNanos() < leaveAt, !Task.isCancelled, !offsets.isClosed {
                let x = Double.random(in: 0..<800, using: &random), y = Double.random(in: 0..<600, using: &random)
                connection.send(#"{"type":"move","x":\#(Int(x)),"y":\#(Int(y))}"#)
                if monotonicNanos() >= nextChat {
                    sequence += 1
                    connection.send(#"{"type":"chat","id":"\#(name)-\#(sequence)","text":"soak \#(sequence)"}"#)
                    await tally.message()
                    nextChat += UInt64(chatInterval * 1e9)
                }
                if Double.random(in: 0..<1, using: &random) < dropRate * tick {
                    dropped = true
                    break
                }
                try? await Task.sleep(for: .seconds(tick))
            }
            since = max(since, offsets.highest)
            await tally.acknowledged(offsets.acks)
            await tally.connected(-1)
            if dropped {
                connection.abort()
                await tally.resume()
                try? await Task.sleep(for: .milliseconds(200))
            } else {
                connection.close()
                return
            }
        }
    }

    /// The highest offset a connection saw and its acks, written on the event loop, read by the participant.
    private final class OffsetBox: Sendable {
        private let state = Mutex((highest: Int64(0), acks: 0, closed: false))

        func saw(_ offset: Int64, ack: Bool) {
            state.withLock {
                $0.highest = max($0.highest, offset)
                if ack { $0.acks += 1 }
            }
        }
        func closed() { state.withLock { $0.closed = true } }
        var highest: Int64 { state.withLock { $0.highest } }
        var acks: Int { state.withLock { $0.acks } }
        var isClosed: Bool { state.withLock { $0.closed } }
    }

    private actor Tally {
        var counts = (sessions: 0, resumes: 0, messages: 0, acknowledged: 0, errors: 0, connected: 0)
        func session() { counts.sessions += 1 }
        func resume() { counts.resumes += 1 }
        func message() { counts.messages += 1 }
        func acknowledged(_ count: Int) { counts.acknowledged += count }
        func error() { counts.errors += 1 }
        func connected(_ delta: Int) { counts.connected += delta }
    }
}
