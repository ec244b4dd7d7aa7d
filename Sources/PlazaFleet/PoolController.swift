public import PlazaFleetModel
public import PlazaStore
public import PlazaAutoscaling
public import Logging
import PlazaPlacement
import PlazaCore
import Foundation

/// The store a reconcile pass works on: the autoscaler's own state and the registry instances report to.
public typealias FleetRegistry = FleetStore & NodeRegistry

/// One pool's reconcile pass, once per period: read what runs and what it reports, decide the desired capacity,
/// and converge — launch, drain, terminate, replace. Every step is idempotent and starts from the store and the
/// provider's list, so a pass after a crash (this leader's or its predecessor's) picks up where things stand.
public struct PoolController: Sendable {
    public let pool: PoolConfiguration
    let provider: any InstanceProvider
    let store: any FleetRegistry
    let logger: Logger
    /// Renews the leader's lease before every action on the provider; throws when leadership is lost.
    let stillLeading: @Sendable () async throws -> Void
    /// Names a new instance (`randomInstanceID` unless a simulation numbers them).
    let newInstanceID: @Sendable (PoolName) -> InstanceID
    private(set) var evaluator: PolicyEvaluator
    /// Instances the provider lists that this pool never launched, with when they were first seen.
    private var strangers: [InstanceID: Int64] = [:]
    /// Draining instances past their deadline already reported (`atDeadline: wait`).
    private var overdue: Set<InstanceID> = []

    /// `memory` is the policies' memory a previous leader saved (`FleetStore.policyMemory`): its alarm history,
    /// cooldowns and recommendations carry on here.
    public init(
        pool: PoolConfiguration, provider: any InstanceProvider, store: any FleetRegistry, logger: Logger,
        memory: PolicyEvaluator.Memory = .init(), newInstanceID: @escaping @Sendable (PoolName) -> InstanceID = randomInstanceID,
        stillLeading: @escaping @Sendable () async throws -> Void
    ) {
        (self.pool, self.provider, self.store, self.logger) = (pool, provider, store, logger)
        (self.stillLeading, self.newInstanceID) = (stillLeading, newInstanceID)
        self.evaluator = PolicyEvaluator(policies: pool.policies, minimum: pool.min, maximum: pool.max)
        evaluator.memory = memory
    }

    /// A controller for a new leader: the policies' memory its predecessor saved carries on.
    public static func resuming(
        pool: PoolConfiguration, provider: any InstanceProvider, store: any FleetRegistry, logger: Logger,
        newInstanceID: @escaping @Sendable (PoolName) -> InstanceID = randomInstanceID,
        stillLeading: @escaping @Sendable () async throws -> Void
    ) async throws -> PoolController {
        let memory = try await store.policyMemory(pool: pool.name)
            .flatMap { try? JSONDecoder().decode(PolicyEvaluator.Memory.self, from: Data($0.utf8)) }
        return PoolController(
            pool: pool, provider: provider, store: store, logger: logger, memory: memory ?? .init(), newInstanceID: newInstanceID,
            stillLeading: stillLeading)
    }

    /// One pass at `now` (milliseconds since the Unix epoch). `storeReachableSince` is when the autoscaler last
    /// started reaching the store after failing to: until a report TTL has passed since then, a stale report
    /// says more about the outage (no one could report) than about the instance, so the pass replaces nothing
    /// for silence, ends no drain for silence, and decides no capacity on the figures it has.
    public mutating func reconcile(now: Int64, storeReachableSince: Int64 = .min) async throws {
        let reportsTrusted = storeReachableSince == .min || now - storeReachableSince >= milliseconds(pool.health.reportTTL)
        var instances = try await store.instances(pool: pool.name, includeTerminated: false)
        let listed = Set(try await provider.list().map(\.id))
        let nodes = Dictionary(try await store.nodes().map { ($0.registration.id, $0) }) { first, _ in first }
        var desired = try await store.pools().first { $0.name == pool.name }?.desired ?? pool.desired

        if provider.choosesIDs { try await adopt(&instances, listed: listed, now: now) }

        // What the provider runs against what the store says.
        var replaced: [FleetInstance] = []
        for index in instances.indices {
            var instance = instances[index]
            let node = nodes[instance.id.node]
            switch instance.state {
            case .launching:
                if let node, node.reportedAt >= instance.launchedAt {
                    let (provider, id) = (self.provider, instance.id)
                    try await leased { try await provider.protect(id) }  // first: a failure retries it
                    instance.state = .serving
                    instance.stateSince = now
                    try await store.save(instance)
                    logger.notice(
                        "instance registered", metadata: ["pool": "\(pool.name)", "instance": "\(instance.id)", "url": "\(node.registration.url)"])
                } else if reportsTrusted, now - instance.launchedAt > milliseconds(pool.health.registrationGrace) {
                    try await record(
                        now, "unregistered", instance: instance.id, cause: "health",
                        reason: "launched \(seconds(now - instance.launchedAt)) s ago and never registered; terminating it")
                    try await terminate(&instance, now: now, cause: "health", reason: "never registered")
                } else if !listed.contains(instance.id) {
                    // Recorded but not running: the launch failed, or a leader crashed between recording and launching.
                    try await launch(instance, now: now, capacity: Self.running(instances), retry: true)
                }
            case .serving:
                if !listed.contains(instance.id) {
                    instance.state = .terminated
                    instance.stateSince = now
                    try await store.save(instance)
                    try await store.forget(node: instance.id.node)
                    try await record(now, "terminate", instance: instance.id, cause: "provider", reason: "the provider no longer runs it")
                } else if let node, now - node.reportedAt <= milliseconds(pool.health.reportTTL) {
                    if instance.healthFailures > 0 {
                        instance.healthFailures = 0
                        try await store.save(instance)
                    }
                } else if reportsTrusted {
                    instance.healthFailures += 1
                    if instance.healthFailures >= pool.health.unhealthyThreshold {
                        // Replaced, not repaired: out of the capacity now, a new one launched below, then terminated.
                        instance.state = .terminating
                        instance.stateSince = now
                        replaced.append(instance)
                        try await record(
                            now, "replace", instance: instance.id, cause: "health",
                            reason: "failed \(instance.healthFailures) health checks in a row (no report for "
                                + "\(node.map { "\(seconds(now - $0.reportedAt)) s" } ?? "ever"))")
                    }
                    try await store.save(instance)
                }
            case .terminating:
                try await terminate(&instance, now: now, cause: "provider", reason: "termination resumed")
            case .draining, .terminated:
                break
            }
            instances[index] = instance
        }
        try await handleStrangers(listed.subtracting(instances.map(\.id)), now: now)

        // Decide.
        let capacity = instances.filter { $0.state.isCapacity }
        let warmedUp = capacity.filter { $0.state == .serving && now - $0.launchedAt >= milliseconds(pool.warmup) }
        var metrics: [String: [Double]] = [:]
        var measured = 0
        var working = 0
        let warmedUpIDs = Set(warmedUp.map(\.id))
        for instance in capacity {
            guard let node = nodes[instance.id.node], now - node.reportedAt <= milliseconds(pool.health.reportTTL) else { continue }
            if warmedUpIDs.contains(instance.id) {
                measured += 1
                for metric in InstanceMetric.allCases { metrics[metric.rawValue, default: []].append(metric.value(of: node)) }
            } else if InstanceMetric.idle.value(of: node) == 0 {
                working += 1  // still warming up but already at work (a recorder given a job): not future idle capacity
            }
        }
        var sums: [String: Double] = [:]
        for (name, values) in metrics { sums["Sum(\(name))"] = values.reduce(0, +) }
        let (provider, statistics) = (self.provider, sums)
        do { try await leased { try await provider.publish(statistics) } } catch let lost as LeadershipLost { throw lost } catch {
            logger.warning("publishing the pool's statistics failed", metadata: ["pool": "\(pool.name)", "error": "\(error)"])
        }
        var cause = "operator"
        let decision =
            reportsTrusted
            ? evaluator.evaluate(
                // Desired capacity without figures yet (to launch this pass, launching, warming up, or not reporting),
                // less what already works.
                PoolPeriod(now: Double(now) / 1000, capacity: desired, metrics: metrics, warming: max(0, desired - measured - working)))
            : nil
        try await stillLeading()
        try await store.savePolicyMemory(pool: pool.name, String(decoding: try JSONEncoder().encode(evaluator.memory), as: UTF8.self))
        if let decision {
            _ = try await store.setDesired(pool: pool.name, desired: decision.to)
            try await record(
                now, "desired", from: decision.from, to: decision.to, cause: decision.policy, reason: decision.reason,
                values: decision.values)
            logger.notice(
                "desired capacity changed",
                metadata: ["pool": "\(pool.name)", "from": "\(decision.from)", "to": "\(decision.to)", "policy": "\(decision.policy)"])
            desired = decision.to
            cause = decision.policy
        }

        // Converge.
        if capacity.count < desired {
            let running = Self.running(instances)
            for count in (running + 1)...(running + desired - capacity.count) {
                let instance = FleetInstance(id: newInstanceID(pool.name), pool: pool.name, state: .launching, launchedAt: now, stateSince: now)
                try await stillLeading()
                try await store.save(instance)  // before the launch: a successor re-issues it, never a second one
                try await launch(instance, now: now, capacity: count, retry: false)
            }
        } else if capacity.count > desired {
            let victims = ScaleIn.order(capacity, kind: pool.kind, nodes: nodes).prefix(capacity.count - desired)
            for var instance in victims {
                try await stillLeading()
                let participants = nodes[instance.id.node]?.report.participants ?? 0
                // The registry refuses a recorder that was just given a recording: it stays.
                if nodes[instance.id.node] != nil, try await !store.requestDrain(node: instance.id.node) { continue }
                instance.state = .draining
                instance.stateSince = now
                try await store.save(instance)
                try await record(
                    now, "drain", instance: instance.id, from: capacity.count, to: desired, cause: cause,
                    reason: "scale-in: least loaded (\(participants) participants); no new rooms, its rooms keep running",
                    result: "in progress")
                if let index = instances.firstIndex(where: { $0.id == instance.id }) { instances[index] = instance }
            }
        }
        for var instance in replaced { try await terminate(&instance, now: now, cause: "health", reason: "replaced") }

        // Drains.
        for var instance in instances where instance.state == .draining {
            try await drainStep(&instance, node: nodes[instance.id.node], now: now, reportsTrusted: reportsTrusted)
        }
    }


    /// Instances the provider still runs for the pool (all but terminated ones): what a provider that counts
    /// its instances (an auto scaling group's desired capacity) must keep.
    static func running(_ instances: [FleetInstance]) -> Int {
        instances.filter { $0.state != .terminated }.count
    }

    /// Runs a provider call while renewing the lease every second, so a slow call (a script, a process that takes
    /// its time to stop) does not outlast it; stops the call when the lease is lost.
    private func leased<T: Sendable>(_ call: @escaping @Sendable () async throws -> T) async throws -> T {
        try await stillLeading()
        let renew = stillLeading
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await call() }
            group.addTask {
                while true {
                    try await Task.sleep(for: .seconds(1))
                    try await renew()
                }
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw CancellationError()
        }
    }

    /// A draining instance: terminated once empty (or gone quiet: its rooms have moved), or at the deadline
    /// when the pool says so; otherwise the provider hears it still drains.
    private mutating func drainStep(
        _ instance: inout FleetInstance, node: NodeRecord?, now: Int64, reportsTrusted: Bool
    ) async throws {
        let elapsed = now - instance.stateSince
        guard let node else {
            try await terminate(&instance, now: now, cause: "drain", reason: "chosen for scale-in before it registered")
            return
        }
        let quiet = reportsTrusted && now - node.reportedAt > milliseconds(pool.health.reportTTL)
        if node.report.state != .draining {
            // Marked draining in the store but not in the registry (a crash between the two): ask again.
            _ = try await store.requestDrain(node: instance.id.node)
        }
        let confirmed = node.reportedAt > instance.stateSince && node.report.state == .draining
        if quiet || (confirmed && node.report.participants == 0 && node.report.connections == 0) {
            try await terminate(
                &instance, now: now, cause: "drain",
                reason: quiet ? "stopped reporting while draining" : "drained: empty after \(seconds(elapsed)) s")
            return
        }
        if elapsed > milliseconds(pool.drain.deadline) {
            let still = "\(node.report.participants) participants in \(node.report.rooms) rooms"
            switch pool.drain.atDeadline {
            case .terminate:
                try await terminate(
                    &instance, now: now, cause: "drain-deadline",
                    reason: "the drain deadline (\(seconds(milliseconds(pool.drain.deadline))) s) passed with \(still)")
                return
            case .wait:
                logger.warning(
                    "draining past its deadline",
                    metadata: ["pool": "\(pool.name)", "instance": "\(instance.id)", "still": "\(still)"])
                if overdue.insert(instance.id).inserted {
                    try await record(
                        now, "drain", instance: instance.id, cause: "drain-deadline",
                        reason: "the drain deadline passed with \(still); waiting until it is empty", result: "in progress")
                }
            }
        }
        let (provider, id) = (self.provider, instance.id)
        try await leased { try await provider.draining(id) }
    }

    private func launch(_ instance: FleetInstance, now: Int64, capacity: Int, retry: Bool) async throws {
        let request = LaunchRequest(id: instance.id, capacity: capacity)
        do {
            let provider = self.provider
            try await leased { try await provider.launch(request) }
            try await record(
                now, "launch", instance: instance.id, cause: retry ? "recovery" : "desired",
                reason: retry ? "recorded as launching but not running: launch re-issued" : "capacity below desired")
            logger.notice("instance launched", metadata: ["pool": "\(pool.name)", "instance": "\(instance.id)"])
        } catch let lost as LeadershipLost {
            throw lost
        } catch {
            try await record(now, "launch", instance: instance.id, cause: "desired", reason: "launch failed", result: "failed: \(error)")
            logger.error("launch failed", metadata: ["pool": "\(pool.name)", "instance": "\(instance.id)", "error": "\(error)"])
        }
    }

    private mutating func terminate(_ instance: inout FleetInstance, now: Int64, cause: String, reason: String) async throws {
        try await stillLeading()
        instance.state = .terminating
        instance.stateSince = now
        try await store.save(instance)
        do {
            let (provider, id) = (self.provider, instance.id)
            try await leased { try await provider.terminate(id) }
        } catch let lost as LeadershipLost {
            throw lost
        } catch {
            try await record(now, "terminate", instance: instance.id, cause: cause, reason: reason, result: "failed: \(error)")
            logger.error("terminate failed", metadata: ["pool": "\(pool.name)", "instance": "\(instance.id)", "error": "\(error)"])
            return  // still terminating: the next pass tries again
        }
        instance.state = .terminated
        try await store.save(instance)
        try await store.forget(node: instance.id.node)
        overdue.remove(instance.id)
        try await record(now, "terminate", instance: instance.id, cause: cause, reason: reason)
        logger.notice("instance terminated", metadata: ["pool": "\(pool.name)", "instance": "\(instance.id)", "reason": "\(reason)"])
    }

    /// Terminates every instance of the pool at once: `plaza serve --pools` stopping, whose room servers are its
    /// own. A failure is logged and the others carry on.
    public func terminateAll(now: Int64, reason: String) async {
        let instances: [FleetInstance]
        do {
            instances = try await store.instances(pool: pool.name, includeTerminated: false)
        } catch {
            logger.error("cannot stop the pool's instances", metadata: ["pool": "\(pool.name)", "error": "\(error)"])
            return
        }
        await withTaskGroup(of: Void.self) { group in
            for instance in instances {
                group.addTask { [self] in
                    var (controller, instance) = (self, instance)
                    do {
                        try await controller.terminate(&instance, now: now, cause: "shutdown", reason: reason)
                    } catch {
                        logger.error("cannot stop an instance", metadata: ["instance": "\(instance.id)", "error": "\(error)"])
                    }
                }
            }
        }
    }

    /// For a provider that names its instances: each new instance it lists takes the place of the oldest
    /// launch placeholder, keeping the placeholder's launch time (its registration grace runs from the launch).
    private func adopt(_ instances: inout [FleetInstance], listed: Set<InstanceID>, now: Int64) async throws {
        let known = Set(instances.map(\.id))
        var newcomers = listed.subtracting(known).sorted()
        for index in instances.indices where instances[index].state == .launching && !listed.contains(instances[index].id) {
            guard !newcomers.isEmpty else { break }
            let id = newcomers.removeFirst()
            try await store.rename(instance: instances[index].id, to: id)
            try await record(
                now, "launch", instance: id, cause: "provider", reason: "the provider named the launch \(instances[index].id) \(id)")
            instances[index].id = id
        }
    }

    /// Instances the provider runs that this pool never launched: reported once, terminated after the
    /// registration grace.
    private mutating func handleStrangers(_ ids: Set<InstanceID>, now: Int64) async throws {
        strangers = strangers.filter { ids.contains($0.key) }
        for id in ids.sorted() {
            guard let since = strangers[id] else {
                strangers[id] = now
                try await record(
                    now, "unregistered", instance: id, cause: "health",
                    reason: "the provider runs it but this pool never launched it; terminating it after "
                        + "\(seconds(milliseconds(pool.health.registrationGrace))) s", result: "in progress")
                continue
            }
            guard now - since > milliseconds(pool.health.registrationGrace) else { continue }
            var instance = FleetInstance(id: id, pool: pool.name, state: .terminating, launchedAt: since, stateSince: now)
            try await terminate(&instance, now: now, cause: "health", reason: "unknown to the pool past the registration grace")
            strangers[id] = nil
        }
    }

    private func record(
        _ now: Int64, _ action: String, instance: InstanceID? = nil, from: Int? = nil, to: Int? = nil, cause: String,
        reason: String, values: [String: Double] = [:], result: String = "succeeded"
    ) async throws {
        try await store.record(
            ScalingActivity(
                pool: pool.name, at: now, action: action, instance: instance, from: from, to: to, cause: cause, reason: reason,
                values: values, result: result))
    }

    /// `<pool>-` and eight random characters.
    public static let randomInstanceID: @Sendable (PoolName) -> InstanceID = { InstanceID($0.rawValue + "-" + randomID(length: 8)) }
}

private func milliseconds(_ seconds: Double) -> Int64 { Int64(seconds * 1000) }
private func seconds(_ milliseconds: Int64) -> String { String(format: "%.0f", Double(milliseconds) / 1000) }
