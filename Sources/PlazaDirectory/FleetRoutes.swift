import Hummingbird
import PlazaStore
public import PlazaFleetModel
import PlazaTransport
import PlazaProtocol
import Foundation

/// The fleet's operator API on a directory, all behind the admin token: pools with their instances and load,
/// scaling activities, setting a pool's desired capacity and protecting an instance from scale-in. The
/// autoscaler acts on what these endpoints write at its next pass.
struct FleetRoutes {
    let directory: DirectoryServer

    func register(on api: RouterGroup<PlazaRequestContext>) {
        api.get("fleet") { request, _ in try await status(request) }
        api.get("fleet/activities") { request, _ in try await activities(request) }
        api.put("fleet/pools/:pool/desired") { request, context in try await setDesired(request, context) }
        api.put("fleet/instances/:instance/protection") { request, context in try await protect(request, context) }
    }

    /// The store, once the request proved it carries the admin token.
    private func fleet(_ request: Request) throws -> any SharedStore {
        try directory.api.requireAdmin(request)
        return directory.store
    }

    private func status(_ request: Request) async throws -> Response {
        let fleet = try fleet(request)
        let (pools, instances, nodes) = try await storeCall {
            (try await fleet.pools(), try await fleet.instances(pool: nil, includeTerminated: false), try await fleet.nodes())
        }
        let registered = Dictionary(nodes.map { ($0.registration.id, $0) }) { first, _ in first }
        let status = FleetStatus(
            pools: pools.map { pool in
                let members = instances.filter { $0.pool == pool.name }
                return FleetStatus.Pool(
                    name: pool.name, kind: pool.kind, region: pool.region, min: pool.min, max: pool.max, desired: pool.desired,
                    capacity: members.filter(\.state.isCapacity).count,
                    instances: members.map { instance in
                        FleetStatus.Instance(
                            id: instance.id, state: instance.state.rawValue, protected: instance.protected,
                            launchedAt: instance.launchedAt, stateSince: instance.stateSince,
                            healthFailures: instance.healthFailures,
                            node: registered[instance.id.node].map { record in
                                FleetStatus.Node(
                                    url: record.registration.url, state: record.report.state.rawValue,
                                    participants: record.report.participants, rooms: record.report.rooms,
                                    connections: record.report.connections, capacity: record.registration.capacity,
                                    cpu: record.report.cpu, bytesOutPerSecond: record.report.bytesOutPerSecond,
                                    bytesInPerSecond: record.report.bytesInPerSecond, largestRoom: record.report.largestRoom,
                                    reportedAt: record.reportedAt)
                            })
                    })
            })
        return try APIRoutes.json(status)
    }

    private func activities(_ request: Request) async throws -> Response {
        let fleet = try fleet(request)
        let query = request.uri.queryParameters
        let maximum = directory.configuration.fleetActivitiesPage
        var limit = min(50, maximum)
        if let raw = query.get("limit") {
            guard let value = Int(raw), (1...maximum).contains(value) else {
                throw APIError(.badRequest, .invalidRequest, "'limit' must be 1…\(maximum)")
            }
            limit = value
        }
        let pool = query.get("pool").map { PoolName($0) }
        let activities = try await storeCall { try await fleet.activities(pool: pool, limit: limit) }
        return try APIRoutes.json(["activities": activities])
    }

    private func setDesired(_ request: Request, _ context: PlazaRequestContext) async throws -> Response {
        let fleet = try fleet(request)
        struct Body: Decodable { var desired: Int }
        let body: Body = try await directory.api.decode(request)
        let name = PoolName(context.parameters.get("pool") ?? "")
        let pools = try await storeCall { try await fleet.pools() }
        guard var pool = pools.first(where: { $0.name == name }) else {
            throw APIError(.notFound, .notFound, "no pool named '\(name)'")
        }
        guard (pool.min...pool.max).contains(body.desired) else {
            throw APIError(.badRequest, .invalidRequest, "desired must be within the pool's min and max (\(pool.min)…\(pool.max))")
        }
        let previous = pool.desired
        pool.desired = body.desired
        guard try await storeCall({ try await fleet.setDesired(pool: name, desired: body.desired) }) else {
            throw APIError(.notFound, .notFound, "no pool named '\(name)'")
        }
        try await storeCall {
            try await fleet.record(
                ScalingActivity(
                    pool: name, at: directory.store.fleetTime(), action: "desired", from: previous, to: body.desired,
                    cause: "operator", reason: "set through the fleet API"))
        }
        return try APIRoutes.json(pool)
    }

    private func protect(_ request: Request, _ context: PlazaRequestContext) async throws -> Response {
        let fleet = try fleet(request)
        struct Body: Codable { var `protected`: Bool }
        let body: Body = try await directory.api.decode(request)
        let id = InstanceID(context.parameters.get("instance") ?? "")
        guard let pool = try await storeCall({ try await fleet.setProtected(instance: id, body.protected) }) else {
            throw APIError(.notFound, .notFound, "no live instance named '\(id)'")
        }
        try await storeCall {
            try await fleet.record(
                ScalingActivity(
                    pool: pool, at: directory.store.fleetTime(), action: "protect", instance: id, cause: "operator",
                    reason: body.protected ? "protected from scale-in" : "no longer protected from scale-in"))
        }
        struct Answer: Encodable { var instance: InstanceID; var `protected`: Bool }
        return try APIRoutes.json(Answer(instance: id, protected: body.protected))
    }
}

/// The fleet's state as `GET /api/v1/fleet` shows it (and `plaza fleet status` reads it).
public struct FleetStatus: Codable, Sendable {
    /// A pool with its limits, desired capacity and instances.
    public struct Pool: Codable, Sendable {
        public var name: PoolName
        public var kind: NodeKind
        public var region: String
        public var min, max, desired: Int
        /// Launching and serving instances.
        public var capacity: Int
        public var instances: [Instance]
    }

    /// An instance of a pool with its autoscaler state and, once it registered, its node's figures.
    public struct Instance: Codable, Sendable {
        public var id: InstanceID
        public var state: String
        public var protected: Bool
        public var launchedAt, stateSince: Int64
        public var healthFailures: Int
        /// The instance's registration and last report; absent before it registers.
        public var node: Node?
    }

    /// An instance's registration and last report, as the registry has them.
    public struct Node: Codable, Sendable {
        public var url, state: String
        public var participants, rooms, connections, capacity: Int
        public var cpu, bytesOutPerSecond, bytesInPerSecond: Double
        public var largestRoom: Int
        public var reportedAt: Int64
    }

    public var pools: [Pool]
}
