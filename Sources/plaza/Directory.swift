import ArgumentParser
import PlazaRoles

/// `plaza directory`: the join and admin API of a fleet.
struct DirectoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "directory",
        abstract: "Run a directory of a fleet: join places each room on the least-loaded live node.",
        discussion: """
            Directories keep no state of their own: run as many as you like behind a load balancer, on the same \
            PostgreSQL store as the nodes and with the same auth.secret. Join answers with the WebSocket URL of \
            the room's node; GET /api/v1/rooms/{room}/url answers which node a room lives on.
            """
    )

    @Option(help: "The shared store, postgres://user:password@host:5432/database, or sqlite:<path> for the processes of one machine (key store).")
    var store: String?

    @Option(name: .customLong("load-source"), help: "heartbeat or prometheus: where node load for placement comes from (key cluster.loadSource).")
    var loadSource: String?

    @Option(name: .customLong("prometheus-url"), help: "Prometheus's base URL for --load-source prometheus (key cluster.prometheusURL).")
    var prometheusURL: String?

    @OptionGroup var server: ServerOptions

    func run() async throws {
        let reader = try await server.reader([
            "store": store.map { .string($0) }, "cluster.loadSource": loadSource.map { .string($0) },
            "cluster.prometheusURL": prometheusURL.map { .string($0) },
        ])
        try await RoleRunner.run(reader: reader) { configuration, logger in
            (try await Roles.directory(configuration, logger: logger), [])
        }
    }
}
