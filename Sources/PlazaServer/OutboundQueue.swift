import NIOCore
import NIOWebSocket
import Synchronization
import Prometheus
import PlazaProtocol

/// One connection's bounded outbound queue, flushed on the connection's event loop.
///
/// Producers (rooms, the connection's own reader) append encoded frames without waiting. The first append
/// after a flush asks for one flush on the channel's event loop; a room fanning out to many connections asks
/// once per event loop for all of them (`FlushBatch`). A flush writes everything queued as one WebSocket
/// message, frames separated by `\n`. A lone frame is written as the very buffer the room encoded, shared by
/// every recipient; frames are copied only to join two or more. While the socket is not writable the queue
/// grows, up to `limit` bytes: then the connection is closed as a slow consumer instead of growing memory.
final class OutboundQueue: Sendable {
    private struct State: ~Copyable {
        /// What the next flush writes: one shared frame, or frames joined into a buffer of this queue's own.
        var pending: ByteBuffer?
        /// Whether `pending` is a buffer of this queue's own that more frames may be appended to.
        var pendingIsOwned = false
        var flushScheduled = false
        var closing: (CloseCode, String)?
        /// The session task waiting to perform the close handshake, once everything before it is written.
        var closeWaiter: CheckedContinuation<(CloseCode, String), Never>?
    }

    let channel: any Channel
    private let state = Mutex(State())
    private let limit: Int
    private let metrics: PlazaMetrics

    init(channel: any Channel, limit: Int, metrics: PlazaMetrics) {
        self.channel = channel
        self.limit = limit
        self.metrics = metrics
    }

    enum Enqueued {
        /// Queued; a flush is already on its way.
        case queued
        /// Queued; the caller must arrange a flush (`flush()` on the channel's event loop).
        case needsFlush
        /// Not queued: the connection is closing (or has just overflowed).
        case rejected
    }

    /// Queues one encoded frame without scheduling anything: `FlushBatch.append` and `enqueue` schedule.
    func append(_ frame: ByteBuffer) -> Enqueued {
        let (result, overflowed): (Enqueued, Bool) = state.withLock { state in
            guard state.closing == nil else { return (.rejected, false) }
            if var pending = state.pending.take() {
                guard pending.readableBytes + frame.readableBytes + 1 <= limit else {
                    // Drop what is queued: the client will resume with `since`.
                    state.closing = (.slowConsumer, "slow consumer")
                    return (.rejected, true)
                }
                if !state.pendingIsOwned {
                    var joined = channel.allocator.buffer(capacity: max(2 * (pending.readableBytes + frame.readableBytes + 1), 1024))
                    joined.writeBuffer(&pending)
                    pending = joined
                    state.pendingIsOwned = true
                }
                pending.writeInteger(UInt8(ascii: "\n"))
                pending.writeImmutableBuffer(frame)
                state.pending = pending
            } else {
                state.pending = frame
                state.pendingIsOwned = false
            }
            if state.flushScheduled { return (.queued, false) }
            state.flushScheduled = true
            return (.needsFlush, false)
        }
        if overflowed { scheduleFlush() }  // hands the close over; the session then enforces the close timeout
        return result
    }

    /// Queues one frame and makes sure it will be flushed. Returns false when the connection is closing.
    @discardableResult
    func enqueue(_ frame: ByteBuffer) -> Bool {
        switch append(frame) {
        case .queued: return true
        case .needsFlush:
            scheduleFlush()
            return true
        case .rejected: return false
        }
    }

    func scheduleFlush() {
        channel.eventLoop.execute { self.flush() }
    }

    /// Writes what is queued if the socket can take it; hands the close over once everything is written.
    /// Runs on the channel's event loop.
    func flush() {
        // A closed socket takes nothing more: hand the close over so the session can finish.
        let writable = channel.isWritable || !channel.isActive
        let (message, close): (ByteBuffer?, (CheckedContinuation<(CloseCode, String), Never>, (CloseCode, String))?) = state.withLock { state in
            state.flushScheduled = false
            let slow = state.closing?.0 == .slowConsumer
            if slow { state.pending = nil }
            guard writable || slow else { return (nil, nil) }  // writability will call us again
            let message = state.pending.take()
            guard let closing = state.closing, let waiter = state.closeWaiter.take() else { return (message, nil) }
            return (message, (waiter, closing))
        }
        if let message {
            let bytes = message.readableBytes
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, data: message), promise: nil)
            metrics.outboundMessages.increment()
            metrics.outboundBytes.increment(by: Int64(bytes))
            metrics.outboundBytesTotal.add(bytes, ordering: .relaxed)
        }
        if let (waiter, closing) = close { waiter.resume(returning: closing) }
    }

    /// Asks for the connection to be closed with `code` after what is already queued. The first reason wins.
    func close(_ code: CloseCode, reason: String) {
        let schedule: Bool = state.withLock { state in
            guard state.closing == nil else { return false }
            state.closing = (code, reason)
            return true
        }
        if schedule { scheduleFlush() }
    }

    /// The close the queue is heading for, if any.
    var closeCode: CloseCode? { state.withLock { $0.closing?.0 } }

    /// Waits until a close has been asked for and everything queued before it has been written.
    func closeRequested() async -> (CloseCode, String) {
        await withCheckedContinuation { continuation in
            state.withLock { $0.closeWaiter = continuation }
            // A close asked for before we started waiting is handed over by the next flush.
            scheduleFlush()
        }
    }
}

/// Flushes many queues with one task per event loop: how a room's broadcast reaches a thousand sockets
/// without a thousand task hops.
struct FlushBatch {
    private var byLoop: [ObjectIdentifier: (any EventLoop, [OutboundQueue])] = [:]

    /// Queues `frame` on `queue`, remembering the queue if it needs a flush. Returns whether it was queued.
    mutating func append(_ frame: ByteBuffer, to queue: OutboundQueue) -> Bool {
        switch queue.append(frame) {
        case .queued: return true
        case .needsFlush:
            let loop = queue.channel.eventLoop
            byLoop[ObjectIdentifier(loop), default: (loop, [])].1.append(queue)
            return true
        case .rejected: return false
        }
    }

    func schedule() {
        for (loop, queues) in byLoop.values {
            loop.execute { for queue in queues { queue.flush() } }
        }
    }
}

/// Resumes flushing when a socket that filled up becomes writable again, or hands the close over when it
/// closes.
final class WritabilityHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let queue: OutboundQueue

    init(queue: OutboundQueue) { self.queue = queue }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { queue.flush() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        queue.flush()
        context.fireChannelInactive()
    }
}
