import ArgumentParser
import PlazaRoles

/// `plaza node`: a room server of a fleet, on the shared PostgreSQL store.
struct Node: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a room server of a fleet, sharing one PostgreSQL store with the other nodes and directories.",
        discussion: """
            The node registers itself (id, public URL, region, capacity), reports its load every \
            cluster.heartbeatInterval, takes up a room only under the room's placement, and writes chat only while \
            that placement is its own. Every node and directory of a fleet shares auth.secret (PLAZA_AUTH_SECRET). \
            Configuration: these flags, then PLAZA_* environment variables, then --config, then the defaults.
            """
    )

    @Option(help: "The shared store, postgres://user:password@host:5432/database, or sqlite:<path> for the processes of one machine (key store).")
    var store: String?

    @Option(name: .customLong("node-id"), help: "This node's unique name in the fleet (key cluster.nodeID).")
    var nodeID: String?

    @Option(name: .customLong("public-url"), help: "The base URL clients reach this node at (key server.publicURL).")
    var publicURL: String?

    @Option(help: "Region the node runs in (key cluster.region; default 'default').")
    var region: String?

    @Option(help: "Participants this node is sized for (key cluster.capacity; default 5000).")
    var capacity: Int?

    @OptionGroup var server: ServerOptions

    func run() async throws {
        let reader = try await server.reader([
            "store": store.map { .string($0) }, "cluster.nodeID": nodeID.map { .string($0) },
            "server.publicURL": publicURL.map { .string($0) }, "cluster.region": region.map { .string($0) },
            "cluster.capacity": capacity.map { .int($0) },
        ])
        try await RoleRunner.run(reader: reader) { configuration, logger in
            (try await Roles.node(configuration, logger: logger), [])
        }
    }
}
