public import PlazaFleetModel

/// A pool as the fleet API shows it: its declared shape and its desired capacity.
public struct FleetPool: Sendable, Equatable, Codable {
    public var name: PoolName
    public var kind: NodeKind
    public var region: String
    public var min: Int
    public var max: Int
    public var desired: Int

    public init(name: PoolName, kind: NodeKind, region: String, min: Int, max: Int, desired: Int) {
        (self.name, self.kind, self.region, self.min, self.max) = (name, kind, region, min, max)
        self.desired = desired
    }
}

/// One recorded scaling activity: a change of desired capacity with its cause, or an action on an instance
/// (launch, drain, terminate, replace) with its result.
public struct ScalingActivity: Sendable, Equatable, Codable {
    /// Assigned by the store; grows with time.
    public var id: Int64
    public var pool: PoolName
    /// Milliseconds since the Unix epoch.
    public var at: Int64
    /// `desired`, `launch`, `drain`, `terminate`, `replace`, `unregistered`, `protect`.
    public var action: String
    public var instance: InstanceID?
    public var from: Int?
    public var to: Int?
    /// The policy (or `min`, `max`, `operator`, `health`, `drain-deadline`) that caused it.
    public var cause: String
    public var reason: String
    /// The figures behind the decision, by `statistic(metric)`.
    public var values: [String: Double]
    /// `succeeded`, `in progress`, or `failed: …`.
    public var result: String

    public init(
        id: Int64 = 0, pool: PoolName, at: Int64, action: String, instance: InstanceID? = nil, from: Int? = nil, to: Int? = nil,
        cause: String, reason: String, values: [String: Double] = [:], result: String = "succeeded"
    ) {
        (self.id, self.pool, self.at, self.action, self.instance, self.from) = (id, pool, at, action, instance, from)
        (self.to, self.cause, self.reason, self.values, self.result) = (to, cause, reason, values, result)
    }
}

/// The autoscaler's shared state: who leads, each pool's desired capacity, the instances it launched and every
/// scaling activity. Kept in the store so that a standby autoscaler taking over knows what its predecessor did,
/// and so that directories can answer `GET /api/v1/fleet` without asking the autoscaler.
public protocol FleetStore: FleetTimeSource {
    /// Takes or renews the autoscaler lease for `holder` until `now + ttl`. Returns the lease's term (it grows
    /// each time the lease changes hands) while `holder` holds it, nil while another holder's lease runs.
    func lead(holder: String, ttl: Int64, now: Int64) async throws -> Int64?

    /// Gives up the lease if `holder` has it, so a standby takes over at once.
    func resign(holder: String) async throws

    /// Declares a pool (shape and limits) as loaded from the pool file; its desired capacity is set to
    /// `desired` only when the pool is new, so an autoscaler restart keeps decisions and operator settings.
    /// Returns the pool's desired capacity.
    func declare(_ pool: FleetPool) async throws -> Int

    func pools() async throws -> [FleetPool]

    /// The pool's policy memory as the leader last saved it (JSON), so a successor picks up its alarms' history.
    func policyMemory(pool: PoolName) async throws -> String?

    func savePolicyMemory(pool: PoolName, _ memory: String) async throws

    /// Sets a pool's desired capacity. False when no such pool is declared.
    func setDesired(pool: PoolName, desired: Int) async throws -> Bool

    /// Adds an instance or replaces its row, except `protected`, which only `setProtected` changes (a pass
    /// saving the copy it read must not undo an operator's protection made meanwhile).
    func save(_ instance: FleetInstance) async throws

    /// Gives a recorded instance the id its provider chose for it (a placeholder becomes an EC2 instance id).
    func rename(instance: InstanceID, to id: InstanceID) async throws

    /// The instances of `pool` (of every pool when nil), terminated ones only when `includeTerminated`.
    func instances(pool: PoolName?, includeTerminated: Bool) async throws -> [FleetInstance]

    /// Sets a live instance's protection from scale-in; returns its pool, nil when no live instance has that id.
    func setProtected(instance: InstanceID, _ protected: Bool) async throws -> PoolName?

    /// Records an activity; returns it with its id.
    @discardableResult
    func record(_ activity: ScalingActivity) async throws -> ScalingActivity

    /// The latest activities, newest first, of `pool` (of every pool when nil).
    func activities(pool: PoolName?, limit: Int) async throws -> [ScalingActivity]

    /// Deletes what is older than `before` (milliseconds since the Unix epoch): scaling activities, terminated
    /// instances and conference placements whose lease ended. Room placements stay: their epochs must never
    /// repeat. Returns the number of rows deleted.
    @discardableResult
    func prune(before: Int64) async throws -> Int

}

extension FleetStore {
    /// The name of the autoscaler's lease (its row in `fleet_leases`), the same on every engine.
    public static var autoscalerLease: String { "autoscaler" }
}
