import Foundation

/// A trace file that cannot be read: the line (1 is the header) and what is wrong with it.
public struct TraceError: Error, Equatable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }
}

extension Workload {
    /// Reads a trace (docs/simulate.md): CSV with a header naming its columns, either a conference a line —
    /// `start`, `end`, `participants`, and optionally `region` (default `default`) and `recorded` (`true`/`false`,
    /// `1`/`0`, `yes`/`no`; default false) — or a participant a line — `conference`, `join`, `leave`, optionally
    /// `region` and `recorded` (a conference's from its first line) —, a conference then running from its first join
    /// to its last leave with as many participants as were there at once at most. Times are seconds from the
    /// trace's start, or ISO 8601 date-times (`2026-03-02T09:00:00Z`), then counted from midnight UTC of the day
    /// of the earliest one. The workload lasts until the last conference ends, or `duration` when that is longer.
    public static func trace(_ text: String, duration: Double? = nil) throws(TraceError) -> Workload {
        var lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }.enumerated()
            .map { (number: $0.offset + 1, text: $0.element.trimmingCharacters(in: .whitespaces)) }
            .filter { !$0.text.isEmpty && !$0.text.hasPrefix("#") }
        guard !lines.isEmpty else { throw TraceError(line: 1, message: "empty: a header line is needed") }
        let header = lines.removeFirst()
        let columns = header.text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
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
            let fields = line.text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count == columns.count else {
                throw TraceError(line: line.number, message: "\(fields.count) fields where the header names \(columns.count)")
            }
            rows.append((line.number, fields))
        }
        // Times: all seconds, or all ISO 8601 date-times counted from midnight UTC of the earliest one's day.
        let timeColumns = perParticipant ? ["join", "leave"] : ["start", "end"]
        var dates: [Double] = []
        for row in rows {
            for name in timeColumns where Double(row.fields[index(name)!]) == nil {
                guard let date = Self.date(row.fields[index(name)!]) else {
                    throw TraceError(line: row.number, message: "'\(name)' must be seconds or an ISO 8601 date-time")
                }
                dates.append(date)
            }
        }
        let origin = dates.min().map { ($0 / 86_400).rounded(.down) * 86_400 } ?? 0
        func time(_ row: (number: Int, fields: [String]), _ name: String) throws(TraceError) -> Double {
            let text = row.fields[index(name)!]
            let value = Double(text) ?? Self.date(text).map { $0 - origin }
            guard let value, value.isFinite, value >= 0 else {
                throw TraceError(line: row.number, message: "'\(name)' must be seconds ≥ 0 or an ISO 8601 date-time, not '\(text)'")
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

    /// Seconds since the Unix epoch of an ISO 8601 date-time with a time zone (`Z` or `+01:00`), fractions allowed.
    static func date(_ text: String) -> Double? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)?.timeIntervalSince1970
    }
}
