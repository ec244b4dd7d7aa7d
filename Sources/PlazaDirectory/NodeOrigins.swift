import PlazaStore
import PlazaTransport

/// The origins of the fleet's registered instances, for the web client's `connect-src`: its page comes from the
/// directory, its WebSocket goes to a room server. Read from the registry at most once per `refresh`; a failed
/// read keeps the last list.
actor NodeOrigins {
    private let registry: any NodeRegistry
    private let refresh: Duration
    private var origins: [String] = []
    private var readAt: ContinuousClock.Instant?

    init(registry: any NodeRegistry, refresh: Duration = .seconds(5)) {
        (self.registry, self.refresh) = (registry, refresh)
    }

    func current() async -> [String] {
        let now = ContinuousClock.now
        // An empty list is read again at once: a fleet that is starting has no instance registered yet.
        if let readAt, now - readAt < refresh, !origins.isEmpty { return origins }
        readAt = now
        if let nodes = try? await registry.nodes() {
            origins = Set(nodes.compactMap { connectSource(forBaseURL: $0.registration.url) }).sorted()
        }
        return origins
    }
}
