import Foundation
import PlazaFleet
import PlazaTesting
import PlazaProtocol
import PlazaWebSocketClient
import PlazaCore
#if canImport(Glibc)
import Glibc
#endif

/// What `plaza bench zone` measures: meetings of N people in one meeting zone, through `plaza serve` and one Janus
/// on this machine, for each N asked. Guests join over HTTP and WebSocket and walk into the built-in map's meeting
/// room; `plaza serve` opens the conference on Janus and hands each its credentials in a `conference` frame; the
/// synthetic peers (`scripts/bench-zone-peers.py`, aiortc) then publish audio and video with those credentials and
/// subscribe to everyone else, and Janus's CPU is read from /proc over the measured window.
///
/// Per N: how many of the N·(N−1)·2 streams flow (a stream flows when its receiver gets at least half of what its
/// publisher sends of that kind), Janus's CPU per forwarded stream, what each browser uploads (its streams once)
/// against what it would upload peer-to-peer (N−1 times), what it downloads, and the generator's own CPU, so a run
/// the generator limits says so.
public struct ZoneBench: Sendable {
    public var settings: BenchSettings
    /// Meeting sizes, measured one after the other.
    public var sizes = [2, 3, 4, 6, 8]
    /// The synthetic peers.
    public var generator = "scripts/bench-zone-peers.py"
    /// The Python that runs it (looked up on PATH), with aiortc installed.
    public var python = "python3"
    /// Synthetic participants per generator process (one Python process uses one core).
    public var peersPerProcess = 4
    /// The interface Janus gathers ICE candidates on: not loopback (Janus skips it), e.g. `plzm1` under
    /// `scripts/in-media-namespace`, which sets `PLAZA_MEDIA_INTERFACE`.
    public var iceInterface: String?

    public init(settings: BenchSettings) { self.settings = settings }

    public func run(log: @escaping @Sendable (String) -> Void) async throws -> [String: Double] {
        guard peersPerProcess >= 1, sizes.allSatisfy({ $0 >= 2 }) else { throw BenchError("needs --peers-per-process ≥ 1 and sizes ≥ 2") }
        guard let iceInterface else {
            throw BenchError("no interface for media: run under scripts/in-media-namespace (it sets PLAZA_MEDIA_INTERFACE), or pass --ice-interface")
        }
        guard FileManager.default.fileExists(atPath: generator) else {
            throw BenchError("\(generator) not found: run from Plaza's source folder, or pass --generator")
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-bench-zone-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var janusSettings = JanusProcess.Settings(folder: folder + "/janus", adminSecret: randomSecret())
        janusSettings.roomAdminKey = randomSecret()
        janusSettings.iceInterfaces = iceInterface
        janusSettings.webSocketPort = try LoopbackPort.free()
        let janus = try await JanusProcess.start(janusSettings)
        defer { janus.kill() }
        let server = try await BenchServer.start(
            executable: settings.executable, arguments: ["serve"],
            environment: [
                "PLAZA_MEDIA_JANUS_URL": janusSettings.webSocketURL, "PLAZA_MEDIA_JANUS_ADMIN_URL": janus.adminURL.absoluteString,
                "PLAZA_MEDIA_JANUS_ADMIN_SECRET": janusSettings.adminSecret,
                "PLAZA_MEDIA_JANUS_ROOM_ADMIN_KEY": janusSettings.roomAdminKey ?? "",
            ])
        defer { server.stop() }
        var results: [String: Double] = ["warmup_s": settings.warmup, "duration_s": settings.duration]
        var held = 0.0
        for size in sizes {
            log("a meeting of \(size) in the meeting zone")
            let meeting = try await measure(size: size, server: server, janus: janus, folder: folder, log: log)
            for (key, value) in meeting { results["n\(size)_\(key)"] = value }
            if meeting["streams_flowing"] == meeting["streams"] { held = max(held, Double(size)) }
        }
        results["participants_held_with_every_stream_flowing"] = held
        return results
    }

    /// One meeting of `size`: guests seated in the zone, peers started, the window measured, everyone gone.
    private func measure(
        size: Int, server: BenchServer, janus: JanusProcess, folder: String, log: @Sendable (String) -> Void
    ) async throws -> [String: Double] {
        let room = "zone-\(size)-\(UUID().uuidString.prefix(8))"
        var guests: [TestClient] = []
        defer { for guest in guests { guest.close() } }
        var participants: [[String: Any]] = []
        for index in 0..<size {
            let token = try await joinToken(base: server.baseURL, room: room, name: "p\(index)")
            let guest = try await TestClient.connect(url: "ws://127.0.0.1:\(server.port)/ws")
            guests.append(guest)
            let welcome = try await guest.hello(token)
            // The built-in map's meeting room spans x 480–1056, y 32–224.
            guest.send(#"{"type":"move","x":\#(500 + 20 * index),"y":\#(60 + 5 * (index % 20))}"#)
            let conference = try await guest.next("conference", timeout: 15)
            guard let id = welcome.string("you"), let bridgeRoom = conference.int("room"), let pin = conference.string("pin"),
                let bridgeToken = conference.string("token")
            else { throw BenchError("no conference for p\(index): \(conference)") }
            participants.append(["id": id, "room": bridgeRoom, "pin": pin, "token": bridgeToken])
        }
        // One Python process uses one core: a meeting's peers are split over processes of `peersPerProcess`.
        let groups = stride(from: 0, to: size, by: peersPerProcess).map { Array(participants[$0..<min($0 + peersPerProcess, size)]) }
        let go = "\(folder)/meeting-\(size).go"
        var processes: [(process: Process, output: String, errors: String)] = []
        defer { for peers in processes where peers.process.isRunning { kill(peers.process.processIdentifier, SIGKILL) } }
        for (index, group) in groups.enumerated() {
            let base = "\(folder)/meeting-\(size)-\(index)"
            let setup: [String: Any] = [
                "api": janus.apiURL.absoluteString, "participants": group, "publishers": size, "go": go, "warmup": settings.warmup,
                "seconds": settings.duration,
            ]
            try JSONSerialization.data(withJSONObject: setup).write(to: URL(fileURLWithPath: base + ".json"))
            for file in [base + ".out", base + ".err"] { _ = FileManager.default.createFile(atPath: file, contents: nil) }
            let peers = Process()
            peers.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            peers.arguments = [python, generator, base + ".json"]
            peers.standardOutput = FileHandle(forWritingAtPath: base + ".out")
            peers.standardError = FileHandle(forWritingAtPath: base + ".err")
            try peers.run()
            processes.append((peers, base + ".out", base + ".err"))
        }
        func printed(_ file: String) -> String { (try? String(contentsOfFile: file, encoding: .utf8)) ?? "" }
        let limit = ContinuousClock.now + .seconds(120 + settings.warmup + settings.duration)
        func waitFor(_ line: String) async throws {
            for peers in processes {
                while !printed(peers.output).contains(line) {
                    guard peers.process.isRunning, ContinuousClock.now < limit else {
                        throw BenchError("the peers stopped before '\(line)': \(printed(peers.errors).suffix(2_000))")
                    }
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
        }
        try await waitFor("ready")
        _ = FileManager.default.createFile(atPath: go, contents: nil)
        try await waitFor("window-start")
        guard let janusBefore = ProcessSample.read(pid: janus.pid), let serverBefore = ProcessSample.read(pid: server.pid) else {
            throw BenchError("Janus or plaza serve is gone")
        }
        let started = monotonicNanos()
        try await waitFor("window-end")
        let elapsed = Double(monotonicNanos() - started) / 1e9
        guard let janusAfter = ProcessSample.read(pid: janus.pid), let serverAfter = ProcessSample.read(pid: server.pid) else {
            throw BenchError("Janus or plaza serve is gone")
        }
        var reports: [[String: Any]] = []
        for peers in processes {
            while peers.process.isRunning, ContinuousClock.now < limit { try await Task.sleep(for: .milliseconds(50)) }
            guard let line = printed(peers.output).split(separator: "\n").last(where: { $0.hasPrefix("{") }),
                let report = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            else { throw BenchError("the peers printed no figures: \(printed(peers.errors).suffix(2_000))") }
            reports.append(report)
        }
        let figures = MeetingFigures(reports: reports, size: size)
        let janusCores = (janusAfter.cpuSeconds - janusBefore.cpuSeconds) / elapsed
        log(
            "\(size): \(figures.flowing)/\(figures.streams) streams flowing, Janus \(String(format: "%.3f", janusCores)) cores, "
                + "generator \(String(format: "%.3f", figures.generatorCores)) cores")
        return [
            "streams": Double(figures.streams), "streams_flowing": Double(figures.flowing),
            "janus_cpu_cores": janusCores, "janus_millicores_per_forwarded_stream": janusCores * 1000 / Double(max(1, figures.flowing)),
            "janus_rss_mib": Double(janusAfter.residentBytes) / 1_048_576,
            "plaza_cpu_cores": (serverAfter.cpuSeconds - serverBefore.cpuSeconds) / elapsed,
            "upload_kbit_s_per_participant_bridge": figures.uploadBytesPerSecond * 8 / 1000,
            "upload_kbit_s_per_participant_p2p": figures.uploadBytesPerSecond * 8 / 1000 * Double(size - 1),
            "download_kbit_s_per_participant": figures.downloadBytesPerSecond * 8 / 1000,
            "generator_cpu_cores": figures.generatorCores, "generator_processes": Double(processes.count),
        ]
    }

}

/// The peers' report of one meeting, reduced: streams that flow, and what a participant sends and receives.
struct MeetingFigures {
    var streams = 0
    var flowing = 0
    /// Means over participants, bytes per second.
    var uploadBytesPerSecond = 0.0
    var downloadBytesPerSecond = 0.0
    var generatorCores = 0.0

    /// A stream flows when its receiver gets at least half of what its publisher sends of that kind, as a share of
    /// the clip's rate of that kind (the publisher sends the clip). `reports`: one per generator process.
    init(reports: [[String: Any]], size: Int) {
        let clip = reports.first?["clipBytesPerSecond"] as? [String: Double] ?? [:]
        let participants = reports.flatMap { $0["participants"] as? [[String: Any]] ?? [] }
        generatorCores = reports.reduce(0) { $0 + ($1["generatorCPU"] as? Double ?? 0) }
        streams = size * (size - 1) * 2
        var sent = 0.0, received = 0.0
        for participant in participants {
            sent += participant["sentPerSecond"] as? Double ?? 0
            let streams = participant["receivedPerSecond"] as? [String: Double] ?? [:]
            for (key, rate) in streams {
                received += rate
                let kind = String(key.split(separator: "/").last ?? "")
                if let nominal = clip[kind], rate >= nominal / 2 { flowing += 1 }
            }
        }
        let count = Double(max(1, participants.count))
        (uploadBytesPerSecond, downloadBytesPerSecond) = (sent / count, received / count)
    }
}
