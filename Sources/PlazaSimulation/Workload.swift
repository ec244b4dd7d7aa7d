import Foundation

/// One conference of a simulated workload: when it runs (seconds from the workload's start), how many take part at
/// its peak, in which region, and whether it is recorded.
public struct SimulatedConference: Sendable, Equatable {
    public var start: Double
    public var end: Double
    public var participants: Int
    public var region: String
    public var recorded: Bool

    public init(start: Double, end: Double, participants: Int, region: String = "default", recorded: Bool = false) {
        (self.start, self.end, self.participants, self.region, self.recorded) = (start, end, participants, region, recorded)
    }
}

/// What a simulation replays: conferences in order of their start, over `duration` seconds.
public struct Workload: Sendable, Equatable {
    public var conferences: [SimulatedConference]
    public var duration: Double

    public init(conferences: [SimulatedConference], duration: Double) {
        self.conferences = conferences.sorted { ($0.start, $0.end) < ($1.start, $1.end) }
        self.duration = duration
    }

    /// The workload as a trace file (`Workload.trace`): a header, then a conference a line, times in seconds.
    public var csv: String {
        var lines = ["start,end,participants,region,recorded"]
        for conference in conferences {
            lines.append(
                "\(Self.format(conference.start)),\(Self.format(conference.end)),\(conference.participants),"
                    + "\(conference.region),\(conference.recorded)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Seconds with at most three decimals and no trailing zeros: the same text for the same value, on any machine.
    static func format(_ seconds: Double) -> String {
        let millis = (seconds * 1000).rounded()
        let whole = Int64(millis) / 1000, fraction = abs(Int64(millis) % 1000)
        guard fraction != 0 else { return "\(whole)" }
        var digits = String(fraction)
        digits = String(repeating: "0", count: 3 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(millis < 0 && whole == 0 ? "-" : "")\(whole).\(digits)"
    }
}
