import PlazaCore
import PlazaStore
import Logging

/// The rooms this node hosts, loaded on first use and unloaded when idle.
actor RoomRegistry {
    private var rooms: [RoomName: Room] = [:]
    private var loading: [RoomName: Task<Room, any Error>] = [:]
    private let store: any PlazaStore
    private let configuration: PlazaConfiguration
    private let metrics: PlazaMetrics
    private let logger: Logger
    private let membership: ClusterMembership?
    /// While draining the node takes no new rooms; rooms it has keep running.
    private(set) var draining = false

    enum LookupError: Error {
        case nodeFull
        case draining
        /// The room's placement is another node's.
        case moved
        case store(any Error)
    }

    init(store: any PlazaStore, membership: ClusterMembership?, configuration: PlazaConfiguration, metrics: PlazaMetrics, logger: Logger) {
        self.store = store
        self.membership = membership
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
    }

    /// The room's live instance, loading it if needed.
    func room(_ name: RoomName) async throws(LookupError) -> Room {
        if let room = rooms[name], !room.isRetired { return room }
        rooms[name] = nil
        if let task = loading[name] {
            do { return try await task.value } catch { throw .store(error) }
        }
        guard !draining else { throw .draining }
        guard rooms.count + loading.count < configuration.limits.roomsPerNode else { throw .nodeFull }
        let task = Task { [store, membership, configuration, metrics, logger] in
            var fence: Fence?
            if let membership {
                // On a fleet node a room is only taken up under its placement.
                guard let epoch = try await membership.placements.claim(
                    name, node: membership.registration.id, leaseTTL: membership.leaseMilliseconds, now: wallClockMilliseconds())
                else { throw LookupError.moved }
                fence = Fence(placements: membership.placements, node: membership.registration.id, epoch: epoch)
            }
            return try await Room.load(name: name, store: store, fence: fence, configuration: configuration, metrics: metrics, logger: logger)
        }
        loading[name] = task
        defer { loading[name] = nil }
        do {
            let room = try await task.value
            rooms[name] = room
            metrics.rooms.set(Double(rooms.count))
            return room
        } catch LookupError.moved {
            throw .moved
        } catch {
            logger.error("could not load room", metadata: ["room": "\(name)", "error": "\(error)"])
            throw .store(error)
        }
    }

    /// Whether a join for `name` can be admitted now, without loading the room.
    func canHost(_ name: RoomName) -> Result<Room?, LookupError> {
        if let room = rooms[name], !room.isRetired { return .success(room) }
        if draining { return .failure(.draining) }
        if rooms.count + loading.count >= configuration.limits.roomsPerNode { return .failure(.nodeFull) }
        return .success(nil)
    }

    var loadedRooms: [Room] { Array(rooms.values) }

    /// Rooms the placement store says are no longer this node's: their clients are sent to the new home.
    func lost(_ names: [RoomName]) async {
        for name in names {
            guard let room = rooms.removeValue(forKey: name) else { continue }
            logger.warning("lost the placement of a room; its clients are sent to the new home", metadata: ["room": "\(name)"])
            await room.moveAway()
        }
        metrics.rooms.set(Double(rooms.count))
    }

    func setDraining(_ value: Bool) { draining = value }

    /// Unloads rooms that have been empty for `rooms.idleUnload`.
    func sweep(now: ContinuousClock.Instant) async {
        let idle = Duration.milliseconds(Int64(configuration.rooms.idleUnload * 1000))
        for (name, room) in rooms where await room.retireIfIdle(for: idle, now: now) {
            if rooms[name] === room { rooms[name] = nil }
            if let fence = room.fence {
                // Emptied: give the placement up so the next join places the room afresh.
                try? await fence.placements.release(name, node: fence.node, epoch: fence.epoch)
            }
        }
        metrics.rooms.set(Double(rooms.count))
    }
}
