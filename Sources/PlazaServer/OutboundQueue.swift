import NIOCore
import Synchronization
import PlazaProtocol

/// One connection's bounded outbound queue.
///
/// Producers (rooms, the connection's own reader) append encoded frames without waiting; the connection's
/// writer task takes everything queued at once and writes it as one WebSocket message, frames separated by
/// `\n`. So under load a connection gets fewer, larger writes, and a connection that cannot keep up grows
/// its queue until `limit` bytes, when it is closed as a slow consumer instead of growing memory.
final class OutboundQueue: Sendable {
    enum Next {
        /// Frames to write, already joined with `\n`.
        case message(ByteBuffer)
        /// Close the WebSocket with this code after writing what came before.
        case close(CloseCode, String)
    }

    private struct State: ~Copyable {
        var buffer: ByteBuffer?
        var waiter: CheckedContinuation<Next, Never>?
        var closing: (CloseCode, String)?
        var closeDelivered = false
    }

    private let state: Mutex<State>
    private let limit: Int
    private let allocator = ByteBufferAllocator()
    /// Called once when the queue overflows, to make sure the socket goes away even if the writer is stuck
    /// behind a full TCP send buffer.
    private let onOverflow: @Sendable () -> Void

    init(limit: Int, onOverflow: @escaping @Sendable () -> Void) {
        self.limit = limit
        self.onOverflow = onOverflow
        self.state = Mutex(State())
    }

    /// Queues one encoded frame. Returns false when the connection is closing (or just overflowed).
    @discardableResult
    func enqueue(_ frame: [UInt8]) -> Bool {
        enum Outcome {
            case queued
            case woke(CheckedContinuation<Next, Never>, ByteBuffer)
            case rejected
            case overflowed
        }
        let outcome: Outcome = state.withLock { state in
            guard state.closing == nil else { return .rejected }
            if var buffer = state.buffer.take() {
                // A waiter exists only while the buffer is empty, so there is none to wake here.
                guard buffer.readableBytes + frame.count + 1 <= limit else {
                    // Drop what is queued: the client will resume with `since`.
                    state.closing = (.slowConsumer, "slow consumer")
                    return .overflowed
                }
                buffer.writeInteger(UInt8(ascii: "\n"))
                buffer.writeBytes(frame)
                state.buffer = buffer
                return .queued
            }
            var buffer = allocator.buffer(capacity: max(frame.count, 256))
            buffer.writeBytes(frame)
            if let waiter = state.waiter.take() { return .woke(waiter, buffer) }
            state.buffer = buffer
            return .queued
        }
        switch outcome {
        case .queued:
            return true
        case .woke(let waiter, let buffer):
            waiter.resume(returning: .message(buffer))
            return true
        case .rejected:
            return false
        case .overflowed:
            onOverflow()
            return false
        }
    }

    /// Asks the writer to close the connection after what is already queued. The first reason wins.
    func close(_ code: CloseCode, reason: String) {
        let waiter: CheckedContinuation<Next, Never>? = state.withLock { state in
            guard state.closing == nil else { return nil }
            state.closing = (code, reason)
            guard state.buffer == nil, let waiter = state.waiter.take() else { return nil }
            state.closeDelivered = true
            return waiter
        }
        waiter?.resume(returning: .close(code, reason))
    }

    /// The close the queue is heading for, if any.
    var closeCode: CloseCode? { state.withLock { $0.closing?.0 } }

    /// Waits for the next thing to write. Returns nil after the close has been handed out.
    func next() async -> Next? {
        enum Immediate { case value(Next?), wait }
        let immediate: Immediate = state.withLock { state in
            if let buffer = state.buffer.take() { return .value(.message(buffer)) }
            if let closing = state.closing {
                if state.closeDelivered { return .value(nil) }
                state.closeDelivered = true
                return .value(.close(closing.0, closing.1))
            }
            return .wait
        }
        if case .value(let v) = immediate { return v }
        return await withCheckedContinuation { continuation in
            let now: Next? = state.withLock { state in
                if let buffer = state.buffer.take() { return .message(buffer) }
                if let closing = state.closing, !state.closeDelivered {
                    state.closeDelivered = true
                    return .close(closing.0, closing.1)
                }
                state.waiter = continuation
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }
}
