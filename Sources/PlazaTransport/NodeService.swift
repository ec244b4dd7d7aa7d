import ServiceLifecycle
import PlazaProtocol

/// A room server's background work: its rooms' commit loops, the interest-management tick, idle-room
/// sweeping and returning freed memory once many connections have closed; at shutdown, closing every
/// connection with "going away" after its queued frames (and every pending chat ack) are flushed, then retiring
/// the rooms.
///
/// Run it after the HTTP server in one `ServiceGroup`, which shuts services down in reverse order: this one
/// closes the sockets first, while the server is still up to flush them.
struct NodeService: Service {
    let server: RoomServer

    func run() async throws {
        let registry = server.registry
        let interval = Duration.nanoseconds(Int64(1_000_000_000 / server.space.tickHz))
        await withDiscardingTaskGroup { group in
            // The rooms' commit loops run until the rooms are retired, not until shutdown is asked for: accepted
            // messages are committed first.
            group.addTask { await registry.run() }
            group.addTask { await cancelWhenGracefulShutdown { await server.sweepLeftoverConferences() } }
            await cancelWhenGracefulShutdown {
                let clock = ContinuousClock()
                var next = clock.now + interval
                var lastSweep = clock.now
                var memory = MemoryTrim()
                while !Task.isCancelled {
                    do { try await Task.sleep(until: next, clock: clock) } catch { break }
                    next = next + interval
                    if next < clock.now { next = clock.now + interval }  // fell behind: skip, never burst
                    for room in await registry.loadedRooms { await room.tick() }
                    if clock.now - lastSweep >= .seconds(1) {
                        lastSweep = clock.now
                        await registry.sweep()
                        if memory.shouldTrim(closed: server.takeClosedCount(), now: clock.now) { MemoryTrim.trim() }
                    }
                }
            }
            await server.closeAllConnections()
            await registry.close()
        }
    }
}
