// The `plaza` command line: one subcommand per role (`serve`, `node`, `directory`, `autoscaler`, `agent`) and tool
// (`fleet`, `bench`). Each reads its configuration through `ConfigurationLoader` and runs what `PlazaRoles` puts
// together.

import ArgumentParser

@main
struct Plaza: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plaza",
        abstract: "Real-time meeting spaces: rooms, chat, presence, positions and signalling over WebSocket.",
        subcommands: [
            Serve.self, Node.self, DirectoryCommand.self, AutoscalerCommand.self, AgentCommand.self, JanusCommand.self, FleetCommand.self, SecretsCommand.self,
            SimulateCommand.self, Bench.self,
        ]
    )
}

/// A command that could not do what it was asked: printed as one line ("Error: …"), without the usage, exit 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
}
