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

    @Option(name: .customLong("max-days"), help: "Longest trace simulated, days (default 31, at most 366).")
    var maxDays: Double = 31

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
        guard maxDays > 0, maxDays * 86_400 <= Simulation.longestRun else { throw ValidationError("--max-days must be within 0 … 366") }
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
            // Read up to one byte past the limit, whatever the file is (a pipe has no size to ask for).
            let data: Data
            do {
                let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: trace))
                defer { try? handle.close() }
                data = try handle.read(upToCount: maxTraceBytes + 1) ?? Data()
            } catch {
                throw CommandFailure(description: "cannot read the trace \(trace): \(error.localizedDescription)")
            }
            guard data.count <= maxTraceBytes else {
                throw CommandFailure(description: "the trace \(trace) has more than --max-trace-bytes (\(maxTraceBytes)) bytes")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw CommandFailure(description: "the trace \(trace) is not UTF-8 text")
            }
            let workload: Workload
            do { workload = try Workload.trace(text) } catch { throw CommandFailure(description: "the trace \(trace), \(error)") }
            guard workload.duration <= maxDays * 86_400 else {
                throw CommandFailure(
                    description: String(format: "the trace \(trace) lasts %.1f days, more than --max-days (%g)", workload.duration / 86_400, maxDays))
            }
            return workload
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
        if let first = runs.first?.report.workload { out.append("workload: " + ReportTables.workload(first)) }
        for run in runs {
            let rows = [ReportTables.poolHeaders] + run.report.pools.map(ReportTables.poolRow) + [ReportTables.totalRow(run.report.total)]
            out.append("\n\(run.name)\n" + Table.render(rows))
        }
        if runs.count > 1 {
            let comparison = ReportTables.comparison(runs)
            out.append("\nagainst \(runs[0].name)\n" + Table.render([comparison.headers] + comparison.rows))
        }
        return out.joined(separator: "\n")
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
