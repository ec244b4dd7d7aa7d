import ArgumentParser
import Configuration
import Logging
import PlazaFleet
import PlazaRoles
import PlazaTransport
import PlazaCore
import ServiceLifecycle
import Foundation
import NIOCore

/// `plaza serve`: every role in one process on the embedded SQLite store.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run Plaza in one process on the embedded store.",
        discussion: """
            Configuration comes from these flags, then PLAZA_* environment variables (key 'limits.frameBytes' is \
            PLAZA_LIMITS_FRAME_BYTES), then the JSON file given by --config (or PLAZA_CONFIG), then the defaults \
            listed in the README.
            """
    )

    @OptionGroup var server: ServerOptions

    @Option(name: .customLong("data-dir"), help: "Directory of the SQLite store and generated secrets (key dataDir; default ./plaza-data).")
    var dataDir: String?

    @Option(help: """
        A pool file of local pools (docs/autoscaling.md, deploy/autoscaling/local.json): this process becomes the \
        directory of room servers its autoscaler launches on this machine, all on the embedded store; a janus \
        pool launches Janus bridges for meeting zones and large bubbles ('plaza janus').
        """)
    var pools: String?

    func run() async throws {
        let reader = try await server.reader(["dataDir": dataDir.map { .string($0) }])
        // Only the flag: a configuration file shared with `plaza autoscaler` must not turn this into a fleet.
        guard let poolPath = pools else {
            try await RoleRunner.run(reader: reader) { configuration, logger in
                (try await Roles.serve(configuration, logger: logger), [])
            }
            return
        }
        let file: PoolFile
        do { file = try PoolFile.load(path: poolPath, defaultProvider: .local(LocalProviderSettings())) } catch {
            throw ValidationError(error.description)
        }
        for pool in file.pools {
            guard case .local = pool.provider else {
                throw ValidationError(
                    "pool '\(pool.name)': plaza serve --pools runs local pools only (they share its SQLite file and stop with it); "
                        + "run command and aws pools with plaza autoscaler")
            }
        }
        let configFile = server.process.config
        let bridges = file.pools.contains { $0.kind == .janus }
        try await RoleRunner.run(reader: reader) { configuration, logger in
            try validated(configuration.autoscaler.validate)
            if bridges, configuration.roomServer.janus.url != nil {
                throw ValidationError("a janus pool and media.janusURL: conferences go to the pool's bridges, so unset media.janusURL")
            }
            guard !configuration.http.tls.isEnabled else {
                // Its room servers listen on ports of their own and would each need the certificate.
                throw CommandFailure(
                    description: "plaza serve --pools does not serve HTTPS: put a TLS-terminating proxy in front of it, "
                        + "or run plaza serve without --pools (tls.* keys)")
            }
            let fleet = try await Roles.embeddedFleet(configuration, configFile: configFile, bridges: bridges, logger: logger)
            let stateDirectory = URL(fileURLWithPath: configuration.dataDirectory).appendingPathComponent("fleet")
            let autoscaler = Autoscaler(
                pools: file.pools, store: fleet.launch.store, holder: "serve-\(ProcessInfo.processInfo.hostName)-\(getpid())",
                leaseTTL: .seconds(configuration.autoscaler.leaseTTL), terminatesInstancesOnShutdown: true,
                retention: .seconds(configuration.autoscaler.retention), logger: logger
            ) { pool in
                try Providers.make(
                    for: pool, stateDirectory: stateDirectory, store: fleet.storeLocation, environment: fleet.instanceEnvironment)
            }
            return (fleet.launch, [autoscaler])
        }
    }
}

/// The options every role takes: the configuration file and the log level.
struct ProcessOptions: ParsableArguments {
    @Option(help: "A JSON configuration file.")
    var config: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (key log.level).")
    var logLevel: String?

    /// The configuration: these flags and the role's own `flags`, then the environment, then the file.
    func reader(_ flags: [String: ConfigContent?]) async throws -> ConfigReader {
        try await ConfigurationLoader.reader(flags: flags.merging(["log.level": logLevel.map { .string($0) }]) { $1 }, file: config)
    }
}

/// The options every server role takes; each names its configuration key.
struct ServerOptions: ParsableArguments {
    @Option(help: "Address to listen on (key server.host; default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free port (key server.port; default 8080).")
    var port: Int?

    @Option(help: "A map file for the space, see docs/maps.md (key space.map; default: the built-in map).")
    var map: String?

    @Option(
        name: .customLong("domain"),
        help: "Serve HTTPS for this name with a certificate obtained and renewed over ACME; repeat for more names (key tls.domains).")
    var domains: [String] = []

    @Option(name: .customLong("acme-directory"), help: "The ACME server's directory URL (key tls.acmeDirectory; default Let's Encrypt).")
    var acmeDirectory: String?

    @Option(name: .customLong("acme-email"), help: "The contact address of the ACME account (key tls.acmeEmail).")
    var acmeEmail: String?

    @Option(name: .customLong("tls-cert"), help: "Serve HTTPS with this PEM certificate chain, reloaded when it changes (key tls.certificate).")
    var tlsCertificate: String?

    @Option(name: .customLong("tls-key"), help: "The PEM private key of --tls-cert (key tls.key).")
    var tlsKey: String?

    @OptionGroup var process: ProcessOptions

    func reader(_ flags: [String: ConfigContent?]) async throws -> ConfigReader {
        let common: [String: ConfigContent?] = [
            "server.host": host.map { .string($0) }, "server.port": port.map { .int($0) }, "space.map": map.map { .string($0) },
            "tls.domains": domains.isEmpty ? nil : .stringArray(domains), "tls.acmeDirectory": acmeDirectory.map { .string($0) },
            "tls.acmeEmail": acmeEmail.map { .string($0) }, "tls.certificate": tlsCertificate.map { .string($0) },
            "tls.key": tlsKey.map { .string($0) },
        ]
        return try await process.reader(common.merging(flags) { $1 })
    }
}

/// Logs to standard error at `level` (`log.level`; info when it names no level).
func bootstrapLogging(level: String) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = Logger.Level(rawValue: level) ?? .info
        return handler
    }
}

/// Runs a serving role until SIGTERM/SIGINT: configuration checked, logging set up, then the role's server and
/// services (and `others` beside them); its store is closed once they stop.
enum RoleRunner {
    /// `launch` builds the role and any services that run beside it.
    static func run(
        reader: ConfigReader, launch: (PlazaConfiguration, Logger) async throws -> (Launch, [any Service])
    ) async throws {
        let configuration = PlazaConfiguration(reader: reader)
        try validated(configuration.validate)
        bootstrapLogging(level: configuration.logLevel)
        let logger = Logger(label: "plaza")
        // Every connection is a file: a service's default soft limit (1024 under systemd) runs out long before the
        // machine does, so take what the hard limit allows before anything listens.
        let files = OpenFiles.raiseToHardLimit()
        logger.notice(
            "open-file limit \(files.now)\(files.now > files.before ? " (raised from \(files.before))" : "")",
            metadata: ["limits.connections": "\(configuration.http.connections ?? OpenFiles.defaultConnectionLimit)"])
        let (role, others) = try await launch(configuration, logger)
        let group = role.serviceGroup(others: others, logger: logger) { channel in
            let port = channel.localAddress?.port ?? configuration.http.port
            if role.roomServer != nil, configuration.http.publicURL == nil {
                // One process serving everything: the address to open in a browser.
                let tls = configuration.http.tls
                let host = tls.domains.first ?? (configuration.http.host == "0.0.0.0" ? "localhost" : configuration.http.host)
                let scheme = tls.isEnabled ? "https" : "http"
                let shownPort = (tls.isEnabled && port == 443) || (!tls.isEnabled && port == 80) ? "" : ":\(port)"
                logger.notice("Plaza is running: open \(scheme)://\(host)\(shownPort)/", metadata: ["dataDir": "\(configuration.dataDirectory)"])
            } else {
                // A fleet's process: where it listens, and the address it gives out (not one to open).
                var metadata: Logger.Metadata = ["host": "\(configuration.http.host)", "port": "\(port)"]
                metadata["publicURL"] = configuration.http.publicURL.map { "\($0)" }
                logger.notice("Plaza is listening", metadata: metadata)
            }
        }
        do {
            try await group.run()
        } catch {
            // Whatever was opened is closed before the process says why it stops.
            try? await role.store.close()
            throw CommandFailure(description: StartFailure.describe(error, host: configuration.http.host, port: configuration.http.port))
        }
        try await role.store.close()
        logger.notice("Plaza stopped")
    }
}

/// Why a server could not start, in one line that says what to do.
enum StartFailure {
    static func describe(_ error: any Error, host: String, port: Int) -> String {
        guard let code = (error as? IOError)?.errnoCode else { return "Plaza stopped: \(error)" }
        switch code {
        case EADDRINUSE: return "port \(port) is in use; pick another with --port (key server.port)"
        case EACCES: return "port \(port) needs privileges: run with CAP_NET_BIND_SERVICE (see deploy/systemd) or pick a port above 1023 with --port"
        case EADDRNOTAVAIL: return "\(host) is not an address of this machine; pick another with --host (key server.host)"
        default: return "cannot listen on \(host):\(port): \(error)"
        }
    }
}

/// Runs a configuration check, turning its error into the command line's.
func validated(_ check: () throws(ConfigurationError) -> Void) throws {
    do { try check() } catch { throw ValidationError(error.description) }
}
