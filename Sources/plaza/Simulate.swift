import ArgumentParser
import Foundation
import PlazaFleet
import PlazaSimulation

/// `plaza simulate`: a week (or a trace) of meetings through the production autoscaler and placement, on a
/// simulated clock, for each pool file given; what each would run, cost and get wrong. docs/simulate.md.
struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Replay a trace or a synthetic week through the autoscaler's own code: instance-hours, cost, overload.",
        discussion: """
            Each --pools file runs on the same workload; with several, their ratios against the first are printed.
            The workload is a trace (--trace) or a synthetic week (--synthetic week --users N). docs/simulate.md.
            """
    )

    @Option(name: .customLong("pools"), help: "A pool file, as plaza autoscaler reads it (repeatable: compared against the first).")
    var poolFiles: [String] = []

    @Option(help: "A trace: CSV of conferences (start,end,participants[,region][,recorded]) or of participants (conference,join,leave).")
    var trace: String?

    @Option(help: "A synthetic workload instead of a trace: 'week'.")
    var synthetic: String?

    @Option(help: "Users of the synthetic week.")
    var users: Int?

    @Option(help: "Seed of the synthetic week and of placement's random choices.")
    var seed: UInt64 = 1

    @Option(name: .customLong("meetings-per-user-day"), help: "Meetings each user takes part in on a weekday (default 1.5).")
    var meetingsPerUserDay: Double?

    @Option(name: .customLong("weekend-factor"), help: "A weekend day's meetings against a weekday's (default 0.15).")
    var weekendFactor: Double?

    @Option(name: .customLong("recorded-share"), help: "Share of meetings recorded (default 0.05).")
    var recordedShare: Double?

    @Option(name: .customLong("mean-duration"), help: "Mean meeting duration, minutes (default 54).")
    var meanDuration: Double?

    @Option(name: .customLong("small-share"), help: "Share of meetings of two to four (default 0.55).")
    var smallShare: Double?

    @Option(name: .customLong("medium-share"), help: "Share of meetings of five to fifteen (default 0.35).")
    var mediumShare: Double?

    @Option(name: .customLong("large-mean"), help: "Mean size of meetings of sixteen and more (default 48.5).")
    var largeMean: Double?

    @Option(name: .customLong("largest-meeting"), help: "Largest meeting of the synthetic week (default 500).")
    var largestMeeting: Int?

    @Option(help: "Regions as name:utcOffset:share,… (default eu:1:0.45,us:-5:0.35,ap:8:0.2).")
    var regions: String?

    @Option(help: "The capacity and price model (JSON; default: the documented defaults).")
    var model: String?

    @Option(name: .customLong("max-trace-bytes"), help: "Largest trace file read (default 268435456, 256 MiB).")
    var maxTraceBytes: Int = 256 << 20

    @Flag(help: "Print the report as JSON instead of tables.")
    var json = false

    @Option(help: "Also write the report as one self-contained HTML page with plots.")
    var html: String?

    @Flag(inversion: .prefixedNo, help: "Show a progress bar on the terminal (default: when standard error is one).")
    var progress: Bool = isatty(2) == 1

    func validate() throws {
        guard !poolFiles.isEmpty else { throw ValidationError("give at least one --pools file") }
        guard (trace == nil) != (synthetic == nil) else { throw ValidationError("give either --trace FILE or --synthetic week --users N") }
        if let synthetic {
            guard synthetic == "week" else { throw ValidationError("--synthetic knows 'week'") }
            guard let users, users > 0 else { throw ValidationError("--synthetic week needs --users N (N > 0)") }
        } else {
            let weekFlags: [(String, Bool)] = [
                ("--users", users != nil), ("--meetings-per-user-day", meetingsPerUserDay != nil), ("--weekend-factor", weekendFactor != nil),
                ("--recorded-share", recordedShare != nil), ("--mean-duration", meanDuration != nil), ("--small-share", smallShare != nil),
                ("--medium-share", mediumShare != nil), ("--large-mean", largeMean != nil), ("--largest-meeting", largestMeeting != nil),
                ("--regions", regions != nil),
            ]
            if let given = weekFlags.first(where: \.1) { throw ValidationError("\(given.0) goes with --synthetic week, not --trace") }
        }
        guard maxTraceBytes > 0 else { throw ValidationError("--max-trace-bytes must be > 0") }
    }

    func run() async throws {
        let model = try loadModel()
        let workload = try loadWorkload()
        var pools: [(name: String, pools: [PoolConfiguration])] = []
        for path in poolFiles {
            do {
                let file = try PoolFile.load(path: path, defaultProvider: .local(.init()))
                // Named by the file's name, or by its path when two files share a name.
                let name = URL(fileURLWithPath: path).lastPathComponent
                let shared = poolFiles.filter { URL(fileURLWithPath: $0).lastPathComponent == name }.count > 1
                pools.append((shared ? path : name, file.pools))
            } catch {
                throw CommandFailure(description: "\(error)")
            }
        }
        let poolNames = Set(pools.flatMap { $0.pools.map(\.name.rawValue) })
        if let stray = model.pools.keys.sorted().first(where: { !poolNames.contains($0) }) {
            throw CommandFailure(description: "the model file \(self.model ?? ""): pools.\(stray): no pool file has a pool of that name")
        }
        var runs: [(name: String, report: SimulationReport)] = []
        for (number, file) in pools.enumerated() {
            let simulation = Simulation(pools: file.pools, model: model, workload: workload, seed: seed)
            let label = pools.count > 1 ? "\(file.name) (\(number + 1)/\(pools.count))" : file.name
            let bar = progress ? ProgressBar(label: label) : nil
            var show: (@Sendable (Double) -> Void)?
            if let bar { show = { done in bar.show(done) } }
            let outcome: Simulation.Outcome
            do { outcome = try await simulation.run(progress: show) } catch let error as SimulationError {
                throw CommandFailure(description: "\(file.name): \(error)")
            }
            bar?.finish()
            runs.append((file.name, outcome.report))
        }
        if let html {
            let title = "plaza simulate: " + runs.map(\.name).joined(separator: " vs ")
            do { try Data(ReportHTML.render(title: title, runs: runs).utf8).write(to: URL(fileURLWithPath: html)) } catch {
                throw CommandFailure(description: "cannot write \(html): \(error.localizedDescription)")
            }
        }
        if json {
            print(try SimulationJSON.text(runs))
        } else {
            print(tables(runs))
        }
    }

    private func loadModel() throws -> CapacityModel {
        guard let model else { return CapacityModel() }
        do { return try CapacityModel.parse(try Data(contentsOf: URL(fileURLWithPath: model))) } catch let error as ModelError {
            throw CommandFailure(description: "the model file \(model): \(error)")
        } catch {
            throw CommandFailure(description: "cannot read the model file \(model): \(error.localizedDescription)")
        }
    }

    private func loadWorkload() throws -> Workload {
        if let trace {
            let size = (try? FileManager.default.attributesOfItem(atPath: trace)[.size] as? Int) ?? 0
            guard size <= maxTraceBytes else {
                throw CommandFailure(description: "the trace \(trace) has \(size) bytes, more than --max-trace-bytes (\(maxTraceBytes))")
            }
            let text: String
            do { text = try String(contentsOfFile: trace, encoding: .utf8) } catch {
                throw CommandFailure(description: "cannot read the trace \(trace): \(error.localizedDescription)")
            }
            do { return try Workload.trace(text) } catch { throw CommandFailure(description: "the trace \(trace), \(error)") }
        }
        var week = SyntheticWeek(users: users ?? 0, seed: seed)
        if let meetingsPerUserDay { week.meetingsPerUserDay = meetingsPerUserDay }
        if let weekendFactor { week.weekendFactor = weekendFactor }
        if let recordedShare { week.recordedShare = recordedShare }
        if let meanDuration { week.meanDurationMinutes = meanDuration }
        if let smallShare { week.smallShare = smallShare }
        if let mediumShare { week.mediumShare = mediumShare }
        if let largeMean { week.largeMean = largeMean }
        if let largestMeeting { week.largestMeeting = largestMeeting }
        if let regions {
            week.regions = try regions.split(separator: ",").map { entry in
                let parts = entry.split(separator: ":").map(String.init)
                guard parts.count == 3, let offset = Double(parts[1]), let share = Double(parts[2]), share >= 0 else {
                    throw ValidationError("--regions: '\(entry)' is not name:utcOffset:share")
                }
                return SyntheticWeek.Region(name: parts[0], utcOffset: offset, share: share)
            }
        }
        do { try week.validate() } catch { throw ValidationError("\(error)") }
        return week.generate()
    }

    /// A table per run, then the runs' ratios against the first.
    private func tables(_ runs: [(name: String, report: SimulationReport)]) -> String {
        var out: [String] = []
        if let first = runs.first?.report.workload {
            out.append(
                String(
                    format: "workload: %d conferences (%d recorded), mean %.1f participants, mean %.0f min, peak %d participants at once, %.1f days",
                    first.conferences, first.recorded, first.meanSize, first.meanDurationMinutes, first.peakParticipants, first.duration / 86_400))
        }
        for run in runs {
            var rows = [
                [
                    "pool", "kind", "inst-h", "cost $", "peak", "mean", "util p50/p95/p99", "overload min", "conf wait/refused",
                    "rec wait/refused/p95 s", "cut", "activities", "flaps", "to capacity min",
                ]
            ]
            for pool in run.report.pools {
                rows.append([
                    pool.name, pool.kind, String(format: "%.1f", pool.instanceHours), String(format: "%.2f", pool.cost), "\(pool.peakInstances)",
                    String(format: "%.1f", pool.meanInstances),
                    String(format: "%.0f%%/%.0f%%/%.0f%%", pool.utilization.p50 * 100, pool.utilization.p95 * 100, pool.utilization.p99 * 100),
                    String(format: "%.0f", pool.overloadMinutes), "\(pool.conferencesKeptWaiting)/\(pool.conferencesRefused)",
                    "\(pool.recordingsKeptWaiting)/\(pool.recordingsRefused)/" + String(format: "%.0f", pool.recordingWaitP95),
                    "\(pool.conferencesCut)", "\(pool.activities)", "\(pool.flaps)", String(format: "%.0f", pool.timeToCapacity / 60),
                ])
            }
            let total = run.report.total
            rows.append([
                "total", "", String(format: "%.1f", total.instanceHours), String(format: "%.2f", total.cost), "", "", "",
                String(format: "%.0f", total.overloadMinutes), "-/\(total.conferencesRefused)", "-/\(total.recordingsRefused)/-",
                "\(total.conferencesCut)", "", "", "",
            ])
            out.append("\n\(run.name)\n" + Table.render(rows))
        }
        if runs.count > 1, let first = runs.first?.report.total {
            var rows = [["pool file", "instance-hours", "cost", "overload min", "recordings refused", "conferences cut"]]
            for run in runs {
                let total = run.report.total
                rows.append([
                    run.name, ratio(total.instanceHours, first.instanceHours), ratio(total.cost, first.cost),
                    String(format: "%.0f", total.overloadMinutes), "\(total.recordingsRefused)", "\(total.conferencesCut)",
                ])
            }
            out.append("\nagainst \(runs[0].name)\n" + Table.render(rows))
        }
        return out.joined(separator: "\n")
    }

    private func ratio(_ value: Double, _ base: Double) -> String {
        base > 0 ? String(format: "%.2f×", value / base) : "-"
    }
}

/// A one-line progress bar on standard error, redrawn in place.
final class ProgressBar: Sendable {
    let label: String
    init(label: String) { self.label = label }

    func show(_ done: Double) {
        let width = 30
        let filled = Int(done * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(Int(done * 100))%".utf8))
    }

    func finish() { FileHandle.standardError.write(Data("\n".utf8)) }
}
