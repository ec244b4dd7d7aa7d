public import PlazaCore
public import PlazaProtocol
public import PlazaStore
public import PlazaMetrics
public import Logging

/// The rooms this node hosts, loaded on first use (under their claim) and unloaded when idle.
///
/// `run()` owns the rooms' commit loops: each loaded room's `run()` is a child task of it, so no room outlives
/// the registry and none runs in an unstructured task.
public actor RoomRegistry {
    private var rooms: [RoomName: Room] = [:]
    private var loading: [RoomName: Task<Room, any Error>] = [:]
    private let store: any ChatStore
    private let claims: any RoomClaims
    private let configuration: RoomsConfiguration
    private let space: SpaceConfiguration
    private let arrivals: Arrivals
    private let conferences: ConferenceSetup?
    private let metrics: PlazaMetrics
    private let clock: any RoomClock
    private let logger: Logger
    /// Rooms loaded since `run()` last looked, whose commit loops it starts.
    private let started: AsyncStream<Room>
    private let startedContinuation: AsyncStream<Room>.Continuation
    /// While draining the node takes no new rooms; rooms it has keep running.
    public private(set) var draining = false

    public init(
        store: any ChatStore, claims: any RoomClaims, configuration: RoomsConfiguration, space: SpaceConfiguration,
        arrivals: Arrivals, conferences: ConferenceSetup? = nil, metrics: PlazaMetrics, clock: any RoomClock = SystemClock(),
        logger: Logger
    ) {
        (self.store, self.claims, self.configuration, self.space, self.conferences) = (store, claims, configuration, space, conferences)
        (self.arrivals, self.metrics, self.clock, self.logger) = (arrivals, metrics, clock, logger)
        (started, startedContinuation) = AsyncStream.makeStream()
    }

    /// Runs every loaded room's commit loop until `close()`; a room's loop ends when the room is unloaded.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for await room in started { group.addTask { await room.run() } }
        }
    }

    /// Stops taking rooms and retires the loaded ones, so `run()` returns. Call it once their connections are
    /// closed (`Room.closeAll`, which waits for every accepted message to be committed).
    public func close() async {
        draining = true
        startedContinuation.finish()
        for room in rooms.values { await room.retire() }
    }

    /// The room's live instance, loading it if needed.
    public func room(_ name: RoomName) async throws(Refusal) -> Room {
        if let room = rooms[name], !room.isRetired { return room }
        rooms[name] = nil
        if let task = loading[name] {
            do { return try await task.value } catch { throw Self.refusal(error) }
        }
        guard !draining else { throw .draining }
        guard rooms.count + loading.count < configuration.roomsPerNode else { throw .nodeFull }
        let task = Task { [store, claims, configuration, space, arrivals, conferences, metrics, clock, logger] in
            let claim = try await claims.claim(name)
            guard claim != .elsewhere else { throw Refusal.moved }
            return try await Room.load(
                name: name, store: store, fence: claim.fence, configuration: configuration, space: space, arrivals: arrivals,
                conferences: conferences, metrics: metrics, clock: clock, logger: logger)
        }
        loading[name] = task
        defer { loading[name] = nil }
        do {
            let room = try await task.value
            rooms[name] = room
            startedContinuation.yield(room)
            metrics.rooms.set(Double(rooms.count))
            return room
        } catch {
            if (error as? Refusal) != .moved {
                logger.error("could not load room", metadata: ["room": "\(name)", "error": "\(error)"])
            }
            throw Self.refusal(error)
        }
    }

    private static func refusal(_ error: any Error) -> Refusal {
        (error as? Refusal) ?? .storeUnavailable("the room's history could not be loaded")
    }

    /// Whether a join for `name` can be admitted now, without loading the room: the room if it is loaded.
    public func canHost(_ name: RoomName) -> Result<Room?, Refusal> {
        if let room = rooms[name], !room.isRetired { return .success(room) }
        if draining { return .failure(.draining) }
        if rooms.count + loading.count >= configuration.roomsPerNode { return .failure(.nodeFull) }
        return .success(nil)
    }

    public var loadedRooms: [Room] { Array(rooms.values) }

    /// Rooms the placements say are no longer this node's: their clients are sent to the new home.
    public func lost(_ names: [RoomName]) async {
        for name in names {
            guard let room = rooms.removeValue(forKey: name) else { continue }
            logger.warning("lost the placement of a room; its clients are sent to the new home", metadata: ["room": "\(name)"])
            await room.moveAway()
        }
        metrics.rooms.set(Double(rooms.count))
    }

    public func setDraining(_ value: Bool) { draining = value }

    /// Unloads rooms that have been empty for `rooms.idleUnload`.
    public func sweep() async {
        let idle = Duration.seconds(configuration.idleUnload)
        for (name, room) in rooms where await room.retireIfIdle(for: idle) {
            if rooms[name] === room { rooms[name] = nil }
            // Emptied: give the placement up so the next join places the room afresh.
            await claims.release(name, room.fence.map { .fenced($0) } ?? .alone)
        }
        metrics.rooms.set(Double(rooms.count))
    }
}
