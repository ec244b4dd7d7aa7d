import Foundation
import PlazaPlacement

/// A week of conferences for `users` people, drawn from documented distributions with a seeded generator (the same
/// parameters and seed give the same week, to the byte): conferences arrive as a non-homogeneous Poisson process
/// following each region's working day in its own time zone, weekdays and weekends apart; sizes and durations
/// come from the distributions below. The week starts on a Monday at midnight UTC.
public struct SyntheticWeek: Sendable, Equatable {
    /// Where users are: a share of them in a time zone.
    public struct Region: Sendable, Equatable {
        public var name: String
        /// Hours from UTC (`+1` for Central Europe in winter, `-5` for the US East coast).
        public var utcOffset: Double
        /// Of all users, 0…1.
        public var share: Double

        public init(name: String, utcOffset: Double, share: Double) {
            (self.name, self.utcOffset, self.share) = (name, utcOffset, share)
        }
    }

    public var users: Int
    public var seed: UInt64 = 1
    /// Default: Europe 45% (UTC+1), the US East coast 35% (UTC−5), East Asia 20% (UTC+8).
    public var regions: [Region] = [
        Region(name: "eu", utcOffset: 1, share: 0.45), Region(name: "us", utcOffset: -5, share: 0.35),
        Region(name: "ap", utcOffset: 8, share: 0.20),
    ]
    /// Meetings each user takes part in on a weekday. Default 1.5.
    public var meetingsPerUserDay = 1.5
    /// A weekend day's meetings against a weekday's. Default 0.15.
    public var weekendFactor = 0.15
    /// The share of meetings of two to four people (uniform among 2, 3, 4). Default 0.55.
    public var smallShare = 0.55
    /// The share of meetings of five to fifteen (uniform). Default 0.35; the rest are large.
    public var mediumShare = 0.35
    /// Large meetings (16 and more): log-normal, with this mean and log-space deviation, at most `largestMeeting`.
    /// Defaults 48.5 and 0.7, which with the shares above make a mean of about 10 participants.
    public var largeMean = 48.5
    public var largeSigma = 0.7
    public var largestMeeting = 500
    /// Durations: log-normal with this mean (minutes) and log-space deviation, between 5 minutes and 8 hours.
    /// Defaults 54 and 0.6.
    public var meanDurationMinutes = 54.0
    public var durationSigma = 0.6
    /// The share of meetings that are recorded. Default 0.05.
    public var recordedShare = 0.05

    /// The working day: relative meeting starts in each local hour of a day, midnight first.
    public static let hourWeights: [Double] = [
        0.02, 0.01, 0.01, 0.01, 0.01, 0.02, 0.05, 0.20, 0.60, 1.00, 1.00, 0.90,
        0.60, 0.80, 1.00, 0.95, 0.80, 0.50, 0.25, 0.15, 0.10, 0.07, 0.05, 0.03,
    ]

    public static let weekSeconds = 7 * 86_400.0

    public init(users: Int, seed: UInt64 = 1) { (self.users, self.seed) = (users, seed) }

    /// Refuses parameters that make no week: negative rates or shares, shares over 1, no region.
    public func validate() throws(SyntheticWeekError) {
        guard users > 0, users <= 100_000_000 else { throw SyntheticWeekError("users must be within 1 … 100000000") }
        guard !regions.isEmpty,
            regions.allSatisfy({ !$0.name.isEmpty && $0.share >= 0 && $0.share <= 1e6 && $0.utcOffset >= -14 && $0.utcOffset <= 14 }),
            regions.contains(where: { $0.share > 0 })
        else {
            throw SyntheticWeekError("regions need a name each, a UTC offset within -14 … 14, shares ≥ 0 and one share > 0")
        }
        guard meetingsPerUserDay >= 0, meetingsPerUserDay <= 100, weekendFactor >= 0, weekendFactor <= 10 else {
            throw SyntheticWeekError("meetings per user-day must be within 0 … 100 and the weekend factor within 0 … 10")
        }
        guard (0...1).contains(recordedShare) else { throw SyntheticWeekError("the recorded share must be within 0 … 1") }
        guard smallShare >= 0, mediumShare >= 0, smallShare + mediumShare <= 1 else {
            throw SyntheticWeekError("the small and medium shares must be ≥ 0 and add up to at most 1")
        }
        guard largestMeeting >= 16, largestMeeting <= 100_000, largeMean >= 16, largeMean <= Double(largestMeeting),
            largeSigma >= 0, largeSigma <= 5
        else {
            throw SyntheticWeekError("large meetings need 16 ≤ mean ≤ the largest meeting (at most 100000) and a deviation within 0 … 5")
        }
        guard meanDurationMinutes >= 1, meanDurationMinutes <= 480, durationSigma >= 0, durationSigma <= 5 else {
            throw SyntheticWeekError("the mean duration must be within 1 … 480 minutes and its deviation within 0 … 5")
        }
    }

    /// The mean meeting size these parameters give: exact for the small and medium parts; for the large part, the
    /// log-normal's mean, which the floor of 16 raises a little (to about 49 with the defaults: 10.05 in all).
    public var meanSize: Double {
        smallShare * 3 + mediumShare * 10 + (1 - smallShare - mediumShare) * largeMean
    }

    /// Meetings starting per second at `time` seconds into the week, all regions together.
    public func arrivalRate(at time: Double) -> Double {
        regions.reduce(0) { $0 + arrivalRate(of: $1, at: time) }
    }

    /// Meetings starting per second in `region` at `time` seconds into the week: its users' weekday meetings,
    /// spread over its local hours by `hourWeights`, and fewer on its weekend.
    func arrivalRate(of region: Region, at time: Double) -> Double {
        let weekdayMeetings = Double(users) * meetingsPerUserDay / meanSize
        let local = time + region.utcOffset * 3600
        let day = Int((local / 86_400).rounded(.down))
        let secondOfDay = local - Double(day) * 86_400
        let hour = min(23, max(0, Int(secondOfDay / 3600)))
        // Day 0 is Monday; local days before it or after Sunday wrap around the week.
        let weekday = ((day % 7) + 7) % 7
        let dayFactor = weekday >= 5 ? weekendFactor : 1
        return weekdayMeetings * region.share * dayFactor * Self.hourWeights[hour] / Self.hourWeights.reduce(0, +) / 3600
    }

    /// The week: arrivals drawn by thinning a Poisson process at the highest rate, then each meeting's region (by
    /// the regions' rates at its start), size, duration and whether it is recorded.
    public func generate() -> Workload {
        var random = SplitMix64(seed: seed)
        // The rate is constant between the regions' local hour boundaries: its highest value is at one of them.
        var peak = 0.0
        for region in regions {
            for hour in 0..<(7 * 24) {
                let boundary: Double = Double(hour) * 3600 - region.utcOffset * 3600 + Self.weekSeconds
                peak = max(peak, arrivalRate(at: boundary.truncatingRemainder(dividingBy: Self.weekSeconds)))
            }
        }
        guard peak > 0 else { return Workload(conferences: [], duration: Self.weekSeconds) }
        let ceiling = peak * 1.000_001
        var conferences: [SimulatedConference] = []
        var time = 0.0
        while true {
            time += -log(1 - uniform(&random)) / ceiling
            guard time < Self.weekSeconds else { break }
            let rate = arrivalRate(at: time)
            guard uniform(&random) * ceiling < rate else { continue }
            let region = pickRegion(at: time, &random)
            let minutes = min(max(logNormal(mean: meanDurationMinutes, sigma: durationSigma, &random), 5), 480)
            conferences.append(
                SimulatedConference(
                    start: time, end: time + minutes * 60, participants: size(&random), region: region,
                    recorded: uniform(&random) < recordedShare))
        }
        return Workload(conferences: conferences, duration: Self.weekSeconds)
    }

    private func pickRegion(at time: Double, _ random: inout SplitMix64) -> String {
        let rates = regions.map { arrivalRate(of: $0, at: time) }
        var draw = uniform(&random) * rates.reduce(0, +)
        for (region, rate) in zip(regions, rates) {
            draw -= rate
            if draw < 0 { return region.name }
        }
        return regions.last?.name ?? "default"
    }

    private func size(_ random: inout SplitMix64) -> Int {
        let draw = uniform(&random)
        if draw < smallShare { return 2 + Int(uniform(&random) * 3) }
        if draw < smallShare + mediumShare { return 5 + Int(uniform(&random) * 11) }
        return min(max(Int(logNormal(mean: largeMean, sigma: largeSigma, &random).rounded()), 16), largestMeeting)
    }
}

/// A uniform draw in [0, 1) from the top 53 bits.
func uniform(_ random: inout SplitMix64) -> Double { Double(random.next() >> 11) / Double(1 << 53) }

/// A log-normal draw with this mean (not median) and log-space deviation, by Box–Muller.
func logNormal(mean: Double, sigma: Double, _ random: inout SplitMix64) -> Double {
    let normal = sqrt(-2 * log(1 - uniform(&random))) * cos(2 * .pi * uniform(&random))
    return exp(log(mean) - sigma * sigma / 2 + sigma * normal)
}

/// Synthetic-week parameters that make no week.
public struct SyntheticWeekError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
