import PlazaCore
import PlazaProtocol

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

    /// Queues a frame and schedules its flush: for frames to one connection outside a room's fan-out.
    func send(_ frame: [UInt8], _ type: ServerFrame.FrameType) {
        if queue.enqueue(frame) { metrics.framesOut[type]?.increment() }
    }

    /// Queues a frame; a flush, if needed, is added to `batch` (scheduled by the caller, once per loop).
    func send(_ frame: [UInt8], _ type: ServerFrame.FrameType, batch: inout FlushBatch) {
        switch queue.append(frame) {
        case .queued: metrics.framesOut[type]?.increment()
        case .needsFlush:
            batch.add(queue)
            metrics.framesOut[type]?.increment()
        case .rejected: break
        }
    }

    func sendError(_ code: ErrorCode, _ message: String, ref: String? = nil) {
        metrics.rejected(code)
        send(ServerFrame.error(code, message, ref: ref), .error)
    }
}
