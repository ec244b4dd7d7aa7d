// Autoscaling decisions as pure functions of a pool's metrics and time: CloudWatch-style alarms, step,
// target-tracking and availability policies (`PolicyEvaluator`), and the scale-in order (`ScaleIn`). The reconcile
// loop of `PlazaFleet` feeds them one period at a time and carries out what they decide.

import Foundation

/// One evaluation period of a pool, as the reconcile loop sees it at the period's end.
public struct PoolPeriod: Sendable {
    /// Seconds on any clock that only moves forward.
    public var now: Double
    /// The pool's desired capacity, which the policies adjust (as EC2 Auto Scaling's policies adjust a group's
    /// desired capacity); the reconcile loop then converges the instances to it.
    public var capacity: Int
    /// Per metric, the latest value of each instance past its warm-up (instances still warming up count as
    /// capacity but not here).
    public var metrics: [String: [Double]]
    /// Capacity without figures yet (instances still to launch, launching, within their warm-up, or not
    /// reporting), less any of it already at work: what a scale-out has already added. Without it, a rule that
    /// needs more would ask again every period until they report.
    public var warming: Int

    public init(now: Double, capacity: Int, metrics: [String: [Double]], warming: Int = 0) {
        (self.now, self.capacity, self.metrics, self.warming) = (now, capacity, metrics, warming)
    }
}

/// A change of a pool's desired capacity and why: what the scaling activity records.
public struct ScalingDecision: Sendable, Equatable {
    public var from: Int
    public var to: Int
    /// The policy that set it, or `min` / `max` when a limit did.
    public var policy: String
    public var reason: String
    /// The figures the deciding policy looked at, by `statistic(metric)`.
    public var values: [String: Double]
}

/// A pool's policies with their memory (alarm datapoints and states, cooldowns, target-tracking
/// recommendations): called once per period, it says whether the desired capacity changes.
public struct PolicyEvaluator: Sendable {
    public let policies: [ScalingPolicy]
    public let minimum: Int
    public let maximum: Int
    /// Everything the policies remember between periods. A successor autoscaler restores it from the store, so
    /// its alarms do not need their N datapoints again after a takeover.
    public var memory = Memory()

    /// What the policies remember between periods (datapoints, alarm states, cooldowns, recommendations); saved with
    /// the pool so a new leader carries on where its predecessor stopped.
    public struct Memory: Codable, Sendable, Equatable {
        public var alarmStates: [String: AlarmState] = [:]
        /// Per step policy, its alarm's last datapoints (nil: missing), oldest first.
        public var datapoints: [String: [Double?]] = [:]
        /// Per policy, when it last changed the capacity (seconds).
        public var lastChange: [String: Double] = [:]
        /// Per target-tracking policy, the recommendations of its stabilization window.
        public var recommendations: [String: [Recommendation]] = [:]

        /// A capacity a policy asked for, and when: scale-in takes the highest of the stabilization window, so a
        /// brief dip does not drain an instance that is needed again a minute later.
        public struct Recommendation: Codable, Sendable, Equatable {
            public var at: Double
            public var desired: Int
        }

        public init() {}
    }

    public init(policies: [ScalingPolicy], minimum: Int, maximum: Int) {
        precondition(minimum >= 0 && maximum >= minimum, "needs 0 ≤ minimum ≤ maximum")
        (self.policies, self.minimum, self.maximum) = (policies, minimum, maximum)
    }

    /// Takes one period's datapoints and returns the new desired capacity if it differs from `capacity`.
    /// The limits always hold: a pool below `minimum` or above `maximum` is brought back whatever the policies say.
    public mutating func evaluate(_ period: PoolPeriod) -> ScalingDecision? {
        let current = period.capacity
        var best: ScalingDecision?
        for policy in policies {
            guard let proposal = propose(policy, period) else { continue }
            if best == nil || proposal.to > best!.to { best = proposal }
        }
        var decision = best
        if let chosen = decision {
            let bounded = min(maximum, max(minimum, chosen.to))
            decision?.to = bounded
            if bounded != chosen.to { decision?.reason += " (held at the pool's \(bounded == maximum ? "max" : "min") \(bounded))" }
        } else if current < minimum || current > maximum {
            let bounded = min(maximum, max(minimum, current))
            decision = ScalingDecision(
                from: current, to: bounded, policy: current < minimum ? "min" : "max",
                reason: "capacity \(current) is outside \(minimum)…\(maximum)", values: [:])
        }
        guard let decision, decision.to != current else { return nil }
        memory.lastChange[decision.policy] = period.now
        return decision
    }

    private mutating func propose(_ policy: ScalingPolicy, _ period: PoolPeriod) -> ScalingDecision? {
        let current = period.capacity
        switch policy {
        case .step(let step):
            let alarm = step.alarm
            let value = alarm.statistic.of(period.metrics[alarm.metric] ?? [])
            var history = memory.datapoints[step.name, default: []]
            history.append(value)
            history = Array(history.suffix(alarm.evaluationPeriods))
            memory.datapoints[step.name] = history
            let state = alarm.evaluate(history, previous: memory.alarmStates[step.name] ?? .insufficientData)
            memory.alarmStates[step.name] = state
            guard state == .alarm else { return nil }
            if let last = memory.lastChange[step.name], period.now - last < step.cooldown { return nil }
            // A breaching "missing" datapoint has no value: the step is chosen at the threshold itself.
            guard let to = step.proposal(value: value ?? alarm.threshold, current: current) else { return nil }
            let breaching = history.filter { $0.map { alarm.comparison.breaches($0, alarm.threshold) } ?? false }.count
            return ScalingDecision(
                from: current, to: to, policy: step.name,
                reason: "\(alarm.statistic.rawValue)(\(alarm.metric)) = \(format(value)) \(symbol(alarm.comparison)) "
                    + "\(format(alarm.threshold)) in \(breaching) of the last \(alarm.evaluationPeriods) periods",
                values: value.map { ["\(alarm.statistic.rawValue)(\(alarm.metric))": $0] } ?? [:])

        case .targetTracking(let tracking):
            let values = period.metrics[tracking.metric] ?? []
            guard let value = PoolStatistic.average.of(values), current > 0 else { return nil }
            var recommended = tracking.recommendation(value: value, current: current) ?? current
            if recommended > current, period.warming > 0 {
                // As Kubernetes' HPA does with pods not ready yet: a scale-out counts the warming instances as
                // idle, and happens only if it is still needed with them taking their share.
                let shared = values.reduce(0, +) / Double(values.count + period.warming)
                recommended = max(current, tracking.recommendation(value: shared, current: current) ?? current)
            }
            var window = memory.recommendations[tracking.name, default: []].filter { period.now - $0.at < tracking.scaleDownStabilization }
            window.append(Memory.Recommendation(at: period.now, desired: recommended))
            memory.recommendations[tracking.name] = window
            // Scale out at once; scale in only as far as every recommendation of the window allows.
            let to = recommended > current ? recommended : window.map(\.desired).max()!
            guard to != current else { return nil }
            return ScalingDecision(
                from: current, to: to, policy: tracking.name,
                reason: "Average(\(tracking.metric)) = \(format(value)) against a target of \(format(tracking.target))"
                    + (recommended > current ? "" : " (highest recommendation of the last \(format(tracking.scaleDownStabilization)) s)"),
                values: ["Average(\(tracking.metric))": value])

        case .availability(let availability):
            let idle = Int(PoolStatistic.sum.of(period.metrics[availability.metric] ?? []) ?? 0)
            guard let to = availability.proposal(idle: idle, warming: period.warming, current: current) else { return nil }
            return ScalingDecision(
                from: current, to: to, policy: availability.name,
                reason: "\(idle) idle" + (period.warming > 0 ? " and \(period.warming) warming up" : "")
                    + ", keeping \(availability.minIdle)…\(availability.maxIdle)",
                values: ["Sum(\(availability.metric))": Double(idle)])
        }
    }
}

private func format(_ value: Double?) -> String {
    guard let value else { return "missing" }
    return value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(format: "%.3g", value)
}

private func symbol(_ comparison: Comparison) -> String {
    switch comparison {
    case .greaterThanOrEqualToThreshold: "≥"
    case .greaterThanThreshold: ">"
    case .lessThanThreshold: "<"
    case .lessThanOrEqualToThreshold: "≤"
    }
}
