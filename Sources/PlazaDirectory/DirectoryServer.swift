// The directory: a fleet's join and admin API (`plaza directory`, and `plaza serve --pools`), stateless over
// the shared store so any number can run behind a load balancer. Joins are placed by `JoinAllocator`; the
// fleet's operators read and steer the autoscaler through `FleetRoutes`; recordings are assigned by
// `RecordingRoutes`; node load may come from Prometheus (`PrometheusLoadSource`).

public import PlazaStore
public import PlazaTransport
public import PlazaPlacement
public import ServiceLifecycle
public import NIOCore
public import PlazaTLS
import PlazaCore
import PlazaProtocol
import Hummingbird
import Logging

/// A directory: no rooms here; join places each room on a room server of the fleet.
public final class DirectoryServer: Sendable {
    public let configuration: DirectoryConfiguration
    public let api: APIContext
    public let store: any SharedStore
    public let prometheus: PrometheusLoadSource?
    /// The room servers' origins, which the web client served here connects to.
    let nodeOrigins: NodeOrigins
    /// The media bridge's URL browsers reach (`media.janusURL`), which the web client's page may connect to.
    let bridge: String?

    public init(configuration: DirectoryConfiguration, api: APIContext, store: any SharedStore, bridge: String? = nil) {
        (self.configuration, self.api, self.store, self.bridge) = (configuration, api, store, bridge)
        nodeOrigins = NodeOrigins(registry: store)
        prometheus = configuration.loadSource == .prometheus
            ? configuration.prometheusURL.map { PrometheusLoadSource(configuration: configuration, baseURL: $0, logger: api.logger) }
            : nil
    }

    /// The rules placement applies.
    public var policy: PlacementPolicy {
        PlacementPolicy(
            heartbeatTTL: Int64(configuration.heartbeatTTL * 1000), participantsPerNewRoom: configuration.participantsPerNewRoom)
    }

    /// The HTTP server, and the Prometheus reader when load comes from there.
    public func services(
        https: CertificateService? = nil, onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> [any Service] {
        HTTPServer.services(
            router: router(), http: api.http, webSocket: nil, https: https, metrics: api.metrics, logger: api.logger,
            onServerRunning: onServerRunning) + (prometheus.map { [$0] } ?? [])
    }

    func router() -> Router<PlazaRequestContext> {
        let router = HTTPServer.router(http: api.http, logger: api.logger, bridge: bridge) { [nodeOrigins] in await nodeOrigins.current() }
        let allocator = JoinAllocator(
            placements: store, media: store, policy: policy, leaseTTL: .seconds(fromConfiguration: configuration.leaseTTL),
            configuration: configuration.media, prometheus: prometheus)
        APIRoutes(api: api, allocator: allocator) { [store] in
            // A directory without its store can neither place rooms nor serve history.
            try await storeCall { try await store.ping() }
        }.register(on: router)
        let group = router.group("api/v1")
        FleetRoutes(directory: self).register(on: group)
        RecordingRoutes(directory: self).register(on: group)
        return router
    }
}
