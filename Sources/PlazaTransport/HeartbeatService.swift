public import ServiceLifecycle
public import PlazaStore
public import PlazaFleetModel
import PlazaMetrics
import Logging
import Foundation
import Synchronization

/// A fleet node's registration and heartbeat (`plaza node`): every `cluster.heartbeatInterval` it reports its
/// load and state to the registry and renews the leases of the rooms it hosts; rooms whose placement moved
/// elsewhere (the node was paused or cut off past its lease) are closed here with 4003 so their clients find the
/// new home. When the autoscaler picked the node for scale-in, the answer says so and the node starts draining.
/// When the heartbeat cannot reach the store, the node gives its rooms up (4003) before their leases end, unless
/// its peers say the store is down for the whole fleet (`LeaseWatch`). On a graceful stop the node leaves the
/// registry first.
public struct HeartbeatService: Service {
    let server: RoomServer
    let registry: any NodeRegistry
    let placements: any RoomPlacements
    let registration: NodeRegistration
    /// `cluster.leaseTTL`
    let leaseTTL: Duration
    /// `cluster.heartbeatInterval`
    let interval: Duration
    /// `cluster.heartbeatTTL`: a directory places a room afresh once its node has not reported for this long,
    /// lease or not; a node cut off must be done with its rooms by then too.
    let heartbeatTTL: Duration

    /// Set once the HTTP server accepts connections: a node registers only then, so no join is sent to a node
    /// that would refuse the connection.
    let listening: ListeningFlag?

    public init(
        server: RoomServer, registry: any NodeRegistry, placements: any RoomPlacements, registration: NodeRegistration,
        leaseTTL: Duration, interval: Duration, heartbeatTTL: Duration, listening: ListeningFlag? = nil
    ) {
        (self.server, self.registry, self.placements, self.listening) = (server, registry, placements, listening)
        (self.registration, self.leaseTTL, self.interval, self.heartbeatTTL) = (registration, leaseTTL, interval, heartbeatTTL)
    }

    public func run() async throws {
        let logger = server.logger
        while let listening, !listening.isSet { try await Task.sleep(for: .milliseconds(10)) }
        try await registry.register(registration, now: registry.fleetTime())
        logger.notice("registered with the fleet", metadata: ["node": "\(registration.id)", "url": "\(registration.url)"])
        let state = SharedState(watch: LeaseWatch(leaseTTL: min(leaseTTL, heartbeatTTL), margin: interval, startedAt: .now))
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await beat(state) }
                group.addTask { await watchLeases(state) }
            }
        }
        // A graceful stop: leave the registry before the room server closes its sockets (services stop in reverse
        // order), so directories send no more joins here and place this node's rooms afresh at once. A chat
        // write still in flight here is then refused by its fence, and its sender sends it to the new home.
        await server.setDraining(true)
        do {
            try await registry.forget(node: registration.id)
            logger.notice("left the fleet's registry; closing connections", metadata: ["node": "\(registration.id)"])
        } catch {
            logger.warning(
                "could not leave the fleet's registry; directories send joins here until the leases end",
                metadata: ["error": "\(error)"])
        }
    }

    /// What the heartbeat and the lease watch share.
    private final class SharedState: Sendable {
        struct Values {
            var watch: LeaseWatch
            /// The public URLs of the other room servers, as last read from the registry.
            var peers: [String] = []
            /// When (fleet milliseconds) the first heartbeat of the current failures was sent; nil while they succeed.
            var firstFailedAt: Int64?
        }

        let values: Mutex<Values>

        init(watch: LeaseWatch) { values = Mutex(Values(watch: watch)) }
    }

    /// Every `cluster.heartbeatInterval`: the report, the renewal of the rooms' leases, the rooms lost, and the
    /// registry's peers now and then.
    private func beat(_ state: SharedState) async {
        let logger = server.logger
        var load = LoadSampler(metrics: server.metrics)
        let cpu = server.metrics.fleetNode(id: registration.id.rawValue, region: registration.region)
        /// When heartbeats started failing, for one error per outage and a notice when it ends.
        var failingSince: ContinuousClock.Instant?
        var lastPeerRead: ContinuousClock.Instant?
        while !Task.isCancelled {
            let rooms = await server.registry.loadedRooms
            var participants = 0
            var largest = 0
            for room in rooms {
                let count = await room.participantCount
                participants += count
                largest = max(largest, count)
            }
            let sample = load.sample()
            cpu.set(sample.cpu)
            let report = NodeReport(
                state: await server.isReady() ? .serving : .draining, connections: server.connectionCount,
                rooms: rooms.count, participants: participants, cpu: sample.cpu, bytesOutPerSecond: sample.bytesOutPerSecond,
                largestRoom: largest)
            let sent = ContinuousClock.now
            let sentAt = placements.fleetTime()
            do {
                let answer = try await placements.heartbeat(
                    node: registration.id, report: report, rooms: rooms.map(\.name), leaseTTL: leaseTTL.milliseconds,
                    now: sentAt)
                state.values.withLock { $0.watch.renewed(sentAt: sent) }
                if let since = failingSince {
                    logger.notice("the fleet's store is reachable again", metadata: ["unreachableFor": "\(ContinuousClock.now - since)"])
                    failingSince = nil
                }
                server.storeReached(StoreContact(reachedAt: sentAt, fleetResumedAt: answer.fleetResumedAt))
                state.values.withLock { $0.firstFailedAt = nil }
                if !answer.lost.isEmpty { await server.registry.lost(answer.lost) }
                if answer.drain, await server.isReady() {
                    logger.notice("draining: the fleet chose this node for scale-in; its rooms keep running")
                    await server.setDraining(true)
                }
                // Every ten seconds, and at every beat while no peer is known (the fleet is still starting).
                let knowsPeers = state.values.withLock { !$0.peers.isEmpty }
                if !knowsPeers || lastPeerRead.map({ ContinuousClock.now - $0 >= Self.peerReadInterval }) ?? true {
                    lastPeerRead = .now
                    await readPeers(into: state)
                }
            } catch where !Task.isCancelled {
                state.values.withLock { $0.firstFailedAt = $0.firstFailedAt ?? sentAt }
                if failingSince == nil {
                    failingSince = .now
                    logger.error(
                        "heartbeat failed: this node cannot reach the fleet's store; /readyz answers 503 until it can",
                        metadata: ["error": "\(error)"])
                }
                server.setStoreReachable(false)
            } catch {
                return  // shutting down: the call in flight was cancelled
            }
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }

    /// How often the list of peers is read again.
    static let peerReadInterval: Duration = .seconds(10)

    /// The other room servers that reported lately, which `watchLeases` asks when this node is cut off.
    private func readPeers(into state: SharedState) async {
        guard let nodes = try? await registry.nodes() else { return }
        let recent = registry.fleetTime() - 2 * leaseTTL.milliseconds
        let peers = nodes.filter {
            $0.registration.kind == .roomServer && $0.registration.id != registration.id && $0.reportedAt >= recent
        }.map(\.registration.url)
        state.values.withLock { $0.peers = peers }
    }

    /// Gives the rooms up before their leases end if the heartbeat cannot renew them, unless the node's peers
    /// say the store is down for the whole fleet (then nobody can take the rooms, and they go on here).
    private func watchLeases(_ state: SharedState) async {
        let logger = server.logger
        var keeping: PeerWitness.Verdict?
        while !Task.isCancelled {
            let (expiring, peers, failedAt) = state.values.withLock { ($0.watch.isExpiring(at: .now), $0.peers, $0.firstFailedAt) }
            let rooms = await server.registry.loadedRooms
            if expiring, !server.isStoreReachable, !rooms.isEmpty {
                // A second for the peers whatever the heartbeat interval: a busy peer answering late must not read as
                // no answer, which gives the rooms up. A peer's success counts only if its heartbeat was sent an
                // interval after this node's first failure.
                let verdict = await PeerWitness(peers: peers, timeout: .seconds(1), failedAt: failedAt, slack: interval.milliseconds).ask()
                let watch = state.values.withLock { $0.watch }
                switch watch.decision(verdict, fleetNow: placements.fleetTime(), heartbeatTTL: heartbeatTTL) {
                case .keep:
                    if keeping != verdict {
                        keeping = verdict
                        if verdict == .storeDownEverywhere {
                            logger.error(
                                "the fleet's store is down for every node that answered: keeping this node's rooms until it is back",
                                metadata: ["rooms": "\(rooms.count)", "peers": "\(peers.count)"])
                        } else {
                            logger.warning(
                                "the fleet's store is back for the other nodes: keeping this node's rooms while its own connection comes back",
                                metadata: ["rooms": "\(rooms.count)"])
                        }
                    }
                case .giveUp:
                    keeping = nil
                    logger.error(
                        "giving up this node's rooms: their leases end and it cannot renew them",
                        metadata: ["rooms": "\(rooms.count)", "peers": "\(verdict)"])
                    server.metrics.leasesGivenUp.increment(by: Int64(rooms.count))
                    await server.registry.lost(rooms.map(\.name))
                }
            } else if server.isStoreReachable {
                keeping = nil
            }
            do { try await Task.sleep(for: expiring ? interval : Self.watchTick) } catch { return }
        }
    }

    /// How often the watch looks at the leases' deadline.
    static let watchTick: Duration = .milliseconds(100)
}

/// The node's CPU use (of the whole machine) and outbound byte rate since the previous sample.
struct LoadSampler {
    let metrics: PlazaMetrics
    private var lastTicks: Double
    private var lastBytes: Int
    private var lastTime: ContinuousClock.Instant

    init(metrics: PlazaMetrics) {
        self.metrics = metrics
        lastTicks = Self.cpuTicks()
        lastBytes = metrics.outboundBytesTotal.load(ordering: .relaxed)
        lastTime = .now
    }

    /// The last figures, repeated while too little time has passed to measure new ones.
    private var last = (cpu: 0.0, bytesOutPerSecond: 0.0)

    /// Figures over at least `minimumInterval` seconds: a node's first report comes right after its start, and
    /// a few busy milliseconds of start-up measured alone read as a saturated CPU (the node would look full).
    static let minimumInterval = 0.5

    mutating func sample() -> (cpu: Double, bytesOutPerSecond: Double) {
        let now = ContinuousClock.now
        let ticks = Self.cpuTicks()
        let bytes = metrics.outboundBytesTotal.load(ordering: .relaxed)
        let elapsed = Double((now - lastTime).milliseconds) / 1000
        guard elapsed >= Self.minimumInterval else { return last }
        let cores = Double(max(ProcessInfo.processInfo.activeProcessorCount, 1))
        let cpu = min(1, max(0, (ticks - lastTicks) / 100 / elapsed / cores))
        let rate = Double(bytes - lastBytes) / elapsed
        (lastTicks, lastBytes, lastTime) = (ticks, bytes, now)
        last = (cpu, rate)
        return last
    }

    /// User plus system CPU time of this process, in clock ticks (1/100 s), from `/proc/self/stat`.
    static func cpuTicks() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        // After the command name: state is field 3, utime 14 and stime 15 (1-based over the whole line).
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return user + system
    }
}

/// Whether the HTTP server listens yet: set by its `onServerRunning`, read by the heartbeat before it registers.
public final class ListeningFlag: Sendable {
    private let value = Atomic<Bool>(false)

    public init() {}

    public var isSet: Bool { value.load(ordering: .acquiring) }

    public func set() { value.store(true, ordering: .releasing) }
}
