import ArgumentParser
import Foundation
import Logging
import PlazaFleet
import PlazaFleetModel
import PlazaRoles
import PlazaStore
import ServiceLifecycle

/// `plaza janus`: a Janus with the configuration Plaza needs, registered with the fleet by its agent.
struct JanusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "janus",
        abstract: "Run Janus (Debian's janus) configured for Plaza, and register it with the fleet as a media bridge.",
        discussion: """
            Writes Janus's configuration (VideoRoom only, stored-token authentication, the WebSocket API for browsers \
            on --port, the HTTP and Admin APIs on free loopback ports), starts it, and runs the agent of \
            'plaza agent --kind janus' beside it. Stops Janus when stopped (SIGTERM), and stops when Janus exits. \
            media.janusAdminSecret (PLAZA_MEDIA_JANUS_ADMIN_SECRET) is Janus's admin secret, the one the room \
            servers create conferences with; a 'janus' pool of 'plaza serve --pools' runs this with its own.
            """
    )

    @Option(help: "The fleet's store, postgres://… or sqlite:<path> (key store).") var store: String?
    @Option(name: .customLong("instance-id"), help: "The instance's id in its pool (key instanceID, PLAZA_INSTANCE_ID).") var instanceID: String?
    @Option(help: "Interface of the WebSocket API for browsers (key janus.host; default 127.0.0.1).") var host: String?
    @Option(help: "Port of the WebSocket API for browsers; 0 picks a free one (key janus.port; default 8188).") var port: Int?
    @Option(name: .customLong("public-url"), help: "Where browsers reach the WebSocket API, ws(s)://… (key agent.publicURL; default ws://<host>:<port>).") var publicURL: String?
    @Option(help: "Region (key cluster.region; default 'default').") var region: String?
    @Option(help: "Participants this bridge is sized for (key cluster.capacity; default 500).") var capacity: Int?
    @Option(name: .customLong("tls-cert"), help: "Serve wss with this PEM certificate chain (key tls.certificate).") var tlsCertificate: String?
    @Option(name: .customLong("tls-key"), help: "The PEM private key of --tls-cert (key tls.key).") var tlsKey: String?
    @Option(help: "Seconds between the agent's polls (key agent.interval; default 5).") var interval: Double?
    @Option(name: .customLong("admin-host"), help: "Interface of Janus's Admin API (key janus.adminHost; default 127.0.0.1).") var adminHost: String?
    @Option(name: .customLong("internal-api"), help: "Where room servers reach the Admin API, registered as the bridge's control URL (key agent.internalAPI; default http://<admin-host>:<port>/admin).") var internalAPI: String?
    @OptionGroup var process: ProcessOptions

    func run() async throws {
        let reader = try await process.reader([
            "store": store.map { .string($0) }, "instanceID": instanceID.map { .string($0) }, "janus.host": host.map { .string($0) },
            "janus.port": port.map { .int($0) }, "agent.publicURL": publicURL.map { .string($0) },
            "cluster.region": region.map { .string($0) }, "cluster.capacity": capacity.map { .int($0) },
            "tls.certificate": tlsCertificate.map { .string($0) }, "tls.key": tlsKey.map { .string($0) },
            "agent.interval": interval.map { .double($0) }, "janus.adminHost": adminHost.map { .string($0) },
            "agent.internalAPI": internalAPI.map { .string($0) },
        ])
        let configuration = PlazaConfiguration(reader: reader)
        try validated(configuration.janus.validate)
        guard let storeURL = configuration.store else { throw ValidationError("--store is needed: postgres://… (or sqlite:<path> on one machine)") }
        guard let id = configuration.agent.instanceID else { throw ValidationError("--instance-id (or PLAZA_INSTANCE_ID) is needed") }
        guard let adminSecret = configuration.roomServer.janus.adminSecret else {
            throw ValidationError("media.janusAdminSecret (PLAZA_MEDIA_JANUS_ADMIN_SECRET) is needed: the room servers create conferences with it")
        }
        let tls = configuration.http.tls
        guard (tls.certificate == nil) == (tls.key == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        if configuration.agent.publicURL == nil, tls.certificate != nil || JanusProcess.isWildcard(configuration.janus.host) {
            // Its own address would be loopback, or a name the certificate does not carry.
            throw ValidationError("--public-url is needed with --tls-cert or a wildcard --host: where browsers reach this Janus")
        }
        bootstrapLogging(level: configuration.logLevel)
        let logger = Logger(label: "plaza.janus")
        let settings = try configuration.janus.settings(
            instance: id, adminSecret: adminSecret, roomAdminKey: configuration.roomServer.janus.roomAdminKey,
            certificate: tls.certificate, key: tls.key)
        let janus: JanusProcess
        do { janus = try await JanusProcess.start(settings) } catch { throw CommandFailure(description: "\(error)") }
        var agent = configuration.agent
        agent.setKind(NodeKind.janus.rawValue)
        // The room servers drive Janus at the Admin API's URL the agent registers: another machine's address
        // when `agent.internalAPI` says so.
        agent.api = janus.apiURL.absoluteString
        agent.internalAPI = agent.internalAPI ?? janus.adminURL.absoluteString
        agent.publicURL = agent.publicURL ?? settings.webSocketURL
        logger.notice(
            "Janus is running", metadata: ["pid": "\(janus.pid)", "url": "\(agent.publicURL ?? "")", "folder": "\(settings.folder)"])
        do {
            try validated(agent.validate)
            let registry = try await SharedStores.open(storeURL, timeout: .seconds(fromConfiguration: configuration.storeTimeout), logger: logger)
            let mediaAgent = MediaAgent(
                kind: .janus, api: janus.apiURL, internalAPI: agent.internalAPIURL, adminSecret: adminSecret,
                roomAdminKey: settings.roomAdminKey, registration: agent.registration(id: NodeID(id)), store: registry,
                interval: .seconds(agent.interval), logger: logger)
            do {
                try await ServiceGroup(
                    configuration: .init(
                        services: [mediaAgent, JanusWatch(janus: janus)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
                ).run()
            } catch {
                try? await registry.close()
                throw error
            }
            try? await registry.close()
        } catch {
            await janus.stop()
            throw CommandFailure(description: "\(error)")
        }
        await janus.stop()
        // A folder of its own in the temporary folder goes with it (kept after a crash, for its log).
        if configuration.janus.folder == nil { try? FileManager.default.removeItem(atPath: settings.folder) }
        logger.notice("Janus stopped")
    }
}

/// Ends `plaza janus` with an error when its Janus exits on its own, so its pool replaces the instance.
struct JanusWatch: Service {
    let janus: JanusProcess

    func run() async throws {
        await cancelWhenGracefulShutdown { await janus.exited() }
        guard !janus.isRunning else { return }
        // Its pool stops an instance with SIGTERM to the whole process group: Janus may be first to go.
        try? await Task.sleep(for: .seconds(1))
        guard !Task.isShuttingDownGracefully, !Task.isCancelled else { return }
        let log = "\(janus.settings.folder)/janus.log"
        let tail = (try? String(contentsOfFile: log, encoding: .utf8)).map { String($0.suffix(1_500)) } ?? ""
        throw CommandFailure(description: "Janus (pid \(janus.pid)) exited; the end of \(log):\n\(tail)")
    }
}
