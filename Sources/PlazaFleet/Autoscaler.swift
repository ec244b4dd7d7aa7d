// The autoscaler at work: the pool file (`PoolFile`), the providers that run instances (local processes, operator
// scripts, AWS Auto Scaling groups), the reconcile pass of each pool (`PoolController`) under one leader's lease
// (`Autoscaler`), and the agent beside a media server or recorder (`MediaAgent`). Decisions are
// `PlazaAutoscaling`'s; this module carries them out idempotently, so a pass after a crash picks up where things
// stand.

import PlazaFleetModel
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

    public init(
        pools: [PoolConfiguration], store: any FleetRegistry, holder: String, leaseTTL: Duration,
        terminatesInstancesOnShutdown: Bool = false, retention: Duration, logger: Logger,
        providers: @escaping @Sendable (PoolConfiguration) throws -> any InstanceProvider
    ) {
        (self.pools, self.store, self.holder, self.leaseTTL) = (pools, store, holder, leaseTTL)
        (self.terminatesInstancesOnShutdown, self.retention) = (terminatesInstancesOnShutdown, retention)
        (self.logger, self.providers) = (logger, providers)
    }

    /// Runs until the service group shuts down (SIGTERM), then resigns the lease (after terminating the
    /// instances, when it leads and `terminatesInstancesOnShutdown`). The termination runs in a task of its own,
    /// outside the cancelled reconcile loop and any cancellation of the group, so waiting for the instances to
    /// stop is never cut short.
    public func run() async {
        guard let controllers = await cancelWhenGracefulShutdown({ await reconcileUntilCancelled() }) else { return }
        let (store, holder, terminates) = (self.store, self.holder, terminatesInstancesOnShutdown)
        await Task {
            if terminates {
                await withTaskGroup(of: Void.self) { group in
                    for controller in controllers.values {
                        group.addTask { await controller.terminateAll(now: store.fleetTime(), reason: "the autoscaler stopped") }
                    }
                }
            }
            try? await store.resign(holder: holder)
        }.value
    }

    /// The reconcile loop, until cancelled. Answers the pools' controllers when it still leads.
    private func reconcileUntilCancelled() async -> [PoolName: PoolController]? {
        let tick = Duration.seconds(min(1, (pools.map(\.period).min() ?? 1) / 2))
        var term: Int64?
        var announced = false
        var controllers: [PoolName: PoolController] = [:]
        var due: [PoolName: Int64] = [:]
        var pruneDue: Int64 = 0
        /// When the store last failed (`.min`: it has not); see `PoolController.reconcile`.
        var storeReachableSince = Int64.min
        var inOutage = false
        while !Task.isCancelled {
            let now = store.fleetTime()
            var storeFailed = false
            defer {
                if storeFailed {
                    storeReachableSince = store.fleetTime()
                    inOutage = true
                } else if inOutage {
                    inOutage = false
                    logger.notice("the fleet's store answers again: no capacity decision until the instances have reported")
                }
            }
            do {
                let current = try await store.lead(holder: holder, ttl: leaseTTL.milliseconds, now: now)
                if current != term || !announced {
                    announced = true
                    term = nil
                    controllers = [:]
                    if let current {
                        // Leading only once the pools are declared and their providers built: a failure here is
                        // tried again next tick rather than holding the lease without acting.
                        controllers = try await start(term: current)
                        term = current
                        due = Dictionary(uniqueKeysWithValues: pools.map { ($0.name, now) })
                        logger.notice("leading the fleet's autoscaling", metadata: ["holder": "\(holder)", "term": "\(current)"])
                        for pool in pools {
                            logger.notice(
                                "pool", metadata: [
                                    "pool": "\(pool.name)", "kind": "\(pool.kind.rawValue)", "region": "\(pool.region)",
                                    "min": "\(pool.min)", "desired": "\(pool.desired)", "max": "\(pool.max)",
                                ])
                        }
                    } else {
                        logger.notice("standing by: another autoscaler leads", metadata: ["holder": "\(holder)"])
                    }
                }
                if term != nil, pruneDue <= now {
                    pruneDue = now + 3_600_000
                    do {
                        let deleted = try await store.prune(before: now - retention.milliseconds)
                        if deleted > 0 { logger.info("pruned the fleet's history", metadata: ["rows": "\(deleted)"]) }
                    } catch {
                        logger.warning("pruning the fleet's history failed", metadata: ["error": "\(error)"])
                    }
                }
                for pool in pools where term != nil && (due[pool.name] ?? 0) <= now {
                    due[pool.name] = now + Int64(pool.period * 1000)
                    do {
                        try await controllers[pool.name]?.reconcile(now: store.fleetTime(), storeReachableSince: storeReachableSince)
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
            do { try await Task.sleep(for: tick) } catch { break }
        }
        return term == nil ? nil : controllers
    }

    /// Declares the pools in the store and builds their controllers.
    private func start(term: Int64) async throws -> [PoolName: PoolController] {
        var controllers: [PoolName: PoolController] = [:]
        let store = self.store, holder = self.holder, ttl = leaseTTL.milliseconds
        for pool in pools {
            _ = try await store.declare(
                FleetPool(name: pool.name, kind: pool.kind, region: pool.region, min: pool.min, max: pool.max, desired: pool.desired))
            controllers[pool.name] = try await PoolController.resuming(
                pool: pool, provider: try providers(pool), store: store, logger: logger,
                stillLeading: {
                    guard try await store.lead(holder: holder, ttl: ttl, now: store.fleetTime()) == term else { throw LeadershipLost() }
                })
        }
        return controllers
    }

}

/// The lease went to another autoscaler (this one was paused or cut off past its TTL): stop acting at once.
public struct LeadershipLost: Error {
    public init() {}
}
