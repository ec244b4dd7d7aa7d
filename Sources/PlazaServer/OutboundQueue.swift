import NIOCore
import NIOWebSocket
import Synchronization
import PlazaProtocol

/// One connection's bounded outbound queue, flushed on the connection's event loop.
///
/// Producers (rooms, the connection's own reader) append encoded frames without waiting. The first append
/// after a flush asks for one flush on the channel's event loop; a room fanning out to many connections asks
/// once per event loop for all of them (`FlushBatch`). A flush writes everything queued as one WebSocket
/// message, frames separated by `\n`, so under load a connection gets fewer, larger writes and no task hop
/// per frame. While the socket is not writable the queue grows, up to `limit` bytes: then the connection is
/// closed as a slow consumer instead of growing memory.
final class OutboundQueue: Sendable {
    private struct State: ~Copyable {
        var buffer: ByteBuffer?
        var flushScheduled = false
        var closing: (CloseCode, String)?
        /// The session task waiting to perform the close handshake, once everything before it is written.
        var closeWaiter: CheckedContinuation<(CloseCode, String), Never>?
        var closeHandedOver = false
    }

    let channel: any Channel
    private let state = Mutex(State())
    private let limit: Int
    /// Called once when the queue overflows, to make sure the socket goes away even if the client never
    /// reads again.
    private let onOverflow: @Sendable () -> Void

    init(channel: any Channel, limit: Int, onOverflow: @escaping @Sendable () -> Void) {
        self.channel = channel
        self.limit = limit
        self.onOverflow = onOverflow
    }

    enum Enqueued {
        /// Queued; a flush is already on its way.
        case queued
        /// Queued; the caller must arrange a flush (`flush()` on the channel's event loop).
        case needsFlush
        /// Not queued: the connection is closing.
        case rejected
    }

    /// Queues one encoded frame without scheduling anything: for fan-out, which batches flushes per loop.
    func append(_ frame: [UInt8]) -> Enqueued {
        var overflowed = false
        let result: Enqueued = state.withLock { state in
            guard state.closing == nil else { return .rejected }
            if var buffer = state.buffer.take() {
                guard buffer.readableBytes + frame.count + 1 <= limit else {
                    // Drop what is queued: the client will resume with `since`.
                    state.closing = (.slowConsumer, "slow consumer")
                    overflowed = true
                    return .rejected
                }
                buffer.writeInteger(UInt8(ascii: "\n"))
                buffer.writeBytes(frame)
                state.buffer = buffer
            } else {
                var buffer = channel.allocator.buffer(capacity: max(frame.count, 512))
                buffer.writeBytes(frame)
                state.buffer = buffer
            }
            if state.flushScheduled { return .queued }
            state.flushScheduled = true
            return .needsFlush
        }
        if overflowed {
            onOverflow()
            scheduleFlush()
        }
        return result
    }

    /// Queues one frame and makes sure it will be flushed. Returns false when the connection is closing.
    @discardableResult
    func enqueue(_ frame: [UInt8]) -> Bool {
        switch append(frame) {
        case .queued: return true
        case .needsFlush:
            scheduleFlush()
            return true
        case .rejected: return false
        }
    }

    func scheduleFlush() {
        let channel = self.channel
        channel.eventLoop.execute { self.flush() }
    }

    /// Writes what is queued if the socket can take it; hands the close over once everything is written.
    /// Runs on the channel's event loop.
    func flush() {
        // A closed socket takes nothing more: hand the close over so the session can finish.
        let writable = channel.isWritable || !channel.isActive
        let (buffer, close): (ByteBuffer?, (CheckedContinuation<(CloseCode, String), Never>, (CloseCode, String))?) = state.withLock { state in
            state.flushScheduled = false
            let slow = state.closing?.0 == .slowConsumer
            if slow { state.buffer = nil }
            guard writable || slow else { return (nil, nil) }  // writability will call us again
            let buffer = state.buffer.take()
            if let closing = state.closing, let waiter = state.closeWaiter.take() {
                state.closeHandedOver = true
                return (buffer, (waiter, closing))
            }
            return (buffer, nil)
        }
        if let buffer {
            channel.write(WebSocketFrame(fin: true, opcode: .text, data: buffer), promise: nil)
            channel.flush()
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

    mutating func add(_ queue: OutboundQueue) {
        let loop = queue.channel.eventLoop
        byLoop[ObjectIdentifier(loop), default: (loop, [])].1.append(queue)
    }

    func schedule() {
        for (loop, queues) in byLoop.values {
            loop.execute { for queue in queues { queue.flush() } }
        }
    }
}

/// Resumes flushing when a socket that filled up becomes writable again.
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
