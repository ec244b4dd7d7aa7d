import Foundation

/// The report's tables as text cells: one set of columns for the terminal (`plaza simulate`) and the HTML page,
/// so the two never say different things.
public enum ReportTables {
    /// One line about what was replayed.
    public static func workload(_ workload: WorkloadSummary) -> String {
        "\(workload.conferences) conferences (\(workload.recorded) recorded), mean \(fixed(workload.meanSize, 1)) participants, "
            + "mean \(fixed(workload.meanDurationMinutes, 0)) min, peak \(workload.peakParticipants) participants at once, "
            + "\(fixed(workload.duration / 86_400, 1)) days"
    }

    public static let poolHeaders = [
        "pool", "kind", "instance-hours", "cost", "peak", "mean", "util p50/p95/p99", "overload min", "conferences waited/refused",
        "recordings waited/refused", "recording wait p95 s", "cut", "activities", "flaps", "to capacity min",
    ]

    public static func poolRow(_ pool: PoolReport) -> [String] {
        let utilization = [pool.utilization.p50, pool.utilization.p95, pool.utilization.p99].map(percent).joined(separator: "/")
        return [
            pool.name, pool.kind, fixed(pool.instanceHours, 1), money(pool.cost), "\(pool.peakInstances)", fixed(pool.meanInstances, 1),
            utilization, fixed(pool.overloadMinutes, 0), "\(pool.conferencesKeptWaiting)/\(pool.conferencesRefused)",
            "\(pool.recordingsKeptWaiting)/\(pool.recordingsRefused)", fixed(pool.recordingWaitP95, 0), "\(pool.conferencesCut)",
            "\(pool.activities)", "\(pool.flaps)", fixed(pool.timeToCapacity / 60, 0),
        ]
    }

    /// The pools added up, under `poolHeaders`.
    public static func totalRow(_ total: Total) -> [String] {
        [
            "total", "", fixed(total.instanceHours, 1), money(total.cost), "", "", "", fixed(total.overloadMinutes, 0),
            "-/\(total.conferencesRefused)", "-/\(total.recordingsRefused)", "", "\(total.conferencesCut)", "", "", "",
        ]
    }

    /// Each run against the first: instance-hours and cost as ratios, and what each got wrong.
    public static func comparison(_ runs: [(name: String, report: SimulationReport)]) -> (headers: [String], rows: [[String]]) {
        let base = runs.first?.report.total
        let headers = [
            "pool file", "instance-hours", "cost", "overload min", "conferences refused", "recordings refused", "conferences cut",
        ]
        let rows = runs.map { run -> [String] in
            let total = run.report.total
            return [
                run.name, times(total.instanceHours, against: base?.instanceHours ?? 0), times(total.cost, against: base?.cost ?? 0),
                fixed(total.overloadMinutes, 0), "\(total.conferencesRefused)", "\(total.recordingsRefused)", "\(total.conferencesCut)",
            ]
        }
        return (headers, rows)
    }
}

/// `value` with `digits` decimals (a dash when not finite), never "-0".
func fixed(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return "—" }
    let text = String(format: "%.\(digits)f", value)
    let isZero = text.allSatisfy { $0 == "-" || $0 == "0" || $0 == "." }
    return isZero && text.hasPrefix("-") ? String(text.dropFirst()) : text
}

func money(_ value: Double) -> String { "$" + fixed(value, 2) }

func percent(_ fraction: Double) -> String { fixed(fraction * 100, 0) + "%" }

/// `value` as a multiple of `base` ("0.62×"), or a dash when there is nothing to compare with.
func times(_ value: Double, against base: Double) -> String {
    guard base > 0, base.isFinite, value.isFinite else { return "—" }
    return fixed(value / base, 2) + "×"
}
