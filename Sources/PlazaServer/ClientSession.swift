import PlazaCore
import PlazaProtocol
import NIOCore

/// A room's handle on one connection: where to queue its frames. Rooms never touch the socket.
final class ClientSession: Sendable {
    let id: ConnectionID
    let queue: OutboundQueue
    let metrics: PlazaMetrics

    init(id: ConnectionID, queue: OutboundQueue, metrics: PlazaMetrics) {
        self.id = id
        self.queue = queue
        self.metrics = metrics
    }

    /// Queues a frame and schedules its flush.
    func send(_ frame: [UInt8], _ type: ServerFrame.FrameType) {
        if queue.enqueue(ByteBuffer(bytes: frame)) { metrics.framesOut[type]?.increment() }
    }

    func sendError(_ code: ErrorCode, _ message: String, ref: String? = nil) {
        metrics.rejected(code)
        send(ServerFrame.error(code, message, ref: ref), .error)
    }
}
