public import ServiceLifecycle
public import PlazaStore
public import PlazaFleetModel
import PlazaMetrics
import Logging
import Foundation

/// A fleet node's registration and heartbeat (`plaza node`): every `cluster.heartbeatInterval` it reports its
/// load and state to the registry and renews the leases of the rooms it hosts; rooms whose placement moved
/// elsewhere (the node was paused or cut off past its lease) are closed here with 4003 so their clients find the
/// new home. When the autoscaler picked the node for scale-in, the answer says so and the node starts draining.
public struct HeartbeatService: Service {
    let server: RoomServer
    let registry: any NodeRegistry
    let placements: any RoomPlacements
    let registration: NodeRegistration
    /// `cluster.leaseTTL`
    let leaseTTL: Duration
    /// `cluster.heartbeatInterval`
    let interval: Duration

    public init(
        server: RoomServer, registry: any NodeRegistry, placements: any RoomPlacements, registration: NodeRegistration,
        leaseTTL: Duration, interval: Duration
    ) {
        (self.server, self.registry, self.placements) = (server, registry, placements)
        (self.registration, self.leaseTTL, self.interval) = (registration, leaseTTL, interval)
    }

    public func run() async throws {
        let (server, registration, placements) = (self.server, self.registration, self.placements)
        let logger = server.logger
        try await registry.register(registration, now: wallClockMilliseconds())
        logger.notice("registered with the fleet", metadata: ["node": "\(registration.id)", "url": "\(registration.url)"])
        await cancelWhenGracefulShutdown {
            var load = LoadSampler(metrics: server.metrics)
            let cpu = server.metrics.fleetNode(id: registration.id.rawValue, region: registration.region)
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
                do {
                    let answer = try await placements.heartbeat(
                        node: registration.id, report: report, rooms: rooms.map(\.name), leaseTTL: leaseTTL.milliseconds,
                        now: wallClockMilliseconds())
                    if !answer.lost.isEmpty { await server.registry.lost(answer.lost) }
                    if answer.drain, await server.isReady() {
                        logger.notice("draining: the fleet chose this node for scale-in; its rooms keep running")
                        await server.setDraining(true)
                    }
                } catch where !Task.isCancelled {
                    logger.error("heartbeat failed", metadata: ["error": "\(error)"])
                } catch {
                    break  // shutting down: the call in flight was cancelled
                }
                do { try await Task.sleep(for: self.interval) } catch { break }
            }
        }
    }
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
