import Foundation
import Testing
import PlazaAutoscaling

/// The operator's rules as written (bridges by outbound bytes, recorders by idle count) and the semantics they
/// rest on: CloudWatch's M-out-of-N alarms and missing data, step adjustments, cooldown, the HPA rule with its
/// tolerance and stabilization window, the availability rule, min/max.
struct PolicyTests {
    static let bridges: [ScalingPolicy] = [
        .step(StepScaling(
            name: "bridges-out",
            alarm: Alarm(
                metric: "bytesOut", statistic: .average, comparison: .greaterThanOrEqualToThreshold, threshold: 750_000_000,
                evaluationPeriods: 10),
            steps: [StepAdjustment(adjustment: 1)], cooldown: 0)),
        .step(StepScaling(
            name: "bridges-in",
            alarm: Alarm(
                metric: "bytesOut", statistic: .average, comparison: .lessThanOrEqualToThreshold, threshold: 375_000_000,
                evaluationPeriods: 10),
            steps: [StepAdjustment(adjustment: -1)], cooldown: 0)),
    ]

    static let recorders: [ScalingPolicy] = [
        .step(StepScaling(
            name: "recorders-out",
            alarm: Alarm(metric: "idle", statistic: .sum, comparison: .lessThanThreshold, threshold: 2, evaluationPeriods: 5),
            steps: [StepAdjustment(adjustment: 1)], cooldown: 0)),
        .step(StepScaling(
            name: "recorders-in",
            alarm: Alarm(metric: "idle", statistic: .sum, comparison: .greaterThanThreshold, threshold: 3, evaluationPeriods: 10),
            steps: [StepAdjustment(adjustment: -1)], cooldown: 0)),
    ]

    /// Runs `periods` periods of 60 s with every instance reporting `value`; returns the decisions.
    static func run(
        _ evaluator: inout PolicyEvaluator, capacity: inout Int, metric: String, periods: Int, start: Double = 0,
        value: (Int) -> [Double]
    ) -> [ScalingDecision] {
        var decisions: [ScalingDecision] = []
        for period in 0..<periods {
            let values = value(capacity)
            if let decision = evaluator.evaluate(
                PoolPeriod(now: start + Double(period) * 60, capacity: capacity, metrics: [metric: values]))
            {
                decisions.append(decision)
                capacity = decision.to
            }
        }
        return decisions
    }

    @Test func bridgesScaleOutAfterTenBusyPeriodsAndNotBefore() {
        var evaluator = PolicyEvaluator(policies: Self.bridges, minimum: 2, maximum: 20)
        var capacity = 2
        // Nine busy periods, one quiet one in between: no alarm.
        var decisions = Self.run(&evaluator, capacity: &capacity, metric: "bytesOut", periods: 9) { n in
            Array(repeating: 800_000_000, count: n)
        }
        #expect(decisions.isEmpty)
        decisions = Self.run(&evaluator, capacity: &capacity, metric: "bytesOut", periods: 1, start: 540) { n in
            Array(repeating: 500_000_000, count: n)
        }
        #expect(decisions.isEmpty)
        // Ten in a row from now: one instance more, exactly at the tenth.
        decisions = Self.run(&evaluator, capacity: &capacity, metric: "bytesOut", periods: 10, start: 600) { n in
            Array(repeating: 800_000_000, count: n)
        }
        #expect(decisions.count == 1)
        #expect(decisions.first?.from == 2 && decisions.first?.to == 3)
        #expect(decisions.first?.policy == "bridges-out")
        #expect(decisions.first?.values["Average(bytesOut)"] == 800_000_000)
        #expect(evaluator.memory.alarmStates["bridges-out"] == .alarm)
    }

    @Test func bridgesScaleInWhenQuietButNeverBelowTwo() {
        var evaluator = PolicyEvaluator(policies: Self.bridges, minimum: 2, maximum: 20)
        var capacity = 4
        let decisions = Self.run(&evaluator, capacity: &capacity, metric: "bytesOut", periods: 40) { n in
            Array(repeating: 100_000_000, count: n)
        }
        // With no cooldown the alarm stays in ALARM: one instance fewer each period from the tenth, down to 2.
        #expect(decisions.map(\.to) == [3, 2])
        #expect(capacity == 2)
    }

    @Test func recordersKeepAboutThreeIdle() {
        var evaluator = PolicyEvaluator(policies: Self.recorders, minimum: 1, maximum: 50)
        var capacity = 4
        var busy = 3
        // 4 recorders, 3 busy: 1 idle < 2 for five periods → one more.
        var decisions = Self.run(&evaluator, capacity: &capacity, metric: "idle", periods: 5) { n in
            (0..<n).map { $0 < busy ? 0 : 1 }
        }
        #expect(decisions.map(\.to) == [5])
        // The recordings end: 5 idle > 3 for ten periods → one fewer each period until 3 idle.
        busy = 0
        decisions = Self.run(&evaluator, capacity: &capacity, metric: "idle", periods: 30, start: 300) { n in
            (0..<n).map { $0 < busy ? 0 : 1 }
        }
        #expect(decisions.map(\.to) == [4, 3])
        #expect(decisions.allSatisfy { $0.policy == "recorders-in" })
    }

    @Test func datapointsToAlarmAndMissingData() {
        let alarm = Alarm(
            metric: "m", statistic: .average, comparison: .greaterThanThreshold, threshold: 10, evaluationPeriods: 5,
            datapointsToAlarm: 3)
        #expect(alarm.evaluate([20, 1, 20, 1, 20], previous: .ok) == .alarm)
        #expect(alarm.evaluate([20, 1, 1, 1, 20], previous: .alarm) == .ok)
        // Two breaching and two missing: still undecided (three could breach), so the state stays…
        #expect(alarm.evaluate([20, nil, 20, nil, 1], previous: .ok) == .ok)
        #expect(alarm.evaluate([20, nil, 20, nil, 1], previous: .alarm) == .alarm)
        // …and with nothing at all, `missing` has insufficient data while `ignore` keeps the state.
        #expect(alarm.evaluate([nil, nil, nil, nil, nil], previous: .alarm) == .insufficientData)
        var ignoring = alarm
        ignoring.treatMissingData = .ignore
        #expect(ignoring.evaluate([nil, nil, nil, nil, nil], previous: .alarm) == .alarm)
        var breaching = alarm
        breaching.treatMissingData = .breaching
        #expect(breaching.evaluate([20, nil, nil, 1, 1], previous: .ok) == .alarm)
        var notBreaching = alarm
        notBreaching.treatMissingData = .notBreaching
        #expect(notBreaching.evaluate([20, nil, 20, nil, 1], previous: .alarm) == .ok)
        // Fewer datapoints than periods so far (a new pool): the absent ones are missing.
        #expect(alarm.evaluate([20, 20], previous: .insufficientData) == .insufficientData)
        #expect(alarm.evaluate([20, 20, 20], previous: .insufficientData) == .alarm)
    }

    @Test func stepsPickTheirBandAndTheCooldownHolds() {
        let policy = StepScaling(
            name: "cpu",
            alarm: Alarm(metric: "cpu", statistic: .average, comparison: .greaterThanOrEqualToThreshold, threshold: 0.6, evaluationPeriods: 1),
            steps: [
                StepAdjustment(lowerBound: 0, upperBound: 0.2, adjustment: 1),
                StepAdjustment(lowerBound: 0.2, adjustment: 3),
            ],
            cooldown: 300)
        var evaluator = PolicyEvaluator(policies: [.step(policy)], minimum: 1, maximum: 10)
        #expect(evaluator.evaluate(PoolPeriod(now: 0, capacity: 2, metrics: ["cpu": [0.7, 0.7]]))?.to == 3)
        // Still in alarm a minute later, but inside the cooldown: nothing.
        #expect(evaluator.evaluate(PoolPeriod(now: 60, capacity: 3, metrics: ["cpu": [0.9, 0.9, 0.9]])) == nil)
        // After it, the upper band: +3.
        #expect(evaluator.evaluate(PoolPeriod(now: 300, capacity: 3, metrics: ["cpu": [0.9, 0.9, 0.9]]))?.to == 6)
        // Capped at max.
        #expect(evaluator.evaluate(PoolPeriod(now: 600, capacity: 9, metrics: ["cpu": [0.95]]))?.to == 10)
    }

    @Test func percentChangeRoundsLikeAutoScaling() {
        func percent(_ adjustment: Int, current: Int, minimumMagnitude: Int = 1) -> Int? {
            var evaluator = PolicyEvaluator(
                policies: [
                    .step(StepScaling(
                        name: "p",
                        alarm: Alarm(metric: "m", statistic: .maximum, comparison: .greaterThanThreshold, threshold: 0, evaluationPeriods: 1),
                        adjustmentType: .percentChangeInCapacity, steps: [StepAdjustment(adjustment: adjustment)],
                        minAdjustmentMagnitude: minimumMagnitude))
                ], minimum: 0, maximum: 1_000)
            return evaluator.evaluate(PoolPeriod(now: 0, capacity: current, metrics: ["m": [1]]))?.to
        }
        #expect(percent(50, current: 5) == 7)  // 2.5 → 2
        #expect(percent(10, current: 5) == 6)  // 0.5 → 1
        #expect(percent(-50, current: 5) == 3)  // −2.5 → −2
        #expect(percent(-10, current: 5) == 4)  // −0.5 → −1
        #expect(percent(10, current: 10, minimumMagnitude: 3) == 13)
    }

    @Test func targetTrackingFollowsTheHPARuleWithStabilization() {
        let tracking = TargetTracking(name: "participants", metric: "participants", target: 100, tolerance: 0.1, scaleDownStabilization: 300)
        var evaluator = PolicyEvaluator(policies: [.targetTracking(tracking)], minimum: 1, maximum: 100)
        // 4 instances at 180: ceil(4 × 1.8) = 8, at once.
        #expect(evaluator.evaluate(PoolPeriod(now: 0, capacity: 4, metrics: ["participants": [180, 180, 180, 180]]))?.to == 8)
        // Within 10 % of the target: nothing.
        #expect(evaluator.evaluate(PoolPeriod(now: 60, capacity: 8, metrics: ["participants": Array(repeating: 95, count: 8)])) == nil)
        // Load halves: the recommendation is 4, but 8 was recommended less than 300 s ago.
        #expect(evaluator.evaluate(PoolPeriod(now: 120, capacity: 8, metrics: ["participants": Array(repeating: 50, count: 8)])) == nil)
        #expect(evaluator.evaluate(PoolPeriod(now: 299, capacity: 8, metrics: ["participants": Array(repeating: 50, count: 8)])) == nil)
        // Once the window holds only low recommendations, it scales in.
        let decision = evaluator.evaluate(PoolPeriod(now: 421, capacity: 8, metrics: ["participants": Array(repeating: 50, count: 8)]))
        #expect(decision?.to == 4)
        #expect(decision?.values["Average(participants)"] == 50)
    }

    @Test func availabilityKeepsIdleInstancesWithinBounds() {
        var evaluator = PolicyEvaluator(
            policies: [.availability(Availability(name: "idle", minIdle: 2, maxIdle: 3))], minimum: 0, maximum: 10)
        #expect(evaluator.evaluate(PoolPeriod(now: 0, capacity: 3, metrics: ["idle": [0, 0, 1]]))?.to == 4)
        #expect(evaluator.evaluate(PoolPeriod(now: 60, capacity: 6, metrics: ["idle": [1, 1, 1, 1, 1, 0]]))?.to == 4)
        #expect(evaluator.evaluate(PoolPeriod(now: 120, capacity: 4, metrics: ["idle": [1, 1, 0, 0]])) == nil)
        // Two recorders launched for the shortfall are warming up: nothing more until they report.
        #expect(evaluator.evaluate(PoolPeriod(now: 180, capacity: 5, metrics: ["idle": [0, 0, 0]], warming: 2)) == nil)
        #expect(evaluator.evaluate(PoolPeriod(now: 240, capacity: 5, metrics: ["idle": [0, 0, 0]], warming: 1))?.to == 6)
        // Nothing is drained for instances still warming up.
        #expect(evaluator.evaluate(PoolPeriod(now: 300, capacity: 6, metrics: ["idle": [1, 1, 0, 0]], warming: 2)) == nil)
    }

    @Test func targetTrackingCountsWarmingInstancesBeforeScalingOutAgain() {
        let tracking = TargetTracking(name: "load", metric: "load", target: 0.6, tolerance: 0.1, scaleDownStabilization: 300)
        var evaluator = PolicyEvaluator(policies: [.targetTracking(tracking)], minimum: 1, maximum: 20)
        // Two at 0.9 and two warming up: with the warming ones taking their share (0.45 each), four are enough.
        #expect(evaluator.evaluate(PoolPeriod(now: 0, capacity: 4, metrics: ["load": [0.9, 0.9]], warming: 2)) == nil)
        // Two at 1.8 and two warming: 3.6 shared by four is 0.9 each, ceil(4 × 1.5) = 6.
        #expect(evaluator.evaluate(PoolPeriod(now: 60, capacity: 4, metrics: ["load": [1.8, 1.8]], warming: 2))?.to == 6)
    }

    @Test func theLargestProposalWinsAndLimitsAlwaysHold() {
        var evaluator = PolicyEvaluator(
            policies: [
                .availability(Availability(name: "idle", minIdle: 1, maxIdle: 1)),
                .targetTracking(TargetTracking(name: "load", metric: "load", target: 1)),
            ], minimum: 2, maximum: 6)
        // Availability wants 4 − 2 = 2, tracking wants ceil(4 × 1.5) = 6: 6.
        let decision = evaluator.evaluate(PoolPeriod(now: 0, capacity: 4, metrics: ["idle": [1, 1, 1, 0], "load": [1.5, 1.5, 1.5, 1.5]]))
        #expect(decision?.to == 6 && decision?.policy == "load")
        // Below the minimum with no policy firing (one idle, no load figures): back to the minimum.
        let lifted = evaluator.evaluate(PoolPeriod(now: 60, capacity: 1, metrics: ["idle": [1]]))
        #expect(lifted?.to == 2 && lifted?.policy == "min")
    }

    @Test func policiesDecodeFromTheirDocumentedJSON() throws {
        let json = #"""
            [
              {"type": "step", "name": "bridges-out", "adjustment": 1, "cooldown": 600,
               "alarm": {"metric": "bytesOut", "statistic": "Average", "comparison": "GreaterThanOrEqualToThreshold",
                         "threshold": 750000000, "period": 60, "evaluationPeriods": 10}},
              {"type": "targetTracking", "name": "rooms", "metric": "participants", "target": 4000},
              {"type": "availability", "name": "idle", "minIdle": 2, "maxIdle": 3}
            ]
            """#
        let policies = try JSONDecoder().decode([ScalingPolicy].self, from: Data(json.utf8))
        guard case .step(let step) = policies[0] else { Issue.record("not a step policy"); return }
        #expect(step.alarm.datapointsToAlarm == 10 && step.alarm.treatMissingData == .missing && step.cooldown == 600)
        #expect(step.steps == [StepAdjustment(adjustment: 1)])
        #expect(policies[1] == .targetTracking(TargetTracking(name: "rooms", metric: "participants", target: 4000)))
        #expect(policies[2] == .availability(Availability(name: "idle", minIdle: 2, maxIdle: 3)))
        // Encoding gives back what decodes to the same policies.
        #expect(try JSONDecoder().decode([ScalingPolicy].self, from: JSONEncoder().encode(policies)) == policies)
        // Bad input is refused with the rule it broke.
        let bad = #"[{"type": "step", "name": "x", "adjustment": 1, "alarm": {"metric": "m", "comparison": "LessThanThreshold", "threshold": 1, "evaluationPeriods": 2, "datapointsToAlarm": 3}}]"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([ScalingPolicy].self, from: Data(bad.utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([ScalingPolicy].self, from: Data(#"[{"type": "magic", "name": "x"}]"#.utf8)) }
    }
}
