import Hummingbird
import PlazaStore
import PlazaProtocol
import Foundation

/// The fleet's operator API on a directory, all behind the admin token: pools with their instances and load,
/// scaling activities, setting a pool's desired capacity and protecting an instance from scale-in. The
/// autoscaler acts on what these endpoints write at its next pass.
struct FleetRoutes {
    let node: PlazaNode

    func register(on api: RouterGroup<PlazaRequestContext>) {
        api.get("fleet") { request, _ in try await status(request) }
        api.get("fleet/activities") { request, _ in try await activities(request) }
        api.put("fleet/pools/:pool/desired") { request, context in try await setDesired(request, context) }
        api.put("fleet/instances/:instance/protection") { request, context in try await protect(request, context) }
    }

    /// The fleet's state as `GET /api/v1/fleet` shows it.
    struct Status: Codable {
        struct Pool: Codable {
            var name, kind, region: String
            var min, max, desired: Int
            /// Launching and serving instances.
            var capacity: Int
            var instances: [Instance]
        }

        struct Instance: Codable {
            var id, state: String
            var protected: Bool
            var launchedAt, stateSince: Int64
            var healthFailures: Int
            /// The instance's registration and last report; absent before it registers.
            var node: Node?
        }

        struct Node: Codable {
            var url, state: String
            var participants, rooms, connections, capacity: Int
            var cpu, bytesOutPerSecond: Double
            var reportedAt: Int64
        }

        var pools: [Pool]
    }

    private func fleet(_ request: Request) throws -> any FleetStore {
        try APIRoutes(node: node).requireAdmin(request)
        guard let fleet = node.directory?.fleet else {
            throw APIError(.notFound, .notFound, "this process runs no fleet: ask a directory (plaza directory)")
        }
        return fleet
    }

    private func status(_ request: Request) async throws -> Response {
        let fleet = try fleet(request)
        let (pools, instances, nodes) = try await storeCall {
            (try await fleet.pools(), try await fleet.instances(pool: nil, includeTerminated: false),
             try await node.directory!.placements.nodes())
        }
        let registered = Dictionary(nodes.map { ($0.registration.id, $0) }) { first, _ in first }
        let status = Status(
            pools: pools.map { pool in
                let members = instances.filter { $0.pool == pool.name }
                return Status.Pool(
                    name: pool.name, kind: pool.kind, region: pool.region, min: pool.min, max: pool.max, desired: pool.desired,
                    capacity: members.filter(\.state.isCapacity).count,
                    instances: members.map { instance in
                        Status.Instance(
                            id: instance.id, state: instance.state.rawValue, protected: instance.protected,
                            launchedAt: instance.launchedAt, stateSince: instance.stateSince,
                            healthFailures: instance.healthFailures,
                            node: registered[instance.id].map { record in
                                Status.Node(
                                    url: record.registration.url, state: record.report.state.rawValue,
                                    participants: record.report.participants, rooms: record.report.rooms,
                                    connections: record.report.connections, capacity: record.registration.capacity,
                                    cpu: record.report.cpu, bytesOutPerSecond: record.report.bytesOutPerSecond,
                                    reportedAt: record.reportedAt)
                            })
                    })
            })
        return try Self.json(status)
    }

    private func activities(_ request: Request) async throws -> Response {
        let fleet = try fleet(request)
        let query = request.uri.queryParameters
        let maximum = node.configuration.limits.fleetActivitiesPage
        var limit = 50
        if let raw = query.get("limit") {
            guard let value = Int(raw), (1...maximum).contains(value) else {
                throw APIError(.badRequest, .invalidRequest, "'limit' must be 1…\(maximum)")
            }
            limit = value
        }
        let pool = query.get("pool")
        let activities = try await storeCall { try await fleet.activities(pool: pool, limit: limit) }
        return try Self.json(["activities": activities])
    }

    private func setDesired(_ request: Request, _ context: PlazaRequestContext) async throws -> Response {
        let fleet = try fleet(request)
        struct Body: Decodable { var desired: Int }
        let body: Body = try await APIRoutes(node: node).decode(request)
        let name = context.parameters.get("pool") ?? ""
        let pools = try await storeCall { try await fleet.pools() }
        guard var pool = pools.first(where: { $0.name == name }) else {
            throw APIError(.notFound, .notFound, "no pool named '\(name)'")
        }
        guard (pool.min...pool.max).contains(body.desired) else {
            throw APIError(.badRequest, .invalidRequest, "desired must be within the pool's min and max (\(pool.min)…\(pool.max))")
        }
        let previous = pool.desired
        pool.desired = body.desired
        try await storeCall {
            _ = try await fleet.setDesired(pool: name, desired: body.desired)
            try await fleet.record(
                ScalingActivity(
                    pool: name, at: wallClockMilliseconds(), action: "desired", from: previous, to: body.desired,
                    cause: "operator", reason: "set through the fleet API"))
        }
        return try Self.json(pool)
    }

    private func protect(_ request: Request, _ context: PlazaRequestContext) async throws -> Response {
        let fleet = try fleet(request)
        struct Body: Codable { var `protected`: Bool }
        let body: Body = try await APIRoutes(node: node).decode(request)
        let id = context.parameters.get("instance") ?? ""
        let instances = try await storeCall { try await fleet.instances(pool: nil, includeTerminated: false) }
        guard let instance = instances.first(where: { $0.id == id }) else {
            throw APIError(.notFound, .notFound, "no live instance named '\(id)'")
        }
        try await storeCall {
            _ = try await fleet.setProtected(instance: id, body.protected)
            try await fleet.record(
                ScalingActivity(
                    pool: instance.pool, at: wallClockMilliseconds(), action: "protect", instance: id, cause: "operator",
                    reason: body.protected ? "protected from scale-in" : "no longer protected from scale-in"))
        }
        struct Answer: Encodable { var instance: String; var `protected`: Bool }
        return try Self.json(Answer(instance: id, protected: body.protected))
    }


    static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}
