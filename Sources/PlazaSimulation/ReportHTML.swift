import Foundation

/// The report as one self-contained HTML page (`plaza simulate --html`): the workload replayed, a summary of every
/// run against the first, each run's pools with their course over time, and what each run cost. The charts are
/// inline SVG drawn here; the page has no script and loads nothing, so it opens offline and can be archived as is.
public enum ReportHTML {
    /// `runs`: each pool file simulated, by its name (the file's name), the first being the baseline of comparisons.
    public static func render(title: String, runs: [(name: String, report: SimulationReport)]) -> String {
        var html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title))</title>
            <style>
            \(style)</style>
            </head>
            <body>
            <h1>\(escape(title))</h1>

            """
        guard let first = runs.first else {
            html += "<p>No runs were simulated.</p>\n</body>\n</html>\n"
            return html
        }
        html += workloadParagraph(first)
        html += summaryTable(runs)
        for run in runs {
            html += runSection(run)
        }
        html += costSection(runs)
        html += "</body>\n</html>\n"
        return html
    }

    // MARK: Text

    private static func workloadParagraph(_ run: Run) -> String {
        "<p class=\"workload\">Workload: \(escape(ReportTables.workload(run.report.workload))).</p>\n"
    }

    private static func summaryTable(_ runs: [Run]) -> String {
        let comparison = ReportTables.comparison(runs)
        return table(headers: comparison.headers, rows: comparison.rows, caption: "Summary, against \(runs[0].name)", className: "summary")
    }

    private static func runSection(_ run: Run) -> String {
        var html = "<section class=\"run\">\n<h2>\(escape(run.name))</h2>\n"
        if run.report.pools.isEmpty {
            html += "<p>No pools.</p>\n"
        } else {
            let rows = run.report.pools.map(ReportTables.poolRow) + [ReportTables.totalRow(run.report.total)]
            html += table(headers: ReportTables.poolHeaders, rows: rows, caption: nil, className: "pools")
        }
        for timeline in orderedTimelines(run.report) {
            html += "<h3>\(escape(timeline.name)) <span class=\"kind\">(\(escape(timeline.kind)))</span></h3>\n"
            html += instancesChart(timeline)
            html += demandChart(timeline)
            html += histogramChart(timeline)
        }
        html += "</section>\n"
        return html
    }

    /// The timelines in the order of the pools' table, then any timeline no pool of the report names.
    private static func orderedTimelines(_ report: SimulationReport) -> [PoolTimeline] {
        let matched: [PoolTimeline] = report.pools.compactMap { pool in
            report.timelines.first { $0.name == pool.name }
        }
        let unmatched: [PoolTimeline] = report.timelines.filter { timeline in
            !report.pools.contains { $0.name == timeline.name }
        }
        return matched + unmatched
    }

    private static func costSection(_ runs: [Run]) -> String {
        var html = "<section class=\"cost\">\n<h2>Cost breakdown</h2>\n"
        html += costChart(runs)
        html += "</section>\n"
        return html
    }

    // MARK: Charts

    private static func instancesChart(_ timeline: PoolTimeline) -> String {
        let series = [
            // Ready is wide and drawn beneath desired (series are drawn last first), so that neither hides the other
            // where they agree.
            Series(label: "desired", colour: "#1f77b4", values: timeline.desired, stepped: true, width: 1.5),
            Series(label: "ready", colour: "#98df8a", values: timeline.ready, width: 5),
            Series(label: "launching", colour: "#ff7f0e", values: timeline.launching),
            Series(label: "draining", colour: "#9467bd", values: timeline.draining),
            Series(label: "needed", colour: "#d62728", values: timeline.needed, dashed: true),
        ]
        return lineChart(
            heading: "Instances and demand over the run", subject: timeline.name, yLabel: "instances",
            series: series, step: timeline.step, height: 320)
    }

    private static func demandChart(_ timeline: PoolTimeline) -> String {
        let recordings = timeline.kind == "jibri"
        let unit = recordings ? "recordings" : "participants"
        let heading = recordings ? "Recordings on the pool" : "Participants on the pool"
        let series = [Series(label: unit, colour: "#17becf", values: timeline.demand, width: 2)]
        return lineChart(
            heading: heading, subject: timeline.name, yLabel: unit, series: series, step: timeline.step, height: 220)
    }

    /// Series over time, sample `i` at `i × step` seconds; the y axis counts from 0 to a round value above the peak.
    private static func lineChart(
        heading: String, subject: String, yLabel: String, series: [Series], step: Double, height: Double
    ) -> String {
        let sampleStep = step.isFinite && step > 0 ? step : 1
        let samples = series.map(\.values.count).max() ?? 0
        let span = Double(max(samples - 1, 1)) * sampleStep
        let peak = series.map { $0.values.max() ?? 0 }.max() ?? 0
        let ticks = niceTicks(max: Double(peak), integral: true)
        let top = ticks.last ?? 1
        let items = series.map { LegendItem(label: $0.label, colour: $0.colour, swatch: $0.dashed ? .dashed : .line) }
        let legendY = 38.0
        let key = legend(items, x: 64, y: legendY, maxWidth: 820)
        let plotTop = legendY + Double(max(key.rows - 1, 0)) * 18 + 14
        let frame = Frame(height: height, top: plotTop)
        var svg = openChart(frame, heading: heading, title: "\(heading): \(subject)")
        svg += valueAxis(ticks, frame: frame, label: yLabel, unit: "")
        svg += timeAxis(span: span, frame: frame)
        for line in series.reversed() {
            svg += polyline(line, step: sampleStep, span: span, top: top, frame: frame)
        }
        svg += key.markup
        svg += "</svg>\n"
        return svg
    }

    /// A series as one polyline: a step line holds each sample until the next; a single sample spans the axis, so
    /// that every series with data has a visible extent.
    private static func polyline(_ series: Series, step: Double, span: Double, top: Double, frame: Frame) -> String {
        let (values, bucket) = downsample(series.values, step: step)
        guard !values.isEmpty else { return "" }
        var points: [String] = []
        points.reserveCapacity(values.count * 2)
        for (index, value) in values.enumerated() {
            let start = Double(index) * bucket
            let y = coord(frame.y(Double(value), of: top))
            points.append("\(coord(frame.x(start, of: span))),\(y)")
            if series.stepped || values.count == 1 {
                let end = values.count == 1 ? span : min(start + bucket, span)
                points.append("\(coord(frame.x(end, of: span))),\(y)")
            }
        }
        let dash = series.dashed ? " stroke-dasharray=\"6 4\"" : ""
        var svg = "<polyline fill=\"none\" stroke=\"\(series.colour)\" stroke-width=\"\(number(series.width))\"\(dash)"
        svg += " stroke-linejoin=\"round\" points=\"\(points.joined(separator: " "))\">"
        svg += "<title>\(escape(series.label))</title></polyline>\n"
        return svg
    }

    /// The x axis of a time series: days of the week when the run lasts two days or more (the run starts on a
    /// Monday), hours otherwise.
    private static func timeAxis(span: Double, frame: Frame) -> String {
        let day = 86_400.0
        let gridTop = coord(frame.top)
        let tickEnd = coord(frame.baseline + 5)
        let bottom = coord(frame.baseline)
        let labelY = coord(frame.baseline + 18)
        var svg = ""
        if span >= 2 * day {
            let days = Int((span / day).rounded(.down))
            let every = max(1, (days + 13) / 14)
            // A line and a label every `every` days: the page's size does not grow with a long run's days.
            for index in stride(from: 0, through: days, by: every) {
                let start = Double(index) * day
                let x = coord(frame.x(start, of: span))
                svg += "<line x1=\"\(x)\" y1=\"\(gridTop)\" x2=\"\(x)\" y2=\"\(bottom)\" stroke=\"#eeeeee\"/>"
                svg += "<line x1=\"\(x)\" y1=\"\(bottom)\" x2=\"\(x)\" y2=\"\(tickEnd)\" stroke=\"#666666\"/>\n"
                let noon = start + day / 2
                if noon < span {
                    let labelX = coord(frame.x(noon, of: span))
                    let name = dayNames[index % dayNames.count]
                    svg += "<text x=\"\(labelX)\" y=\"\(labelY)\" text-anchor=\"middle\">\(name)</text>\n"
                }
            }
        } else {
            let hours = span / 3_600
            for tick in niceTicks(max: hours) where tick <= hours + 1e-9 {
                let x = coord(frame.x(tick * 3_600, of: span))
                svg += "<line x1=\"\(x)\" y1=\"\(bottom)\" x2=\"\(x)\" y2=\"\(tickEnd)\" stroke=\"#666666\"/>"
                svg += "<text x=\"\(x)\" y=\"\(labelY)\" text-anchor=\"middle\">\(number(tick))h</text>\n"
            }
        }
        return svg
    }

    /// The utilization histogram as bars: twenty bins of 5% up to 100%, then, set apart and in red, the samples
    /// above capacity. Heights are shares of the samples, so pools of any size read alike.
    private static func histogramChart(_ timeline: PoolTimeline) -> String {
        let bins = twentyOneBins(timeline.utilizationHistogram)
        let total = bins.reduce(0) { $0 + max($1, 0) }
        let shares: [Double] = bins.map { count in
            total > 0 ? Double(max(count, 0)) * 100 / Double(total) : 0
        }
        let ticks = niceTicks(max: shares.max() ?? 0)
        let top = ticks.last ?? 1
        let frame = Frame(height: 240, top: 34)
        let band = frame.plotWidth / 21.5
        let heading = "Utilization of serving instances"
        var svg = openChart(frame, heading: heading, title: "\(heading): \(timeline.name)")
        svg += valueAxis(ticks, frame: frame, label: "share of samples", unit: "%")
        for (index, share) in shares.enumerated() {
            let overflow = index == 20
            let slot = overflow ? 20.5 : Double(index)
            let x = frame.left + band * slot + band * 0.1
            let scaled = frame.plotHeight * share / top
            let height = bins[index] > 0 ? max(scaled, 1) : 0
            let y = frame.baseline - height
            let fill = overflow ? "#d62728" : "#4c78a8"
            let tip = "\(binLabel(index)): \(bins[index]) samples, \(fixed(share, 1))%"
            svg += "<rect x=\"\(coord(x))\" y=\"\(coord(y))\" width=\"\(coord(band * 0.8))\""
            svg += " height=\"\(coord(height))\""
            svg += " fill=\"\(fill)\"><title>\(escape(tip))</title></rect>\n"
        }
        let tickEnd = coord(frame.baseline + 5)
        let bottom = coord(frame.baseline)
        let labelY = coord(frame.baseline + 18)
        for index in stride(from: 0, through: 20, by: 4) {
            let x = coord(frame.left + band * Double(index))
            svg += "<line x1=\"\(x)\" y1=\"\(bottom)\" x2=\"\(x)\" y2=\"\(tickEnd)\" stroke=\"#666666\"/>"
            svg += "<text x=\"\(x)\" y=\"\(labelY)\" text-anchor=\"middle\">\(index * 5)%</text>\n"
        }
        let overflowX = coord(frame.left + band * 21)
        svg += "<text x=\"\(overflowX)\" y=\"\(labelY)\" text-anchor=\"middle\">&gt;100%</text>\n"
        svg += "</svg>\n"
        return svg
    }

    /// One horizontal bar per run, stacked from each pool's instance cost and the runs' egress; the same pool has
    /// the same colour in every run.
    private static func costChart(_ runs: [Run]) -> String {
        let poolNames = distinctPoolNames(runs)
        let bars: [[Segment]] = runs.map { run in
            var segments: [Segment] = run.report.pools.map { pool in
                Segment(label: pool.name, colour: poolColour(pool.name, among: poolNames), value: pool.instanceCost)
            }
            let egress = run.report.pools.reduce(0.0) { $0 + $1.egressCost }
            segments.append(Segment(label: "egress", colour: egressColour, value: egress))
            return segments
        }
        let totals: [Double] = bars.map { segments in
            segments.reduce(0.0) { $0 + ($1.value > 0 ? $1.value : 0) }
        }
        let ticks = niceTicks(max: totals.max() ?? 0)
        let top = ticks.last ?? 1

        let longest = runs.map { shortened($0.name).count }.max() ?? 0
        let left = min(max(Double(longest) * 6.5 + 16, 80), 240)
        let right = 90.0
        let barHeight = 26.0
        let pitch = 40.0
        let plotTop = 34.0
        let barsBottom = plotTop + Double(runs.count) * pitch
        var items = poolNames.map { LegendItem(label: $0, colour: poolColour($0, among: poolNames), swatch: .box) }
        items.append(LegendItem(label: "egress", colour: egressColour, swatch: .box))
        let legendY = barsBottom + 44
        let key = legend(items, x: left, y: legendY, maxWidth: 900 - left - right)
        let height = legendY + Double(max(key.rows - 1, 0)) * 18 + 14
        let frame = Frame(height: height, left: left, right: right, top: plotTop, bottom: height - barsBottom)

        let title = "Cost breakdown: instance cost per pool and egress, per run"
        var svg = openChart(frame, heading: "Cost by run", title: title)
        let gridTop = coord(frame.top)
        let bottom = coord(frame.baseline)
        let tickEnd = coord(frame.baseline + 5)
        let labelY = coord(frame.baseline + 18)
        for tick in ticks {
            let x = coord(frame.x(tick, of: top))
            svg += "<line x1=\"\(x)\" y1=\"\(gridTop)\" x2=\"\(x)\" y2=\"\(bottom)\" stroke=\"#eeeeee\"/>"
            svg += "<line x1=\"\(x)\" y1=\"\(bottom)\" x2=\"\(x)\" y2=\"\(tickEnd)\" stroke=\"#666666\"/>"
            svg += "<text x=\"\(x)\" y=\"\(labelY)\" text-anchor=\"middle\">$\(number(tick))</text>\n"
        }
        let axisLeft = coord(frame.left)
        let axisRight = coord(frame.width - frame.right)
        svg += "<line x1=\"\(axisLeft)\" y1=\"\(bottom)\" x2=\"\(axisRight)\" y2=\"\(bottom)\" stroke=\"#666666\"/>\n"
        for (index, segments) in bars.enumerated() {
            let y = frame.top + Double(index) * pitch + (pitch - barHeight) / 2
            let middle = coord(y + barHeight / 2)
            let name = escape(shortened(runs[index].name))
            svg += "<text x=\"\(coord(left - 8))\" y=\"\(middle)\" dy=\"0.32em\" text-anchor=\"end\">\(name)</text>\n"
            var cursor = 0.0
            for segment in segments where segment.value > 0 {
                let start = frame.x(cursor, of: top)
                cursor += segment.value
                let width = max(frame.x(cursor, of: top) - start, 1)
                let amount = money(segment.value)
                svg += "<rect x=\"\(coord(start))\" y=\"\(coord(y))\" width=\"\(coord(width))\""
                svg += " height=\"\(coord(barHeight))\""
                svg += " fill=\"\(segment.colour)\"><title>\(escape(segment.label)): \(amount)</title></rect>\n"
                let labelWidth = Double(amount.count) * 6.5 + 8
                if width >= labelWidth {
                    let labelX = coord(start + width / 2)
                    svg += "<text x=\"\(labelX)\" y=\"\(middle)\" dy=\"0.32em\" text-anchor=\"middle\">\(amount)</text>\n"
                }
            }
            let totalX = coord(frame.x(cursor, of: top) + 6)
            let total = money(totals[index])
            svg += "<text x=\"\(totalX)\" y=\"\(middle)\" dy=\"0.32em\" font-weight=\"600\">\(total)</text>\n"
        }
        svg += key.markup
        svg += "</svg>\n"
        return svg
    }

    private static func distinctPoolNames(_ runs: [Run]) -> [String] {
        var names: [String] = []
        for run in runs {
            for pool in run.report.pools where !names.contains(pool.name) {
                names.append(pool.name)
            }
        }
        return names
    }

    private static func poolColour(_ name: String, among names: [String]) -> String {
        let index = names.firstIndex(of: name) ?? 0
        return palette[index % palette.count]
    }

    private static let palette = [
        "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#17becf",
    ]
    private static let egressColour = "#a0a0a0"
    private static let dayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    private static let style = """
        body { margin: 0 auto; max-width: 1200px; padding: 1.5rem 2rem 3rem; background: #f7f7f5; color: #1f2328;
          font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
        h1 { font-size: 1.7rem; margin-bottom: 0.3rem; }
        h2 { margin-top: 2.5rem; border-bottom: 1px solid #d0d0d0; padding-bottom: 0.2rem; }
        h3 { margin: 1.8rem 0 0.4rem; }
        h3 .kind { color: #666; font-weight: normal; font-size: 0.9em; }
        .scroll { overflow-x: auto; }
        table { border-collapse: collapse; font-size: 0.85rem; background: #fff; margin: 0.5rem 0 1rem; }
        caption { text-align: left; font-weight: 600; padding: 0.3rem 0; }
        th, td { padding: 0.3rem 0.6rem; border-bottom: 1px solid #e1e1e1; text-align: right; white-space: nowrap; }
        td { font-variant-numeric: tabular-nums; }
        th { background: #eef0f3; font-weight: 600; }
        th:first-child, td:first-child, table.pools th:nth-child(2), table.pools td:nth-child(2) { text-align: left; }
        svg.chart { display: block; height: auto; max-width: 100%; background: #fff; border: 1px solid #e1e1e1;
          border-radius: 4px; margin: 0.5rem 0 1rem; }
        svg.chart text { fill: #333; }

        """
}

/// A run as `render` takes it.
private typealias Run = (name: String, report: SimulationReport)

/// A line of a line chart.
private struct Series {
    let label: String
    let colour: String
    let values: [Int]
    var dashed = false
    var stepped = false
    var width = 1.5
}

/// A part of a stacked bar.
private struct Segment {
    let label: String
    let colour: String
    let value: Double
}

private enum Swatch { case line, dashed, box }

private struct LegendItem {
    let label: String
    let colour: String
    let swatch: Swatch
}

/// A chart's canvas in viewBox units and the plot inside its margins. Positions are clamped to the plot, so a
/// value off its range (or a zero range) never yields a coordinate outside it.
private struct Frame {
    var width = 900.0
    var height: Double
    var left = 64.0
    var right = 16.0
    var top: Double
    var bottom = 34.0

    var plotWidth: Double { max(width - left - right, 1) }
    var plotHeight: Double { max(height - top - bottom, 1) }
    var baseline: Double { height - bottom }

    /// Where `value`, of an axis from 0 to `range`, falls horizontally.
    func x(_ value: Double, of range: Double) -> Double {
        let share = fraction(value, of: range)
        return left + plotWidth * share
    }

    /// Where `value`, of an axis from 0 to `range`, falls vertically.
    func y(_ value: Double, of range: Double) -> Double {
        let share = fraction(value, of: range)
        return baseline - plotHeight * share
    }

    private func fraction(_ value: Double, of range: Double) -> Double {
        guard range > 0, range.isFinite, value.isFinite else { return 0 }
        return min(max(value / range, 0), 1)
    }
}

// MARK: Chart parts

private func openChart(_ frame: Frame, heading: String, title: String) -> String {
    let viewBox = "0 0 \(coord(frame.width)) \(coord(frame.height))"
    var svg = "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"\(viewBox)\" width=\"100%\""
    svg += " role=\"img\" font-family=\"system-ui, sans-serif\" font-size=\"11\">\n"
    svg += "<title>\(escape(title))</title>\n"
    svg += "<text x=\"8\" y=\"20\" font-size=\"13\" font-weight=\"600\">\(escape(heading))</text>\n"
    return svg
}

/// The y axis: a grid line and a label per tick, the axis' name turned along it, and the axes' lines.
private func valueAxis(_ ticks: [Double], frame: Frame, label: String, unit: String) -> String {
    let top = ticks.last ?? 1
    let left = coord(frame.left)
    let right = coord(frame.width - frame.right)
    let labelX = coord(frame.left - 6)
    var svg = ""
    for tick in ticks {
        let y = coord(frame.y(tick, of: top))
        svg += "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(right)\" y2=\"\(y)\" stroke=\"#e5e5e5\"/>"
        svg += "<text x=\"\(labelX)\" y=\"\(y)\" dy=\"0.32em\" text-anchor=\"end\">\(number(tick))\(unit)</text>\n"
    }
    let middle = coord(frame.top + frame.plotHeight / 2)
    svg += "<text transform=\"translate(14 \(middle)) rotate(-90)\" text-anchor=\"middle\">\(escape(label))</text>\n"
    let plotTop = coord(frame.top)
    let bottom = coord(frame.baseline)
    svg += "<line x1=\"\(left)\" y1=\"\(plotTop)\" x2=\"\(left)\" y2=\"\(bottom)\" stroke=\"#666666\"/>"
    svg += "<line x1=\"\(left)\" y1=\"\(bottom)\" x2=\"\(right)\" y2=\"\(bottom)\" stroke=\"#666666\"/>\n"
    return svg
}

/// Legend entries left to right from (`x`, `y`), wrapping to a new row of 18 units past `maxWidth`.
private func legend(_ items: [LegendItem], x: Double, y: Double, maxWidth: Double) -> (markup: String, rows: Int) {
    var markup = ""
    var cursor = x
    var row = 0
    for item in items {
        let width = 36 + Double(item.label.count) * 6.5
        if cursor > x, cursor + width > x + maxWidth {
            row += 1
            cursor = x
        }
        let baseline = y + Double(row) * 18
        switch item.swatch {
        case .box:
            markup += "<rect x=\"\(coord(cursor))\" y=\"\(coord(baseline - 9))\" width=\"12\" height=\"10\""
            markup += " fill=\"\(item.colour)\"/>"
        case .line, .dashed:
            let middle = coord(baseline - 4)
            let dash = item.swatch == .dashed ? " stroke-dasharray=\"4 3\"" : ""
            markup += "<line x1=\"\(coord(cursor))\" y1=\"\(middle)\" x2=\"\(coord(cursor + 18))\" y2=\"\(middle)\""
            markup += " stroke=\"\(item.colour)\" stroke-width=\"2\"\(dash)/>"
        }
        markup += "<text x=\"\(coord(cursor + 22))\" y=\"\(coord(baseline))\">\(escape(item.label))</text>\n"
        cursor += width
    }
    return (markup, items.isEmpty ? 0 : row + 1)
}

/// Round tick values from 0 to at least `value`: steps of 1, 2, 2.5 or 5 times a power of ten, 4 to 6 ticks.
/// `integral` keeps steps whole, for counts; then small ranges still get 4 ticks (0 to 3).
private func niceTicks(max value: Double, integral: Bool = false) -> [Double] {
    let target = value.isFinite && value > 0 ? value : 1
    let magnitude = pow(10, log10(target).rounded(.down) - 1)
    var step = integral ? max((target / 5).rounded(.up), 1) : target / 5
    for factor in [1.0, 2, 2.5, 5, 10, 20, 25, 50, 100] {
        let candidate = factor * magnitude
        if integral, candidate < 1 || candidate.rounded() != candidate { continue }
        let intervals = (target / candidate - 1e-9).rounded(.up)
        if intervals <= 5 {
            step = candidate
            break
        }
    }
    let needed = Int((target / step - 1e-9).rounded(.up))
    let intervals = max(needed, integral ? 3 : 1)
    return (0...intervals).map { Double($0) * step }
}

/// At most 2,000 points: the largest value of each bucket of consecutive samples, so that peaks stay visible.
private func downsample(_ values: [Int], step: Double, limit: Int = 2_000) -> (values: [Int], step: Double) {
    guard values.count > limit else { return (values, step) }
    let bucket = (values.count + limit - 1) / limit
    var result: [Int] = []
    result.reserveCapacity(limit)
    var index = 0
    while index < values.count {
        let end = min(index + bucket, values.count)
        result.append(values[index..<end].max() ?? 0)
        index = end
    }
    return (result, step * Double(bucket))
}

/// The histogram as 21 bins whatever its length: missing bins count 0, any beyond the 21st go to the last.
private func twentyOneBins(_ histogram: [Int]) -> [Int] {
    var bins = Array(histogram.prefix(21))
    bins += Array(repeating: 0, count: 21 - bins.count)
    if histogram.count > 21 {
        bins[20] += histogram[21...].reduce(0, +)
    }
    return bins
}

private func binLabel(_ index: Int) -> String {
    index >= 20 ? ">100%" : "\(index * 5)–\((index + 1) * 5)%"
}

// MARK: Formatting

/// `text` made safe in HTML text and attribute values.
private func escape(_ text: String) -> String {
    var result = ""
    result.reserveCapacity(text.utf8.count)
    for character in text {
        switch character {
        case "&": result += "&amp;"
        case "<": result += "&lt;"
        case ">": result += "&gt;"
        case "\"": result += "&quot;"
        case "'": result += "&#39;"
        default: result.append(character)
        }
    }
    return result
}

/// An SVG coordinate: one decimal at most, 0 for anything not finite.
private func coord(_ value: Double) -> String {
    guard value.isFinite else { return "0" }
    var text = fixed(value, 1)
    if text.hasSuffix(".0") {
        text.removeLast(2)
    }
    return text
}

/// A tick value: whole when it is, otherwise up to two decimals without trailing zeros.
private func number(_ value: Double) -> String {
    guard value.isFinite else { return "—" }
    if value == value.rounded(), abs(value) < 1e15 {
        return String(Int64(value))
    }
    var text = fixed(value, 2)
    while text.hasSuffix("0") {
        text.removeLast()
    }
    if text.hasSuffix(".") {
        text.removeLast()
    }
    return text
}

private func shortened(_ text: String, to limit: Int = 32) -> String {
    text.count > limit ? String(text.prefix(limit - 1)) + "…" : text
}

private func table(headers: [String], rows: [[String]], caption: String?, className: String) -> String {
    var html = "<div class=\"scroll\"><table class=\"\(className)\">\n"
    if let caption {
        html += "<caption>\(escape(caption))</caption>\n"
    }
    let headerCells = headers.map { "<th>\(escape($0))</th>" }.joined()
    html += "<thead><tr>\(headerCells)</tr></thead>\n<tbody>\n"
    for row in rows {
        let cells = row.map { "<td>\(escape($0))</td>" }.joined()
        html += "<tr>\(cells)</tr>\n"
    }
    html += "</tbody></table></div>\n"
    return html
}
