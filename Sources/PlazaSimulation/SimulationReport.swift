import Foundation

/// What a simulated run came to (`plaza simulate --json`, documented in docs/simulate.md): per pool and in total.
/// `timelines` feed the HTML report's plots and are left out of the JSON.
public struct SimulationReport: Sendable, Equatable, Codable {
    /// The pool file's name, when the report is one of several.
    public var file: String?
    public var pools: [PoolReport]
    public var total: Total
    public var workload: WorkloadSummary
    public var timelines: [PoolTimeline] = []

    enum CodingKeys: String, CodingKey { case file, pools, total, workload }

    public init(pools: [PoolReport], total: Total, workload: WorkloadSummary, timelines: [PoolTimeline] = []) {
        (self.pools, self.total, self.workload, self.timelines) = (pools, total, workload, timelines)
    }
}

/// `plaza simulate --json`: one run's report, or `{"runs": [...]}` for several pool files, each naming its file.
public enum SimulationJSON {
    public static func text(_ runs: [(name: String, report: SimulationReport)]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let reports = runs.map { run in
            var report = run.report
            report.file = run.name
            return report
        }
        let data = reports.count == 1 ? try encoder.encode(reports[0]) : try encoder.encode(["runs": reports])
        return String(decoding: data, as: UTF8.self)
    }
}

/// One pool over the run.
public struct PoolReport: Sendable, Equatable, Codable {
    public var name: String
    public var kind: String
    /// Hours of instances the provider ran (from launch to termination, by the second).
    public var instanceHours: Double
    /// `instanceCost + egressCost`.
    public var cost: Double
    public var instanceCost: Double
    public var egressCost: Double
    /// GB (10⁹ bytes) the pool's bridges sent.
    public var egressGB: Double
    /// Most and mean instances the provider ran at once (sampled every tick).
    public var peakInstances: Int
    public var meanInstances: Double
    /// Serving instances' utilization (the larger of participants over capacity and egress over capacity; a
    /// recorder's is 1 while it records), over every tick: 0.5, 0.95, 0.99 quantiles (to three significant digits).
    public var utilization: Quantiles
    /// Instance-minutes above capacity, and the participant-minutes on those instances meanwhile.
    public var overloadMinutes: Double
    public var overloadParticipantMinutes: Double
    /// Conferences (or rooms) no instance of the pool could take when they began, and those without one when they
    /// ended (never placed, cut and not placed again, or still waiting when the run ended).
    public var conferencesKeptWaiting: Int
    public var conferencesRefused: Int
    /// Recordings that found no idle recorder at once, those that never found one before their meeting ended,
    /// and the 95th percentile of the waits of the recordings that started, seconds.
    public var recordingsKeptWaiting: Int
    public var recordingsRefused: Int
    public var recordingWaitP95: Double
    /// Conferences, rooms or recordings still on an instance when it was terminated (a drain's deadline with
    /// `atDeadline: terminate`, or a replacement): cut, or moved by their participants joining again.
    public var conferencesCut: Int
    /// Scaling activities the pool recorded, and the changes of desired capacity that reversed the previous one
    /// within 30 minutes (flapping).
    public var activities: Int
    public var flaps: Int
    /// The longest stretch, seconds, during which a meeting or recording waited for the pool or one of its
    /// instances was above capacity (its time to capacity after a surge).
    public var timeToCapacity: Double
}

public struct Quantiles: Sendable, Equatable, Codable {
    public var p50: Double
    public var p95: Double
    public var p99: Double
}

/// The pools together.
public struct Total: Sendable, Equatable, Codable {
    public var instanceHours: Double
    public var cost: Double
    public var overloadMinutes: Double
    public var recordingsRefused: Int
    public var conferencesCut: Int
    public var conferencesRefused: Int
}

/// What was replayed.
public struct WorkloadSummary: Sendable, Equatable, Codable {
    public var conferences: Int
    public var recorded: Int
    /// Sum of every conference's participants.
    public var participants: Int
    public var meanSize: Double
    public var meanDurationMinutes: Double
    /// Seconds simulated.
    public var duration: Double
    /// Most participants in conferences at once.
    public var peakParticipants: Int
}

/// One pool's course over the run, a sample per `step` seconds from the start: for the HTML report's plots.
public struct PoolTimeline: Sendable, Equatable, Codable {
    public var name: String
    public var kind: String
    public var step: Double
    /// Desired capacity, serving instances (registered), instances launching (not registered yet), draining ones.
    public var desired: [Int]
    public var ready: [Int]
    public var launching: [Int]
    public var draining: [Int]
    /// Instances the load needed at full capacity (the sum of utilizations, rounded up), and participants on the
    /// pool (recordings, for recorders).
    public var needed: [Int]
    public var demand: [Int]
    /// Counts of serving-instance samples by utilization: bins of 0.05 from 0 to 1, then one for above 1.
    public var utilizationHistogram: [Int]
}
