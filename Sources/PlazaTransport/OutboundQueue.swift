import NIOCore
import NIOWebSocket
import Synchronization
import PlazaRooms
import PlazaProtocol
import PlazaMetrics

/// One connection's bounded outbound queue, flushed on the connection's event loop: where a slow consumer is
/// cut off.
///
/// Producers (rooms, the connection's own reader) append encoded frames without waiting. The first append
/// after a flush asks the connection's event loop for one flush (`LoopFlusher`), which a room fanning out to
/// many connections shares with every other connection on that loop. A flush writes everything queued as one
/// WebSocket message, frames separated by `\n`. A lone frame is written as the frame's own NIO buffer, shared
/// by every recipient; frames are copied only to join two or more. While the socket is not writable the queue
/// grows, up to `limits.outboundQueueBytes`: then the connection is closed as a slow consumer (4002) instead of
/// growing memory. A client that takes nothing for `limits.slowConsumerSeconds` while frames wait is closed the
/// same way however little waits, so a room of stalled clients cannot hold its queues full for long.
final class OutboundQueue: Outbound {

    private struct State: ~Copyable {
        /// What the next flush writes: one shared frame, or frames joined into a buffer of this queue's own.
        var pending: ByteBuffer?
        /// Whether `pending` is a buffer of this queue's own that more frames may be appended to.
        var pendingIsOwned = false
        /// Frames queued while the socket is full, after `pending`: kept as the buffers every recipient shares,
        /// not copied, so a room of stalled clients holds each frame once rather than once per client.
        var stalledFrames: [ByteBuffer] = []
        /// Bytes queued in `pending` and `stalledFrames`, separators included.
        var queuedBytes = 0
        var flushScheduled = false
        var closing: (CloseCode, String)?
        /// When the socket, full, first refused what waits in `pending`: the start of a stall.
        var stalledSince: NIODeadline?
        /// The session task waiting to perform the close handshake, once everything before it is written.
        var closeWaiter: CheckedContinuation<(CloseCode, String), Never>?

        mutating func drop() {
            pending = nil
            stalledFrames = []
            queuedBytes = 0
        }
    }

    let channel: any Channel
    private let flusher: LoopFlusher
    private let state = Mutex(State())
    private let limit: Int
    private let stallLimit: TimeAmount
    private let metrics: PlazaMetrics

    init(channel: any Channel, flusher: LoopFlusher, limit: Int, stallLimit: TimeAmount, metrics: PlazaMetrics) {
        (self.channel, self.flusher, self.limit, self.stallLimit, self.metrics) = (channel, flusher, limit, stallLimit, metrics)
    }

    /// Queues one frame; `burst` asks for the flush once the fan-out has queued everything. Returns false when
    /// the connection is closing.
    func send(_ frame: OutboundFrame, in burst: inout FlushBurst) -> Bool {
        let buffer = frame.transportCopy(as: ByteBuffer.self) { ByteBuffer(bytes: $0) }
        let (queued, needsFlush): (Bool, Bool) = state.withLock { state in
            guard state.closing == nil else { return (false, false) }
            let size = buffer.readableBytes + (state.queuedBytes > 0 ? 1 : 0)
            guard state.queuedBytes == 0 || state.queuedBytes + size <= limit else {
                // Drop what is queued: the client will resume with `since`.
                state.closing = (.slowConsumer, "slow consumer")
                metrics.slowConsumer(.queueBytes)
                return (false, true)  // hands the close over; the session then enforces the close timeout
            }
            state.queuedBytes += size
            if state.stalledSince != nil {
                // Writability flushes when the socket drains; until then, hold a reference, not a copy.
                state.stalledFrames.append(buffer)
                return (true, false)
            }
            if var pending = state.pending.take() {
                if !state.pendingIsOwned {
                    var joined = channel.allocator.buffer(capacity: max(2 * (pending.readableBytes + buffer.readableBytes + 1), 1024))
                    joined.writeBuffer(&pending)
                    pending = joined
                    state.pendingIsOwned = true
                }
                pending.writeInteger(UInt8(ascii: "\n"))
                pending.writeImmutableBuffer(buffer)
                state.pending = pending
            } else {
                state.pending = buffer
                state.pendingIsOwned = false
            }
            if state.flushScheduled { return (true, false) }
            state.flushScheduled = true
            return (true, true)
        }
        if needsFlush { burst.needsFlush(self) }
        return queued
    }

    func requestFlush() { flusher.request(self) }

    /// Writes what is queued if the socket can take it; hands the close over once everything is written.
    /// Runs on the channel's event loop.
    func flush() {
        // A closed socket takes nothing more: hand the close over so the session can finish.
        let writable = channel.isWritable || !channel.isActive
        var watchStall: NIODeadline?
        let (message, close): (ByteBuffer?, (CheckedContinuation<(CloseCode, String), Never>, (CloseCode, String))?) = state.withLock { state in
            state.flushScheduled = false
            let slow = state.closing?.0 == .slowConsumer
            if slow { state.drop() }
            guard writable || slow else {
                // Writability will call us again; until then, time the stall.
                if state.stalledSince == nil, state.pending != nil {
                    let now = NIODeadline.now()
                    state.stalledSince = now
                    watchStall = now
                }
                return (nil, nil)
            }
            state.stalledSince = nil
            var message = state.pending.take()
            if !state.stalledFrames.isEmpty, var first = message {
                // The stall is over: one message of everything, in order.
                var joined = channel.allocator.buffer(capacity: state.queuedBytes)
                joined.writeBuffer(&first)
                for var frame in state.stalledFrames {
                    joined.writeInteger(UInt8(ascii: "\n"))
                    joined.writeBuffer(&frame)
                }
                message = joined
                state.stalledFrames = []
            }
            state.queuedBytes = 0
            state.pendingIsOwned = false
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
        if let watchStall {
            channel.eventLoop.scheduleTask(deadline: watchStall + stallLimit) { self.endStall(since: watchStall) }
        }
    }

    /// Closes the connection as a slow consumer if the stall that began at `since` has not ended.
    private func endStall(since: NIODeadline) {
        let stalled: Bool = state.withLock { state in
            guard state.stalledSince == since, state.closing == nil else { return false }
            state.closing = (.slowConsumer, "slow consumer")
            return true
        }
        guard stalled else { return }
        metrics.slowConsumer(.stalled)
        flush()
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

    private func scheduleFlush() {
        channel.eventLoop.execute { self.flush() }
    }

    /// Waits until a close has been asked for and everything queued before it has been written.
    func closeRequested() async -> (CloseCode, String) {
        await withCheckedContinuation { continuation in
            state.withLock { $0.closeWaiter = continuation }
            // A close asked for before we started waiting is handed over by the next flush.
            scheduleFlush()
        }
    }
}

/// Flushes, with one task per event loop, every queue of that loop that asked for a flush: how a room's
/// broadcast reaches a thousand sockets without a thousand task hops. One per event loop (`LoopFlushers`).
final class LoopFlusher: Sendable {
    private let loop: any EventLoop
    private let waiting = Mutex<(queues: [OutboundQueue], scheduled: Bool)>(([], false))

    init(loop: any EventLoop) { self.loop = loop }

    /// Flushes `queue` on the loop's next turn, with every other queue asking before then.
    func request(_ queue: OutboundQueue) {
        let schedule = waiting.withLock { waiting in
            waiting.queues.append(queue)
            defer { waiting.scheduled = true }
            return !waiting.scheduled
        }
        guard schedule else { return }
        loop.execute {
            let queues = self.waiting.withLock { waiting in
                defer { waiting = ([], false) }
                return waiting.queues
            }
            for queue in queues { queue.flush() }
        }
    }
}

/// The flusher of each event loop, made on first use.
final class LoopFlushers: Sendable {
    private let flushers = Mutex<[ObjectIdentifier: LoopFlusher]>([:])

    func flusher(for loop: any EventLoop) -> LoopFlusher {
        flushers.withLock { flushers in
            if let flusher = flushers[ObjectIdentifier(loop)] { return flusher }
            let flusher = LoopFlusher(loop: loop)
            flushers[ObjectIdentifier(loop)] = flusher
            return flusher
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
