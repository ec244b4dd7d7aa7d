import Foundation
import PlazaHTTPClient
import PlazaTesting

/// `plaza bench drill`: a fleet of `plaza node` and `plaza directory` processes on a PostgreSQL server of the
/// drill's own, two writers per room sending chat and moves without pause, and one fault an operator meets:
///
/// - `store-down`: PostgreSQL shut down for `faultSeconds`, then started again;
/// - `store-hung`: PostgreSQL frozen (SIGSTOP: connections open, nothing answers), then let go;
/// - `partition`: the node hosting every room cut off from PostgreSQL (through a proxy that drops everything)
///   but not from its clients;
/// - `clock-skew`: the node hosting every room runs `skewSeconds` ahead (Debian's `faketime`), another node as
///   much behind, one directory ahead; after a steady phase the node ahead is frozen and its rooms must move
///   within a lease, not a lease plus the skew;
/// - `rolling-restart`: every node in turn stopped with SIGTERM and started again.
///
/// Meanwhile probes ask the directories and nodes what an operator's load balancer and a new visitor would. At
/// the end every acknowledged message is looked up in the history: none may be missing or stored twice.
public struct FaultDrill: Sendable {
    public enum Fault: String, CaseIterable, Sendable {
        case storeDown = "store-down", storeHung = "store-hung", partition, clockSkew = "clock-skew"
        case rollingRestart = "rolling-restart"
    }

    /// The `plaza` executable whose `node` and `directory` are run.
    public var executable: String
    public var fault: Fault
    public var nodes = 2
    public var directories = 2
    public var rooms = 4
    /// Chat messages (and moves) per second each writer sends.
    public var messagesPerSecond = 10.0
    /// How long the store is down or hung, the node cut off, or the clocks skewed before the node ahead freezes.
    public var faultSeconds = 30.0
    /// How far the skewed processes' clocks are off.
    public var skewSeconds = 30
    /// Extra `PLAZA_*` settings for every process (heartbeat timings, for instance).
    public var environment: [String: String] = [:]
    /// Longest wait for every room to serve again once the fault is over.
    public var recoveryTimeout = 60.0
    /// How long probes go on after the fault, to catch a wrong answer while the fleet recovers.
    public var probeAfterSeconds = 5.0

    public init(executable: String, fault: Fault) {
        (self.executable, self.fault) = (executable, fault)
        if fault == .rollingRestart { nodes = 3 }
    }

    /// What the drill saw from the moment the fault started.
    public struct Report: Sendable {
        public var acknowledged = 0
        /// Acknowledged messages missing from the history, or stored under another offset than acknowledged.
        public var lost = 0
        /// Messages stored more than once, or acknowledged twice with different offsets.
        public var duplicated = 0
        /// What the writers saw, all together.
        var writers = RoomWriter.Counts()
        /// Error frames the writers received, by code.
        public var errors: [String: Int] { writers.errors }
        /// Close codes the writers received (0: no close frame).
        public var closes: [Int: Int] { writers.closes }
        /// Refused joins, by "status code".
        public var refusedJoins: [String: Int] { writers.refusedJoins }
        /// Sockets the writers gave up after two seconds of silence (a frozen node's).
        public var silentSockets: Int { writers.silentSockets }
        /// Joins that named a node the writer could not connect to.
        public var unreachableHomes: Int { writers.unreachableHomes }
        /// The longest time a writer went without an acknowledgement, in seconds.
        public var longestAckGap: Double { Double(writers.longestAckGap) / 1e9 }
        /// The longest time a writer went without the other writer's moves while connected, in seconds.
        public var longestMovesGap: Double { Double(writers.longestMovesGap) / 1e9 }
        /// Rooms that were served by more than one node.
        public var movedRooms = 0
        /// The answers of each probe target while the fault lasted (`"503 store_unavailable retry-after"`, …).
        public var during: [String: [String: Int]] = [:]
        /// The answers of each probe target in the seconds after the fault.
        public var after: [String: [String: Int]] = [:]
        /// From the fault's end to every writer acknowledged again, in seconds.
        public var recoverySeconds = Double.nan
        /// Rolling restart: the longest gap without an acknowledgement in each stop. Clock skew: from freezing
        /// the node ahead to its rooms acknowledged elsewhere.
        public var interruptions: [Double] = []
        /// Clock skew: from freezing the node ahead to the skewed directory placing its room on the node behind
        /// (negative if it did so before the freeze).
        public var replacedAfter = Double.nan
        public var failures: [String] = []
        /// The writer that waited longest for an acknowledgement, and its last events.
        public var slowestWriter = ""

        /// The figures `plaza bench` prints.
        public var results: [String: Double] {
            var results: [String: Double] = [
                "acknowledged": Double(acknowledged), "lost": Double(lost), "duplicated": Double(duplicated),
                "unreachable_homes": Double(unreachableHomes), "silent_sockets": Double(silentSockets), "longest_ack_gap_s": longestAckGap,
                "longest_moves_gap_s": longestMovesGap, "moved_rooms": Double(movedRooms), "recovery_s": recoverySeconds,
                "failures": Double(failures.count),
            ]
            if !replacedAfter.isNaN { results["replaced_after_s"] = replacedAfter }
            if !interruptions.isEmpty {
                results["interruption_s_max"] = interruptions.max()
                results["interruption_s_median"] = interruptions.sorted()[interruptions.count / 2]
            }
            for (code, count) in errors { results["error.\(code)"] = Double(count) }
            for (code, count) in closes { results["close.\(code)"] = Double(count) }
            for (answer, count) in refusedJoins { results["refused_join.\(answer)"] = Double(count) }
            for (phase, probes) in [("during", during), ("after", after)] {
                for (target, answers) in probes {
                    for (answer, count) in answers { results["\(phase).\(target).\(answer)"] = Double(count) }
                }
            }
            return results
        }
    }

    public func run(log: @escaping @Sendable (String) -> Void) async throws -> Report {
        let database = try PostgresServer.dedicated()
        defer { database.stop() }
        let store = try database.createDatabase()
        let proxy = fault == .partition ? try await TCPProxy(port: database.port) : nil
        var layout = BenchFleet.Layout()
        switch fault {
        case .partition:
            layout.nodeStores[0] = store.replacingOccurrences(of: ":\(database.port)/", with: ":\(proxy!.port)/")
            layout.startedNodes = 1
        case .clockSkew:
            let clock = try SkewedClock()
            layout.nodeEnvironment = [0: clock.environment(offset: skewSeconds), 1: clock.environment(offset: -skewSeconds)]
            layout.directoryEnvironment[directories - 1] = clock.environment(offset: skewSeconds)
            layout.startedNodes = 1
        case .storeDown, .storeHung, .rollingRestart:
            break
        }
        log("starting \(directories) directories and \(nodes) nodes on PostgreSQL at port \(database.port)")
        var fleet = try await BenchFleet.start(
            executable: executable, store: store, nodes: nodes, directories: directories, environment: environment,
            layout: layout)
        var tasks: [Task<Void, Never>] = []
        defer {
            for task in tasks { task.cancel() }
            fleet.stop()
        }
        let interval = Duration.milliseconds(Int64(1000 / messagesPerSecond))
        var writers: [RoomWriter] = []
        for index in 0..<rooms {
            for label in ["a", "b"] {
                let writer = RoomWriter(
                    room: "drill-\(index)", directories: fleet.directories.map(\.baseURL), label: label, silence: .seconds(2))
                writers.append(writer)
                tasks.append(Task { await writer.run(interval: interval) })
            }
        }
        guard await allServing(writers, since: monotonicNanos(), timeout: 30) else {
            throw BenchError("the rooms did not start serving")
        }
        // Every room is on node-0 now when the drill started it alone; the other nodes join the fleet after.
        for index in fleet.nodes.count..<fleet.nodeCount { try await fleet.startNode(index) }
        try await Task.sleep(for: .seconds(2))

        var report = Report()
        for writer in writers { await writer.startCounting() }
        let probes = Probes()
        let nodeURLs = fleet.nodes.sorted { $0.key < $1.key }.map { ($0.key, $0.value.baseURL) }
        let directory = fleet.directories[0].baseURL
        tasks.append(probes.join(label: "directory-0.join", directory: directory, existingRoom: nil))
        tasks.append(probes.get(label: "directory-0.readyz", url: directory + "/readyz"))
        for (id, url) in nodeURLs { tasks.append(probes.get(label: "\(id).readyz", url: url + "/readyz")) }
        if fault == .clockSkew {
            let skewed = fleet.directories[directories - 1].baseURL
            tasks.append(probes.join(label: "directory-\(directories - 1).join", directory: skewed, existingRoom: nil))
            tasks.append(probes.join(label: "directory-\(directories - 1).join-drill-0", directory: skewed, existingRoom: "drill-0"))
        }

        log("fault: \(fault.rawValue)")
        switch fault {
        case .storeDown:
            database.shutDown()
            try await Task.sleep(for: .seconds(faultSeconds))
            try database.startAgain()
        case .storeHung:
            database.pause()
            try await Task.sleep(for: .seconds(faultSeconds))
            database.resume()
        case .partition:
            proxy!.cut()
            try await Task.sleep(for: .seconds(faultSeconds))
            proxy!.restore()
        case .clockSkew:
            try await Task.sleep(for: .seconds(faultSeconds))
            let ahead = fleet.nodes[BenchFleet.nodeID(0)]!
            ahead.pause()
            let pausedAt = monotonicNanos()
            if let moved = await allAcknowledged(writers, byHomesWelcomedAfter: pausedAt, timeout: recoveryTimeout) {
                report.interruptions.append(Double(moved - pausedAt) / 1e9)
            } else {
                report.failures.append("the frozen node's rooms did not serve elsewhere within \(recoveryTimeout) s")
            }
            let replaced = await probes.firstSeen["directory-\(directories - 1).join-drill-0 200 node-1"]
            report.replacedAfter = replaced.map { $0 > pausedAt ? Double($0 - pausedAt) / 1e9 : -Double(pausedAt - $0) / 1e9 } ?? .nan
            log("node-0 (\(skewSeconds) s ahead) frozen; its rooms placed on node-1 after \(report.replacedAfter) s, served there after \(report.interruptions.last ?? .nan) s")
            // The rooms now live on the node behind: they must stay there.
            try await Task.sleep(for: .seconds(faultSeconds / 2))
            ahead.resume()
        case .rollingRestart:
            for index in 0..<fleet.nodeCount {
                var cycle = RoomWriter.Counts()
                for writer in writers { cycle.add(await writer.finishCounting()) }
                report.writers.add(cycle)
                for writer in writers { await writer.startCounting() }
                fleet.nodes[BenchFleet.nodeID(index)]?.stop()
                try await fleet.startNode(index)
                guard await allServing(writers, since: monotonicNanos(), timeout: recoveryTimeout) else {
                    report.failures.append("not every room served after node-\(index) restarted")
                    continue
                }
                try await Task.sleep(for: .seconds(1))
                var stop = RoomWriter.Counts()
                for writer in writers { stop.add(await writer.finishCounting()) }
                report.interruptions.append(Double(stop.longestAckGap) / 1e9)
                log("node-\(index) restarted: longest interruption \(String(format: "%.2f", report.interruptions.last!)) s")
            }
        }
        let faultEnded = monotonicNanos()
        report.during = await probes.switchToAfter()
        if await allServing(writers, since: faultEnded, timeout: recoveryTimeout) {
            report.recoverySeconds = Double(monotonicNanos() - faultEnded) / 1e9
        } else {
            var waiting: [String] = []
            for writer in writers where await writer.lastAcknowledgedAt <= faultEnded {
                waiting.append("\(writer.room)/\(writer.label): \(await writer.lastEvent)")
            }
            report.failures.append("not every room served again within \(recoveryTimeout) s of the fault's end: \(waiting)")
        }
        try await Task.sleep(for: .seconds(probeAfterSeconds))
        report.after = await probes.answers()
        for task in tasks { task.cancel() }

        var homes: [String: Set<String>] = [:]
        var slowest: UInt64 = 0
        for writer in writers {
            let counts = await writer.finishCounting()
            if counts.longestAckGap > slowest {
                slowest = counts.longestAckGap
                report.slowestWriter = "\(writer.room)/\(writer.label): " + (await writer.trail).joined(separator: "; ")
            }
            report.writers.add(counts)
            homes[writer.room, default: []].formUnion(await writer.homesSinceFirstCount)
            await writer.stop()
        }
        report.movedRooms = homes.values.filter { $0.count > 1 }.count
        for writer in writers {
            let check = try await writer.verify(directory: fleet.directories[0].baseURL)
            report.acknowledged += check.acknowledged
            report.lost += check.lost
            report.duplicated += check.duplicated
        }
        await proxy?.stop()
        log("checked \(report.acknowledged) acknowledged messages: \(report.lost) lost, \(report.duplicated) duplicated")
        return report
    }

    /// Waits until every writer is acknowledged by a home that welcomed it after `time`; returns when the last
    /// of them was.
    private func allAcknowledged(_ writers: [RoomWriter], byHomesWelcomedAfter time: UInt64, timeout: Double) async -> UInt64? {
        let deadline = monotonicNanos() + UInt64(timeout * 1e9)
        while monotonicNanos() < deadline {
            var latest: UInt64 = 0
            var all = true
            for writer in writers {
                if let at = await writer.acknowledged(byAHomeWelcomedAfter: time) { latest = max(latest, at) } else { all = false }
            }
            if all { return latest }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }
}

/// Probes that ask, four times a second each, what a load balancer or a new visitor would ask, and tally the
/// answers: during the fault, then after it.
actor Probes {
    private var current: [String: [String: Int]] = [:]
    private var sequence = 0

    /// Ends the fault's tally and starts the one after it; returns the fault's.
    func switchToAfter() -> [String: [String: Int]] {
        defer { current = [:] }
        return current
    }

    func answers() -> [String: [String: Int]] { current }

    /// When each answer of each target first came (monotonic nanoseconds).
    private(set) var firstSeen: [String: UInt64] = [:]

    private func record(_ target: String, _ answer: String) {
        current[target, default: [:]][answer, default: 0] += 1
        if firstSeen["\(target) \(answer)"] == nil { firstSeen["\(target) \(answer)"] = monotonicNanos() }
    }

    private func nextRoom() -> String {
        sequence += 1
        return "probe-\(sequence)"
    }

    /// `GET url` in a loop.
    nonisolated func get(label: String, url: String) -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                let reply = try? await HTTPCall(.GET, url, timeout: .seconds(10), maximumBody: 4096).send()
                await record(label, Self.describe(reply))
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    /// Joins through `directory` in a loop: a new room each time, or `existingRoom`, whose node the answer names.
    nonisolated func join(label: String, directory: String, existingRoom: String?) -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                let room = if let existingRoom { existingRoom } else { await nextRoom() }
                let reply = try? await HTTPCall.json(
                    .POST, directory + "/api/v1/join", body: #"{"room":"\#(room)","name":"Probe"}"#).send()
                var answer = Self.describe(reply)
                if existingRoom != nil, let reply, reply.status == 200,
                    let node = (try? JSONSerialization.jsonObject(with: reply.body) as? [String: Any])?["node"] as? String
                {
                    answer += " \(node)"
                }
                await record(label, answer)
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    /// `"200"`, `"503 store_unavailable retry-after"`, `"no answer"`.
    static func describe(_ reply: HTTPCall.Answer?) -> String {
        guard let reply else { return "no answer" }
        if reply.status == 200 { return "200" }
        let error = (try? JSONSerialization.jsonObject(with: reply.body) as? [String: Any])?["error"] as? [String: Any]
        var answer = "\(reply.status) \(error?["code"] as? String ?? "?")"
        if reply.headers.first(name: "Retry-After") != nil { answer += " retry-after" }
        return answer
    }
}

/// A process's wall clock set off by some seconds, as on a machine whose clock is wrong: Debian's `libfaketime`
/// preloaded, with the monotonic clocks left alone (a wrong wall clock does not move them). The library also
/// shifts every absolute `timerfd` deadline by the offset, monotonic ones included, which makes each timer of
/// libdispatch (every `Task.sleep`) fire the offset late or early; a one-function library preloaded before it
/// passes `timerfd_settime` straight to the kernel. It is compiled with the C compiler on the machine.
struct SkewedClock {
    let libraries: String

    init() throws {
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib")) ?? []
        guard let faketime = folders.sorted().map({ "/usr/lib/\($0)/faketime/libfaketime.so.1" })
            .first(where: FileManager.default.fileExists(atPath:))
        else { throw BenchError("the clock-skew drill needs Debian's faketime package (libfaketime.so.1 not found)") }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-clock-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Self.passthrough.write(toFile: folder + "/timerfd.c", atomically: true, encoding: .utf8)
        // `cc` (Debian's gcc), or the clang that comes with Swift.
        let compiled = ["cc", "clang"].contains { compiler in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [compiler, "-shared", "-fPIC", "-O2", "-o", folder + "/timerfd.so", folder + "/timerfd.c"]
            process.standardError = FileHandle.nullDevice
            guard (try? process.run()) != nil else { return false }
            process.waitUntilExit()
            return process.terminationStatus == 0
        }
        guard compiled else { throw BenchError("could not compile the timerfd pass-through: no cc or clang") }
        libraries = folder + "/timerfd.so " + faketime
    }

    /// The environment that runs a process `offset` seconds ahead (or behind, when negative).
    func environment(offset: Int) -> [String: String] {
        [
            "LD_PRELOAD": libraries, "FAKETIME": offset >= 0 ? "+\(offset)s" : "\(offset)s",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            // A shared segment that does not exist: without one the library sets the variable itself at load
            // time, which moves `environ`, where Swift finds the command line on Linux.
            "FAKETIME_SHARED": "/plaza-unshared /plaza-unshared",
        ]
    }

    static let passthrough = """
        #define _GNU_SOURCE
        #include <sys/syscall.h>
        #include <sys/timerfd.h>
        #include <unistd.h>
        int timerfd_settime(int fd, int flags, const struct itimerspec *value, struct itimerspec *old) {
            return (int)syscall(SYS_timerfd_settime, fd, flags, value, old);
        }
        """
}
