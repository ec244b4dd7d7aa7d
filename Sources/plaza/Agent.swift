import ArgumentParser
import Foundation
import Logging
import PlazaFleet
import PlazaRoles
import PlazaFleetModel
import PlazaStore
import ServiceLifecycle

/// `plaza agent`: the sidecar beside a Jitsi Videobridge or a Jibri recorder.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Register a media bridge or recorder with the fleet, report its load and health, carry out its drain.",
        discussion: """
            --kind jvb polls the bridge's private REST interface (/colibri/stats, /about/health; enable it with \
            videobridge.rest.shutdown.enabled for the drain); --kind jibri polls /jibri/api/v1.0/health on Jibri's \
            HTTP API and drains through its internal API; --kind janus polls Janus's /info and its admin API's \
            list_sessions; --kind custom polls --api, a health URL answering 2xx (its JSON body may \
            carry participants, rooms, connections, cpu, draining). The shapes covered are in docs/autoscaling.md. \
            The instance id defaults to PLAZA_INSTANCE_ID, which the autoscaler's providers set.
            """
    )

    @Option(help: "jvb, jibri, janus or custom (key agent.kind).") var kind: String?
    @Option(help: "The fleet's store, postgres://… or sqlite:<path> (key store).") var store: String?
    @Option(name: .customLong("instance-id"), help: "The instance's id in its pool (key instanceID, PLAZA_INSTANCE_ID).") var instanceID: String?
    @Option(help: "The server's local API (key agent.api; default http://127.0.0.1:8080 for jvb, http://127.0.0.1:2222 for jibri, http://127.0.0.1:8088/janus for janus; required for custom: its health URL).") var api: String?
    @Option(name: .customLong("internal-api"), help: "Jibri's internal API, for graceful shutdown (default http://127.0.0.1:3333); Janus's admin API, for its sessions (default http://127.0.0.1:7088/admin) (key agent.internalAPI).") var internalAPI: String?
    @Option(name: .customLong("call-base-url"), help: "For a recorder: the meeting base URL Jibri joins (callUrlInfo.baseUrl; the room is the callName) (key agent.callBaseURL).") var callBaseURL: String?
    @Option(name: .customLong("public-url"), help: "Where clients reach this bridge (its shard's URL); for a recorder, any name (key agent.publicURL).") var publicURL: String?
    @Option(help: "Region (key cluster.region; default 'default').") var region: String?
    @Option(help: "Participants this bridge is sized for (key cluster.capacity; default 500 for a bridge or custom server; a recorder always takes 1).") var capacity: Int?
    @Option(name: .customLong("admin-secret"), help: "Janus's admin_secret (key agent.adminSecret, PLAZA_AGENT_ADMIN_SECRET).") var adminSecret: String?
    @Option(help: "Seconds between polls (key agent.interval; default 5).") var interval: Double?
    @OptionGroup var process: ProcessOptions

    func run() async throws {
        let reader = try await process.reader([
            "agent.kind": kind.map { .string($0) }, "store": store.map { .string($0) },
            "instanceID": instanceID.map { .string($0) }, "agent.api": api.map { .string($0) },
            "agent.internalAPI": internalAPI.map { .string($0) }, "agent.callBaseURL": callBaseURL.map { .string($0) },
            "agent.publicURL": publicURL.map { .string($0) }, "cluster.region": region.map { .string($0) },
            "cluster.capacity": capacity.map { .int($0) }, "agent.adminSecret": adminSecret.map { .string($0) },
            "agent.interval": interval.map { .double($0) },
        ])
        let configuration = PlazaConfiguration(reader: reader)
        let agent = configuration.agent
        if agent.kind == .custom, agent.api == nil { throw ValidationError("--api is needed for --kind custom: its health URL") }
        try validated(agent.validate)
        guard let storeURL = configuration.store else { throw ValidationError("--store is needed: postgres://… (or sqlite:<path> on one machine)") }
        guard let kind = agent.kind, let id = agent.instanceID, let apiURL = agent.apiURL else { return }
        bootstrapLogging(level: configuration.logLevel)
        let logger = Logger(label: "plaza.agent")
        let registry = try await SharedStores.open(storeURL, timeout: .seconds(fromConfiguration: configuration.storeTimeout), logger: logger)
        let mediaAgent = MediaAgent(
            kind: kind, api: apiURL, internalAPI: agent.internalAPIURL, adminSecret: agent.adminSecret,
            roomAdminKey: configuration.roomServer.janus.roomAdminKey, callBaseURL: agent.callBaseURL,
            registration: agent.registration(id: NodeID(id)), store: registry, interval: .seconds(agent.interval), logger: logger)
        try await ServiceGroup(
            configuration: .init(services: [mediaAgent], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        ).run()
        try await registry.close()
    }
}
