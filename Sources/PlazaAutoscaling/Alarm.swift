/// How a pool's per-instance figures become one value per period (CloudWatch's statistic names).
public enum PoolStatistic: String, Codable, Sendable {
    case average = "Average"
    case sum = "Sum"
    case minimum = "Minimum"
    case maximum = "Maximum"
    case sampleCount = "SampleCount"

    /// The statistic of `values`; nil when there are none (a missing datapoint), except `SampleCount`, which is 0.
    public func of(_ values: [Double]) -> Double? {
        switch self {
        case .sampleCount: Double(values.count)
        case .average: values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
        case .sum: values.isEmpty ? nil : values.reduce(0, +)
        case .minimum: values.min()
        case .maximum: values.max()
        }
    }
}

/// CloudWatch's comparison operators.
public enum Comparison: String, Codable, Sendable {
    case greaterThanOrEqualToThreshold = "GreaterThanOrEqualToThreshold"
    case greaterThanThreshold = "GreaterThanThreshold"
    case lessThanThreshold = "LessThanThreshold"
    case lessThanOrEqualToThreshold = "LessThanOrEqualToThreshold"

    public func breaches(_ value: Double, _ threshold: Double) -> Bool {
        switch self {
        case .greaterThanOrEqualToThreshold: value >= threshold
        case .greaterThanThreshold: value > threshold
        case .lessThanThreshold: value < threshold
        case .lessThanOrEqualToThreshold: value <= threshold
        }
    }
}

/// What a period without a datapoint means (CloudWatch's `TreatMissingData`).
public enum MissingData: String, Codable, Sendable {
    /// Left out; with no datapoint at all in the range the alarm has insufficient data.
    case missing
    /// Left out; when the rest cannot decide, the alarm keeps its state.
    case ignore
    /// Counts as breaching the threshold.
    case breaching
    /// Counts as within the threshold.
    case notBreaching
}

/// An alarm's state, as CloudWatch names them: a policy acts only on a change into `alarm`.
public enum AlarmState: String, Codable, Sendable {
    case ok = "OK"
    case alarm = "ALARM"
    case insufficientData = "INSUFFICIENT_DATA"
}

/// A threshold alarm on one pool metric, with CloudWatch's semantics: the pool statistic of `metric` is taken
/// once per `period`; the alarm fires when at least `datapointsToAlarm` of the last `evaluationPeriods`
/// datapoints breach `threshold` ("M out of N").
public struct Alarm: Codable, Sendable, Equatable {
    public var metric: String
    public var statistic: PoolStatistic
    public var comparison: Comparison
    public var threshold: Double
    /// Seconds per datapoint.
    public var period: Double
    public var evaluationPeriods: Int
    /// M of "M out of N"; default `evaluationPeriods`.
    public var datapointsToAlarm: Int
    public var treatMissingData: MissingData

    public init(
        metric: String, statistic: PoolStatistic, comparison: Comparison, threshold: Double, period: Double = 60,
        evaluationPeriods: Int, datapointsToAlarm: Int? = nil, treatMissingData: MissingData = .missing
    ) {
        (self.metric, self.statistic, self.comparison, self.threshold) = (metric, statistic, comparison, threshold)
        (self.period, self.evaluationPeriods) = (period, evaluationPeriods)
        self.datapointsToAlarm = datapointsToAlarm ?? evaluationPeriods
        self.treatMissingData = treatMissingData
    }

    enum CodingKeys: String, CodingKey {
        case metric, statistic, comparison, threshold, period, evaluationPeriods, datapointsToAlarm, treatMissingData
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            metric: try c.decode(String.self, forKey: .metric),
            statistic: try c.decodeIfPresent(PoolStatistic.self, forKey: .statistic) ?? .average,
            comparison: try c.decode(Comparison.self, forKey: .comparison),
            threshold: try c.decode(Double.self, forKey: .threshold),
            period: try c.decodeIfPresent(Double.self, forKey: .period) ?? 60,
            evaluationPeriods: try c.decode(Int.self, forKey: .evaluationPeriods),
            datapointsToAlarm: try c.decodeIfPresent(Int.self, forKey: .datapointsToAlarm),
            treatMissingData: try c.decodeIfPresent(MissingData.self, forKey: .treatMissingData) ?? .missing)
        guard evaluationPeriods > 0, (1...evaluationPeriods).contains(datapointsToAlarm), period > 0 else {
            throw DecodingError.dataCorruptedError(
                forKey: .datapointsToAlarm, in: c,
                debugDescription: "needs period > 0 and 1 ≤ datapointsToAlarm ≤ evaluationPeriods")
        }
    }

    /// The alarm's state after the datapoints of the last periods (oldest first; nil: no datapoint in that
    /// period), given its state before. Only the last `evaluationPeriods` count.
    ///
    /// ALARM when at least M datapoints breach; OK when so many are within the threshold that M breaching ones
    /// can no longer be reached; otherwise (too few datapoints to decide) `missing` gives INSUFFICIENT_DATA when
    /// the range holds no datapoint at all and keeps the state otherwise, as `ignore` always does.
    public func evaluate(_ datapoints: [Double?], previous: AlarmState) -> AlarmState {
        let range = datapoints.suffix(evaluationPeriods)
        var breaching = 0, within = 0, absent = evaluationPeriods - range.count
        for datapoint in range {
            guard let value = datapoint else {
                absent += 1
                continue
            }
            if comparison.breaches(value, threshold) { breaching += 1 } else { within += 1 }
        }
        switch treatMissingData {
        case .breaching: breaching += absent
        case .notBreaching: within += absent
        case .missing, .ignore: break
        }
        if breaching >= datapointsToAlarm { return .alarm }
        if within > evaluationPeriods - datapointsToAlarm { return .ok }
        if treatMissingData == .missing, breaching + within == 0 { return .insufficientData }
        return previous
    }
}
