import ServiceLifecycle
import PlazaProtocol
import Logging

/// The node's background work: the interest-management tick and idle-room sweeping; at shutdown, closing
/// every connection with "going away" after its queued frames (and every pending chat ack) are flushed.
///
/// Run it after the HTTP server in one `ServiceGroup`, which shuts services down in reverse order: this one
/// closes the sockets first, while the server is still up to flush them.
struct NodeService: Service {
    let node: PlazaNode

    func run() async throws {
        let node = self.node
        let interval = Duration.nanoseconds(Int64(1_000_000_000 / node.configuration.space.tickHz))
        await cancelWhenGracefulShutdown {
            let clock = ContinuousClock()
            var next = clock.now + interval
            var lastSweep = clock.now
            while !Task.isCancelled {
                do { try await Task.sleep(until: next, clock: clock) } catch { break }
                next = next + interval
                if next < clock.now { next = clock.now + interval }  // fell behind: skip, never burst
                for room in await node.registry.loadedRooms { await room.tick() }
                if clock.now - lastSweep >= .seconds(1) {
                    lastSweep = clock.now
                    await node.registry.sweep(now: clock.now)
                }
            }
        }
        await node.closeAllConnections()
    }
}
