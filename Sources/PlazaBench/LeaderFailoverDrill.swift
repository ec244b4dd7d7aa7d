import Foundation
import Logging
import PlazaFleetModel
import PlazaRoles
import PlazaStore
import PlazaTesting

/// `plaza bench leader-failover`: two `plaza autoscaler` processes on a PostgreSQL server of the drill's own, a
/// pool whose provider is a script keeping a folder of "cloud" instances (a launch takes `launchSeconds`, and
/// every launch is logged), and scale-outs with the leader killed (SIGKILL) in the middle of each: after it has
/// launched some of the new instances and before it has launched them all. The standby takes over and finishes
/// the scale-out; the killed one comes back as the new standby. At the end the cloud must run exactly the
/// desired instances: a successor may re-issue a launch its predecessor made (under the same instance id, which
/// the provider answers without a second instance), but never launch a slot under a new id.
public struct LeaderFailoverDrill: Sendable {
    /// The `plaza` executable whose `autoscaler` is run.
    public var executable: String
    public var cycles = 20
    /// Instances added by each scale-out.
    public var step = 4
    /// How long the provider's launch script takes.
    public var launchSeconds = 0.5
    /// `autoscaler.leaseTTL`: how long the standby waits for a dead leader.
    public var leaseTTL = 2.0
    /// Longest wait for a scale-out to complete after the kill.
    public var completionTimeout = 60.0

    public init(executable: String) { self.executable = executable }

    public struct Report: Sendable {
        public var cycles = 0
        /// Cycles whose leader was killed after launching some, not all, of the scale-out's instances.
        public var killedMidway = 0
        /// Seconds from the kill to the scale-out complete under the new leader, per cycle.
        public var completedAfter: [Double] = []
        public var desired = 0
        /// Instances the cloud runs at the end.
        public var running = 0
        /// Instances launched (distinct ids); more than `desired` means a slot was launched twice.
        public var launches = 0
        /// Launch calls for an id already launched: a successor re-issuing its predecessor's launch, which the
        /// provider answers without a second instance (by design).
        public var reissued = 0
        /// Instances beyond the desired capacity: must be 0.
        public var extra: Int { launches - desired }
        public var failures: [String] = []

        public var results: [String: Double] {
            let sorted = completedAfter.sorted()
            return [
                "cycles": Double(cycles), "killed_midway": Double(killedMidway), "desired": Double(desired),
                "running": Double(running), "launches": Double(launches), "extra_instances": Double(extra),
                "reissued_launches": Double(reissued),
                "failures": Double(failures.count),
                "completed_after_s_median": sorted.isEmpty ? .nan : sorted[sorted.count / 2],
                "completed_after_s_max": sorted.last ?? .nan,
            ]
        }
    }

    public func run(log: @escaping @Sendable (String) -> Void) async throws -> Report {
        let database = try PostgresServer.dedicated()
        defer { database.stop() }
        let storeURL = try database.createDatabase()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-leaders-\(UUID().uuidString)")
        let cloud = folder.appendingPathComponent("cloud")
        try FileManager.default.createDirectory(at: cloud.appendingPathComponent("instances"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let pools = folder.appendingPathComponent("pools.json")
        try Data(poolFile(cloud: cloud.path).utf8).write(to: pools)
        var logger = Logger(label: "drill")
        logger.logLevel = .warning
        let store = try await SharedStores.open(storeURL, logger: logger)
        var processes: [String: PlazaProcess] = [:]
        defer { for process in processes.values { process.kill() } }
        func start(_ name: String) throws {
            processes[name] = try PlazaProcess(
                executable: executable,
                arguments: [
                    "autoscaler", "--store", storeURL, "--pools", pools.path, "--id", name, "--lease-ttl", String(leaseTTL),
                    "--state-dir", folder.appendingPathComponent("state").path,
                ],
                environment: [:], directory: folder)
        }
        try start("a")
        guard try await waitFor(timeout: 30, { processes["a"]!.log.contains("leading the fleet's autoscaling") }) else {
            throw BenchError("the first autoscaler did not lead: \(processes["a"]!.log.suffix(2_000))")
        }
        try start("b")
        var (leader, standby) = ("a", "b")
        var report = Report()
        let launchLog = cloud.appendingPathComponent("launches")
        func launched() -> [String] {
            ((try? String(contentsOf: launchLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        for cycle in 1...cycles {
            report.cycles = cycle
            report.desired += step
            let before = launched().count
            guard try await store.setDesired(pool: PoolName("drill"), desired: report.desired) else {
                throw BenchError("the pool was not declared")
            }
            // In the middle of the scale-out: some launched, not all.
            _ = try await waitFor(timeout: 30) { launched().count > before }
            let midway = launched().count - before
            processes[leader]!.kill()
            let killedAt = monotonicNanos()
            if midway > 0 && midway < step { report.killedMidway += 1 }
            let complete = try await waitFor(timeout: completionTimeout) {
                Set(launched()).count >= report.desired && Self.runningCount(cloud) == report.desired
            }
            if complete {
                report.completedAfter.append(Double(monotonicNanos() - killedAt) / 1e9)
            } else {
                report.failures.append("cycle \(cycle): \(Self.runningCount(cloud)) of \(report.desired) running after the kill")
            }
            log("cycle \(cycle): leader \(leader) killed after \(midway) of \(step) launches; scale-out done after \(report.completedAfter.last.map { String(format: "%.1f", $0) } ?? "—") s")
            // The killed one comes back as the standby.
            let restarted = leader + "'"
            try start(restarted)
            (leader, standby) = (standby, restarted)
            _ = try await waitFor(timeout: 10) { processes[restarted]!.log.contains("standing by") }
        }
        report.launches = Set(launched()).count
        let calls = ((try? String(contentsOf: cloud.appendingPathComponent("calls"), encoding: .utf8)) ?? "").split(separator: "\n")
        report.reissued = calls.count - Set(calls).count
        report.running = Self.runningCount(cloud)
        try await store.close()
        log("\(report.launches) instances launched for \(report.desired) desired, \(report.reissued) launches re-issued, \(report.running) running")
        return report
    }

    /// The pool: a script provider whose launch takes `launchSeconds` and logs each instance it starts; instances
    /// never register (nothing runs in them), so a long registration grace keeps them.
    func poolFile(cloud: String) -> String {
        let launch = #"echo "$PLAZA_INSTANCE_ID" >> "$CLOUD/calls"; sleep \#(launchSeconds); [ -e "$CLOUD/instances/$PLAZA_INSTANCE_ID" ] || { touch "$CLOUD/instances/$PLAZA_INSTANCE_ID"; echo "$PLAZA_INSTANCE_ID" >> "$CLOUD/launches"; }"#
        let list = #"printf '['; sep=''; for f in $(ls "$CLOUD/instances"); do printf '%s{"id":"%s"}' "$sep" "$f"; sep=','; done; printf ']'"#
        let terminate = #"rm -f "$CLOUD/instances/$PLAZA_INSTANCE_ID""#
        func json(_ script: String) -> String {
            String(decoding: try! JSONSerialization.data(withJSONObject: ["/bin/sh", "-c", script]), as: UTF8.self)
        }
        return """
            {"pools": [{
              "name": "drill", "kind": "room-server", "region": "default", "min": 0, "max": 10000, "desired": 0,
              "period": 1, "warmup": 0,
              "provider": {"type": "command", "launch": \(json(launch)), "list": \(json(list)),
                           "terminate": \(json(terminate)), "environment": {"CLOUD": "\(cloud)"}, "timeout": 30},
              "policies": [],
              "health": {"unhealthyThreshold": 3, "registrationGrace": 3600, "reportTTL": 3600}
            }]}
            """
    }

    static func runningCount(_ cloud: URL) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: cloud.appendingPathComponent("instances").path)) ?? []).count
    }

    private func waitFor(timeout: Double, _ condition: () -> Bool) async throws -> Bool {
        let deadline = monotonicNanos() + UInt64(timeout * 1e9)
        while monotonicNanos() < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }
}
