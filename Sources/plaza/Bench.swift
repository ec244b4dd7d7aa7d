import ArgumentParser

/// `plaza bench`: load generators over real WebSockets.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a running Plaza with real WebSocket clients.",
        subcommands: []
    )
}
