import Foundation

/// One rule that proposes a pool's desired capacity. A pool may have several; when more than one fires, the
/// largest proposal wins (as in EC2 Auto Scaling: capacity is never given up while one rule asks for it).
public enum ScalingPolicy: Codable, Sendable, Equatable {
    case step(StepScaling)
    case targetTracking(TargetTracking)
    case availability(Availability)

    public var name: String {
        switch self {
        case .step(let policy): policy.name
        case .targetTracking(let policy): policy.name
        case .availability(let policy): policy.name
        }
    }

    enum CodingKeys: String, CodingKey { case type }

    public init(from decoder: any Decoder) throws {
        let type = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .type)
        switch type {
        case "step": self = .step(try StepScaling(from: decoder))
        case "targetTracking": self = .targetTracking(try TargetTracking(from: decoder))
        case "availability": self = .availability(try Availability(from: decoder))
        default:
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "unknown policy type '\(type)' (step, targetTracking, availability)"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .step(let policy):
            try container.encode("step", forKey: .type)
            try policy.encode(to: encoder)
        case .targetTracking(let policy):
            try container.encode("targetTracking", forKey: .type)
            try policy.encode(to: encoder)
        case .availability(let policy):
            try container.encode("availability", forKey: .type)
            try policy.encode(to: encoder)
        }
    }
}

/// How a step changes capacity (EC2 Auto Scaling's adjustment types).
public enum AdjustmentType: String, Codable, Sendable {
    case changeInCapacity = "ChangeInCapacity"
    case exactCapacity = "ExactCapacity"
    case percentChangeInCapacity = "PercentChangeInCapacity"
}

/// One step: applies when `lowerBound ≤ value − threshold < upperBound` (an absent bound is unbounded).
public struct StepAdjustment: Codable, Sendable, Equatable {
    public var lowerBound: Double?
    public var upperBound: Double?
    public var adjustment: Int

    public init(lowerBound: Double? = nil, upperBound: Double? = nil, adjustment: Int) {
        (self.lowerBound, self.upperBound, self.adjustment) = (lowerBound, upperBound, adjustment)
    }

    func contains(_ difference: Double) -> Bool {
        (lowerBound.map { difference >= $0 } ?? true) && (upperBound.map { difference < $0 } ?? true)
    }
}

/// A threshold alarm driving step adjustments, with a cooldown after each change it makes.
public struct StepScaling: Codable, Sendable, Equatable {
    public var name: String
    public var alarm: Alarm
    public var adjustmentType: AdjustmentType
    public var steps: [StepAdjustment]
    /// Seconds after a change this policy made during which it makes no other.
    public var cooldown: Double
    /// Smallest change a `PercentChangeInCapacity` step makes.
    public var minAdjustmentMagnitude: Int

    public init(
        name: String, alarm: Alarm, adjustmentType: AdjustmentType = .changeInCapacity, steps: [StepAdjustment],
        cooldown: Double = 300, minAdjustmentMagnitude: Int = 1
    ) {
        (self.name, self.alarm, self.adjustmentType, self.steps) = (name, alarm, adjustmentType, steps)
        (self.cooldown, self.minAdjustmentMagnitude) = (cooldown, minAdjustmentMagnitude)
    }

    enum CodingKeys: String, CodingKey { case name, alarm, adjustmentType, steps, adjustment, cooldown, minAdjustmentMagnitude }

    /// `"adjustment": n` stands for one unbounded step of `n`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var steps = try c.decodeIfPresent([StepAdjustment].self, forKey: .steps) ?? []
        if let adjustment = try c.decodeIfPresent(Int.self, forKey: .adjustment) { steps.append(StepAdjustment(adjustment: adjustment)) }
        guard !steps.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .steps, in: c, debugDescription: "a step policy needs steps or adjustment")
        }
        self.init(
            name: try c.decode(String.self, forKey: .name), alarm: try c.decode(Alarm.self, forKey: .alarm),
            adjustmentType: try c.decodeIfPresent(AdjustmentType.self, forKey: .adjustmentType) ?? .changeInCapacity,
            steps: steps, cooldown: try c.decodeIfPresent(Double.self, forKey: .cooldown) ?? 300,
            minAdjustmentMagnitude: try c.decodeIfPresent(Int.self, forKey: .minAdjustmentMagnitude) ?? 1)
        guard cooldown >= 0, minAdjustmentMagnitude >= 1 else {
            throw DecodingError.dataCorruptedError(
                forKey: .cooldown, in: c, debugDescription: "needs cooldown ≥ 0 and minAdjustmentMagnitude ≥ 1")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(alarm, forKey: .alarm)
        try c.encode(adjustmentType, forKey: .adjustmentType)
        try c.encode(steps, forKey: .steps)
        try c.encode(cooldown, forKey: .cooldown)
        try c.encode(minAdjustmentMagnitude, forKey: .minAdjustmentMagnitude)
    }

    /// The capacity the step matching `value` asks for, from `current`; nil when no step matches.
    func proposal(value: Double, current: Int) -> Int? {
        guard let step = steps.first(where: { $0.contains(value - alarm.threshold) }) else { return nil }
        switch adjustmentType {
        case .changeInCapacity: return current + step.adjustment
        case .exactCapacity: return step.adjustment
        case .percentChangeInCapacity:
            guard step.adjustment != 0 else { return current }
            // EC2 Auto Scaling's rounding: towards zero, but at least one instance (or minAdjustmentMagnitude).
            let magnitude = max(1, minAdjustmentMagnitude, Int(abs(Double(current) * Double(step.adjustment) / 100)))
            return current + (step.adjustment > 0 ? magnitude : -magnitude)
        }
    }
}

/// Keeps the pool's average of `metric` per instance near `target`: Kubernetes' HPA rule,
/// `desired = ceil(current × value / target)`, skipped while `value / target` is within `tolerance` of 1; a
/// scale-in takes the highest recommendation of the last `scaleDownStabilization` seconds, so a dip does not
/// shed capacity a moment before it is needed again.
public struct TargetTracking: Codable, Sendable, Equatable {
    public var name: String
    public var metric: String
    public var target: Double
    public var tolerance: Double
    public var scaleDownStabilization: Double

    public init(name: String, metric: String, target: Double, tolerance: Double = 0.1, scaleDownStabilization: Double = 300) {
        (self.name, self.metric, self.target, self.tolerance) = (name, metric, target, tolerance)
        self.scaleDownStabilization = scaleDownStabilization
    }

    enum CodingKeys: String, CodingKey { case name, metric, target, tolerance, scaleDownStabilization }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name), metric: try c.decode(String.self, forKey: .metric),
            target: try c.decode(Double.self, forKey: .target),
            tolerance: try c.decodeIfPresent(Double.self, forKey: .tolerance) ?? 0.1,
            scaleDownStabilization: try c.decodeIfPresent(Double.self, forKey: .scaleDownStabilization) ?? 300)
        guard target > 0, tolerance >= 0, scaleDownStabilization >= 0 else {
            throw DecodingError.dataCorruptedError(
                forKey: .target, in: c, debugDescription: "needs target > 0, tolerance ≥ 0 and scaleDownStabilization ≥ 0")
        }
    }

    /// The HPA recommendation for `current` instances whose average is `value`; nil within the tolerance.
    func recommendation(value: Double, current: Int) -> Int? {
        let ratio = value / target
        guard abs(ratio - 1) > tolerance else { return nil }
        return Int((Double(current) * ratio).rounded(.up))
    }
}

/// Keeps between `minIdle` and `maxIdle` idle instances, for pools whose instances serve one job at a time
/// (recorders): `metric` is 1 on an idle instance and 0 on a busy one, and the pool's sum is the idle count.
public struct Availability: Codable, Sendable, Equatable {
    public var name: String
    public var metric: String
    public var minIdle: Int
    public var maxIdle: Int

    public init(name: String, metric: String = "idle", minIdle: Int, maxIdle: Int) {
        (self.name, self.metric, self.minIdle, self.maxIdle) = (name, metric, minIdle, maxIdle)
    }

    enum CodingKeys: String, CodingKey { case name, metric, minIdle, maxIdle }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name), metric: try c.decodeIfPresent(String.self, forKey: .metric) ?? "idle",
            minIdle: try c.decode(Int.self, forKey: .minIdle), maxIdle: try c.decode(Int.self, forKey: .maxIdle))
        guard minIdle >= 0, maxIdle >= minIdle else {
            throw DecodingError.dataCorruptedError(forKey: .maxIdle, in: c, debugDescription: "needs 0 ≤ minIdle ≤ maxIdle")
        }
    }

    /// Instances still warming up will be idle: they count towards `minIdle` (so they are not launched again
    /// every period until they report), not towards `maxIdle` (nothing is drained for them before they serve).
    func proposal(idle: Int, warming: Int, current: Int) -> Int? {
        if idle + warming < minIdle { return current + (minIdle - idle - warming) }
        if idle > maxIdle { return current - (idle - maxIdle) }
        return nil
    }
}
