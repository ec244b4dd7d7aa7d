import ArgumentParser
import Configuration
import Foundation
import Logging
import PlazaFleet
import PlazaRoles
import ServiceLifecycle

/// `plaza autoscaler`: the fleet's reconcile loop, leader-elected over the shared store.
struct AutoscalerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autoscaler",
        abstract: "Keep every pool of the pool file at its desired capacity: decide by policy, launch, drain, terminate.",
        discussion: """
            Run two or more for availability: one leads (a lease in the store), the others stand by. The pool file \
            format and its annotated sample are in docs/autoscaling.md and deploy/autoscaling/pools.json. \
            Configuration: these flags, then PLAZA_* environment variables, then --config, then the defaults.
            """
    )

    @Option(help: "The shared store, postgres://user:password@host:5432/database, or sqlite:<path> for the processes of one machine (key store).")
    var store: String?

    @Option(help: "The pool file (key autoscaler.pools).")
    var pools: String?

    @Option(help: "This autoscaler's name in the lease (key autoscaler.id; default host name and pid).")
    var id: String?

    @Option(name: .customLong("lease-ttl"), help: "Seconds a leader's lease lasts unrenewed (key autoscaler.leaseTTL; default 15).")
    var leaseTTL: Double?

    @Option(name: .customLong("state-dir"), help: "Where the local provider keeps pid files and logs (key autoscaler.stateDirectory; default ./plaza-data/fleet).")
    var stateDirectory: String?

    @OptionGroup var process: ProcessOptions

    func run() async throws {
        let reader = try await process.reader([
            "store": store.map { .string($0) }, "autoscaler.pools": pools.map { .string($0) },
            "autoscaler.id": id.map { .string($0) }, "autoscaler.leaseTTL": leaseTTL.map { .double($0) },
            "autoscaler.stateDirectory": stateDirectory.map { .string($0) },
        ])
        let configuration = PlazaConfiguration(reader: reader)
        let autoscaling = configuration.autoscaler
        guard let storeURL = configuration.store else { throw ValidationError("--store is needed: postgres://… (or sqlite:<path> on one machine)") }
        guard let poolPath = autoscaling.pools else { throw ValidationError("--pools is needed: the pool file") }
        try validated(autoscaling.validate)
        let file: PoolFile
        do { file = try PoolFile.load(path: poolPath) } catch { throw ValidationError(error.description) }
        bootstrapLogging(level: configuration.logLevel)
        let logger = Logger(label: "plaza.autoscaler")
        let stateDirectory = URL(fileURLWithPath: autoscaling.stateDirectory)
        let registry = try await SharedStores.open(storeURL, timeout: .seconds(fromConfiguration: configuration.storeTimeout), logger: logger)
        let autoscaler = Autoscaler(
            pools: file.pools, store: registry, holder: autoscaling.holder, leaseTTL: .seconds(autoscaling.leaseTTL),
            retention: .seconds(autoscaling.retention), logger: logger
        ) { pool in
            try Providers.make(for: pool, stateDirectory: stateDirectory, store: storeURL)
        }
        logger.notice(
            "autoscaler started",
            metadata: ["holder": "\(autoscaling.holder)", "pools": "\(file.pools.map(\.name.rawValue).joined(separator: ","))"])
        try await ServiceGroup(
            configuration: .init(services: [autoscaler], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        ).run()
        try await registry.close()
    }
}
