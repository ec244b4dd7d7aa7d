import Foundation

/// A trace file that cannot be read: the line (1 is the header) and what is wrong with it.
public struct TraceError: Error, Equatable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }
}

extension Workload {
    /// Reads a trace: CSV with a header naming its columns, either a conference a line —
    /// `start`, `end`, `participants`, and optionally `region` (default `default`) and `recorded` (`true`/`false`,
    /// `1`/`0`, `yes`/`no`; default false) — or a participant a line — `conference`, `join`, `leave`, optionally
    /// `region` and `recorded` (a conference's from its first line) —, a conference then running from its first join
    /// to its last leave with as many participants as were there at once at most. Times are seconds from the
    /// trace's start, or ISO 8601 date-times (`2026-03-02T09:00:00Z`), then counted from midnight UTC of the day
    /// of the earliest one. The workload lasts until the last conference ends, or `duration` when that is longer.
    public static func trace(_ text: String, duration: Double? = nil) throws(TraceError) -> Workload {
        let text = text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text  // a byte-order mark, as spreadsheets write
        var lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }.enumerated()
            .map { (number: $0.offset + 1, text: $0.element.trimmingCharacters(in: .whitespaces)) }
            .filter { !$0.text.isEmpty && !$0.text.hasPrefix("#") }
        guard !lines.isEmpty else { throw TraceError(line: 1, message: "empty: a header line is needed") }
        let header = lines.removeFirst()
        // Spreadsheets may end every line with a comma: empty trailing fields are dropped from the header and rows.
        func fields(_ line: String) -> [String] {
            var fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            while fields.count > 1, fields.last?.isEmpty == true { fields.removeLast() }
            return fields
        }
        let columns = fields(header.text)
        func index(_ name: String) -> Int? { columns.firstIndex(of: name) }
        let perParticipant = index("conference") != nil
        let required = perParticipant ? ["conference", "join", "leave"] : ["start", "end", "participants"]
        for name in required where index(name) == nil {
            throw TraceError(line: header.number, message: "the header has no '\(name)' column (it needs \(required.joined(separator: ", ")))")
        }
        let known = Set(required + ["region", "recorded"])
        if let unknown = columns.first(where: { !known.contains($0) }) {
            throw TraceError(line: header.number, message: "unknown column '\(unknown)'")
        }
        var rows: [(number: Int, fields: [String])] = []
        for line in lines {
            var row = fields(line.text)
            // Optional columns left empty at the end of a line.
            while row.count < columns.count, columns.count - row.count <= 2, ["region", "recorded"].contains(columns[row.count]) {
                row.append("")
            }
            guard row.count == columns.count else {
                throw TraceError(line: line.number, message: "\(row.count) fields where the header names \(columns.count)")
            }
            rows.append((line.number, row))
        }
        // Times: all seconds, or all ISO 8601 date-times counted from midnight UTC of the earliest one's day.
        let timeColumns = perParticipant ? ["join", "leave"] : ["start", "end"]
        let dates = DateReader()
        var times: [Int: [String: Double]] = [:]
        var inSeconds: Bool?
        for row in rows {
            for name in timeColumns {
                let text = row.fields[index(name)!]
                let seconds = Double(text)
                guard let value = seconds ?? dates.seconds(text) else {
                    throw TraceError(line: row.number, message: "'\(name)' must be seconds or an ISO 8601 date-time")
                }
                if let inSeconds, inSeconds != (seconds != nil) {
                    throw TraceError(line: row.number, message: "'\(name)' mixes seconds and date-times: a trace uses one or the other")
                }
                inSeconds = seconds != nil
                times[row.number, default: [:]][name] = value
            }
        }
        let origin = inSeconds == false ? ((times.values.flatMap(\.values).min() ?? 0) / 86_400).rounded(.down) * 86_400 : 0
        func time(_ row: (number: Int, fields: [String]), _ name: String) throws(TraceError) -> Double {
            let value = times[row.number]![name]! - origin
            guard value.isFinite, value >= 0 else {
                throw TraceError(line: row.number, message: "'\(name)' must be seconds ≥ 0 or an ISO 8601 date-time, not '\(row.fields[index(name)!])'")
            }
            return value
        }
        func region(_ row: (number: Int, fields: [String])) -> String {
            index("region").map { row.fields[$0] }.flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        }
        func recorded(_ row: (number: Int, fields: [String])) throws(TraceError) -> Bool {
            guard let column = index("recorded") else { return false }
            switch row.fields[column].lowercased() {
            case "", "false", "0", "no": return false
            case "true", "1", "yes": return true
            default: throw TraceError(line: row.number, message: "'recorded' must be true or false, not '\(row.fields[column])'")
            }
        }
        var conferences: [SimulatedConference] = []
        if perParticipant {
            var order: [String] = []
            var stays: [String: (first: (number: Int, fields: [String]), spans: [(Double, Double)])] = [:]
            for row in rows {
                let (join, leave) = (try time(row, "join"), try time(row, "leave"))
                guard leave > join else { throw TraceError(line: row.number, message: "'leave' must be after 'join'") }
                let id = row.fields[index("conference")!]
                if stays[id] == nil { order.append(id); stays[id] = (row, []) }
                stays[id]!.spans.append((join, leave))
            }
            for id in order {
                let (first, spans) = stays[id]!
                conferences.append(
                    SimulatedConference(
                        start: spans.map(\.0).min()!, end: spans.map(\.1).max()!, participants: Self.peak(spans), region: region(first),
                        recorded: try recorded(first)))
            }
        } else {
            for row in rows {
                let (start, end) = (try time(row, "start"), try time(row, "end"))
                guard end > start else { throw TraceError(line: row.number, message: "'end' must be after 'start'") }
                guard let participants = Int(row.fields[index("participants")!]), participants >= 1 else {
                    throw TraceError(line: row.number, message: "'participants' must be an integer ≥ 1")
                }
                conferences.append(
                    SimulatedConference(start: start, end: end, participants: participants, region: region(row), recorded: try recorded(row)))
            }
        }
        let last = conferences.map(\.end).max() ?? 0
        return Workload(conferences: conferences, duration: max(duration ?? 0, last))
    }

    /// The most spans open at once (a leave at the moment of a join counts first).
    static func peak(_ spans: [(Double, Double)]) -> Int {
        var events: [(time: Double, change: Int)] = []
        for (join, leave) in spans {
            events.append((join, 1))
            events.append((leave, -1))
        }
        events.sort { $0.time == $1.time ? $0.change < $1.change : $0.time < $1.time }
        var open = 0, most = 0
        for (_, change) in events {
            open += change
            most = max(most, open)
        }
        return most
    }

}

/// Reads ISO 8601 date-times with a time zone (`Z` or `+01:00`), fractions of a second allowed, as seconds since
/// the Unix epoch; one pair of formatters for a whole trace.
struct DateReader {
    let whole = ISO8601DateFormatter()
    let fractional = ISO8601DateFormatter()

    init() {
        whole.formatOptions = [.withInternetDateTime]
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    }

    func seconds(_ text: String) -> Double? {
        (whole.date(from: text) ?? fractional.date(from: text))?.timeIntervalSince1970
    }
}
