// The autoscaler at work: the pool file (`PoolFile`), the providers that run instances (local processes, operator
// scripts, AWS Auto Scaling groups), the reconcile pass of each pool (`PoolController`) under one leader's lease
// (`Autoscaler`), and the agent beside a media server or recorder (`MediaAgent`). Decisions are
// `PlazaAutoscaling`'s; this module carries them out idempotently, so a pass after a crash picks up where things
// stand.

public import PlazaFleetModel
public import Logging
public import ServiceLifecycle
import PlazaStore
import Foundation

/// `plaza autoscaler`: while it holds the lease in the store, one reconcile pass per pool per period. Any number
/// may run; one leads, the others stand by and take over when its lease runs out (or at once when it resigns on
/// a clean shutdown). A new leader picks up from the store the policies' memory, and the instances, launches and
/// drains in progress.
public struct Autoscaler: Service {
    public let pools: [PoolConfiguration]
    let store: any FleetRegistry
    let providers: @Sendable (PoolConfiguration) throws -> any InstanceProvider
    /// This autoscaler's name in the lease.
    public let holder: String
    /// How long the lease lasts unrenewed (`autoscaler.leaseTTL`): how long a standby waits for a dead leader.
    let leaseTTL: Duration
    /// Whether a leader shutting down terminates every instance first (`plaza serve --pools`, whose room servers
    /// stop with it) rather than leaving them running for a successor to adopt (`plaza autoscaler`).
    let terminatesInstancesOnShutdown: Bool
    /// How long scaling activities, terminated instances and ended conference placements are kept
    /// (`autoscaler.retention`); the leader deletes older ones once an hour.
    let retention: Duration
    let logger: Logger
    /// The fleet's time, milliseconds since the Unix epoch: the store's (`fleetTime()`), or a simulated one.
    let clock: @Sendable () -> Int64
    /// Names a new instance of a pool (random by default; a simulation numbers them).
    let newInstanceID: @Sendable (PoolName) -> InstanceID

    public init(
        pools: [PoolConfiguration], store: any FleetRegistry, holder: String, leaseTTL: Duration,
        terminatesInstancesOnShutdown: Bool = false, retention: Duration, logger: Logger,
        clock: (@Sendable () -> Int64)? = nil, newInstanceID: @escaping @Sendable (PoolName) -> InstanceID = PoolController.randomInstanceID,
        providers: @escaping @Sendable (PoolConfiguration) throws -> any InstanceProvider
    ) {
        (self.pools, self.store, self.holder, self.leaseTTL) = (pools, store, holder, leaseTTL)
        (self.terminatesInstancesOnShutdown, self.retention) = (terminatesInstancesOnShutdown, retention)
        (self.logger, self.providers, self.newInstanceID) = (logger, providers, newInstanceID)
        self.clock = clock ?? { store.fleetTime() }
    }

    /// Runs until the service group shuts down (SIGTERM), then resigns the lease (after terminating the
    /// instances, when it leads and `terminatesInstancesOnShutdown`). The termination runs in a task of its own,
    /// outside the cancelled reconcile loop and any cancellation of the group, so waiting for the instances to
    /// stop is never cut short.
    public func run() async {
        guard let controllers = await cancelWhenGracefulShutdown({ await reconcileUntilCancelled() }) else { return }
        let (store, holder, terminates, clock) = (self.store, self.holder, terminatesInstancesOnShutdown, self.clock)
        await Task {
            if terminates {
                await withTaskGroup(of: Void.self) { group in
                    for controller in controllers.values {
                        group.addTask { await controller.terminateAll(now: clock(), reason: "the autoscaler stopped") }
                    }
                }
            }
            try? await store.resign(holder: holder)
        }.value
    }

    /// The reconcile loop, until cancelled: one `AutoscalerLoop.tick` every `tick` on `clock`. Answers the pools'
    /// controllers when it still leads.
    private func reconcileUntilCancelled() async -> [PoolName: PoolController]? {
        let tick = Duration.seconds(min(1, (pools.map(\.period).min() ?? 1) / 2))
        var loop = AutoscalerLoop(self)
        while !Task.isCancelled {
            await loop.tick(now: clock())
            do { try await Task.sleep(for: tick) } catch { break }
        }
        return loop.leadingControllers
    }

    /// Declares the pools in the store and builds their controllers.
    fileprivate func start(term: Int64) async throws -> [PoolName: PoolController] {
        var controllers: [PoolName: PoolController] = [:]
        let store = self.store, holder = self.holder, ttl = leaseTTL.milliseconds, clock = self.clock
        for pool in pools {
            _ = try await store.declare(
                FleetPool(name: pool.name, kind: pool.kind, region: pool.region, min: pool.min, max: pool.max, desired: pool.desired))
            controllers[pool.name] = try await PoolController.resuming(
                pool: pool, provider: try providers(pool), store: store, logger: logger, newInstanceID: newInstanceID,
                stillLeading: {
                    guard try await store.lead(holder: holder, ttl: ttl, now: clock()) == term else { throw LeadershipLost() }
                })
        }
        return controllers
    }
}

/// What an autoscaler carries from one tick to the next — the lease term it holds, its pools' controllers, when
/// each pool's pass and the history's pruning are next due, and the store's outages — and one tick of it at a time
/// given: `Autoscaler.run` ticks it on the fleet's clock, `plaza simulate` on a simulated one.
public struct AutoscalerLoop: Sendable {
    let autoscaler: Autoscaler
    private var term: Int64?
    private var announced = false
    private var controllers: [PoolName: PoolController] = [:]
    private var due: [PoolName: Int64] = [:]
    private var pruneDue: Int64 = 0
    /// When the store last failed (`.min`: it has not); see `PoolController.reconcile`.
    private var storeReachableSince = Int64.min
    private var inOutage = false

    public init(_ autoscaler: Autoscaler) { self.autoscaler = autoscaler }

    /// The pools' controllers while this autoscaler leads; nil while it stands by.
    public var leadingControllers: [PoolName: PoolController]? { term == nil ? nil : controllers }

    /// One tick at `now` (milliseconds since the Unix epoch): take or renew the lease, prune the history once an
    /// hour, and run the pass of every pool whose period has come.
    public mutating func tick(now: Int64) async {
        let (store, logger, pools) = (autoscaler.store, autoscaler.logger, autoscaler.pools)
        var storeFailed = false
        defer {
            if storeFailed {
                storeReachableSince = autoscaler.clock()
                inOutage = true
            } else if inOutage {
                inOutage = false
                logger.notice("the fleet's store answers again: no capacity decision until the instances have reported")
            }
        }
        do {
            let current = try await store.lead(holder: autoscaler.holder, ttl: autoscaler.leaseTTL.milliseconds, now: now)
            if current != term || !announced {
                announced = true
                term = nil
                controllers = [:]
                if let current {
                    // Leading only once the pools are declared and their providers built: a failure here is
                    // tried again next tick rather than holding the lease without acting.
                    controllers = try await autoscaler.start(term: current)
                    term = current
                    due = Dictionary(uniqueKeysWithValues: pools.map { ($0.name, now) })
                    logger.notice("leading the fleet's autoscaling", metadata: ["holder": "\(autoscaler.holder)", "term": "\(current)"])
                    for pool in pools {
                        logger.notice(
                            "pool", metadata: [
                                "pool": "\(pool.name)", "kind": "\(pool.kind.rawValue)", "region": "\(pool.region)",
                                "min": "\(pool.min)", "desired": "\(pool.desired)", "max": "\(pool.max)",
                            ])
                    }
                } else {
                    logger.notice("standing by: another autoscaler leads", metadata: ["holder": "\(autoscaler.holder)"])
                }
            }
            if term != nil, pruneDue <= now {
                pruneDue = now + 3_600_000
                do {
                    let deleted = try await store.prune(before: now - autoscaler.retention.milliseconds)
                    if deleted > 0 { logger.info("pruned the fleet's history", metadata: ["rows": "\(deleted)"]) }
                } catch {
                    logger.warning("pruning the fleet's history failed", metadata: ["error": "\(error)"])
                }
            }
            for pool in pools where term != nil && (due[pool.name] ?? 0) <= now {
                due[pool.name] = now + Int64(pool.period * 1000)
                do {
                    let (passTime, reachableSince) = (autoscaler.clock(), storeReachableSince)
                    try await controllers[pool.name]?.reconcile(now: passTime, storeReachableSince: reachableSince)
                } catch is LeadershipLost {
                    logger.warning("lost the lease during a pass", metadata: ["pool": "\(pool.name)"])
                    term = nil
                    controllers = [:]
                    break
                } catch {
                    if error is StoreError { storeFailed = true }
                    logger.error("reconcile failed", metadata: ["pool": "\(pool.name)", "error": "\(error)"])
                }
            }
        } catch {
            if error is StoreError { storeFailed = true }
            logger.error("autoscaler pass failed", metadata: ["error": "\(error)"])
        }
    }
}

/// The lease went to another autoscaler (this one was paused or cut off past its TTL): stop acting at once.
public struct LeadershipLost: Error {
    public init() {}
}
