import ArgumentParser

@main
struct Plaza: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plaza",
        abstract: "Real-time meeting spaces: rooms, chat, presence, positions and signalling over WebSocket.",
        subcommands: [Serve.self, Node.self, DirectoryCommand.self, AutoscalerCommand.self, AgentCommand.self, FleetCommand.self, Bench.self]
    )
}
