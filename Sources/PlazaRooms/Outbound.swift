// Rooms: where a room's state lives on its home node and how it reaches its clients.
//
// A `Room` is an actor holding one room's presence, chat log, positions and media state; a `RoomRegistry`
// loads rooms on first use (under their placement on a fleet node) and unloads idle ones. Rooms know nothing of
// sockets or HTTP: they hand encoded frames to each connection's `Outbound`, which the transport implements
// (`PlazaTransport`'s WebSocket queue) and tests replace with a recording fake.

import PlazaCore
public import PlazaProtocol
import Synchronization

/// One client connection as a room sees it: where its frames go. Implemented by the transport; rooms never
/// touch a socket.
///
/// Concurrency: every method may be called from any task and never blocks: the transport queues and flushes on
/// its own (bounded, closing a connection that cannot keep up with `CloseCode.slowConsumer`).
public protocol Outbound: AnyObject, Sendable {
    /// Queues one frame, leaving its write to `burst`'s flush. False when the connection is closing (the frame is
    /// dropped).
    func send(_ frame: OutboundFrame, in burst: inout FlushBurst) -> Bool

    /// Writes what is queued, soon (on the transport's own thread).
    func requestFlush()

    /// Closes the connection with `code` after the frames already queued. The first close asked for wins.
    func close(_ code: CloseCode, reason: String)
}

extension Outbound {
    /// Queues one frame and has it written. False when the connection is closing.
    @discardableResult
    public func send(_ frame: OutboundFrame) -> Bool {
        var burst = FlushBurst()
        defer { burst.flush() }
        return send(frame, in: &burst)
    }
}

/// The connections a fan-out queued frames for, flushed together once it has queued everything: a connection
/// that gets several frames in one burst (a tick's `enter`, `exit` and `moves`) writes them in one go, and a
/// thousand connections are flushed with one task per event loop rather than one each.
public struct FlushBurst {
    private var connections: [any Outbound] = []

    public init() {}

    /// `connection` has frames waiting for this burst's flush.
    public mutating func needsFlush(_ connection: any Outbound) { connections.append(connection) }

    /// Asks every connection of the burst to write what it queued.
    public mutating func flush() {
        for connection in connections { connection.requestFlush() }
        connections.removeAll()
    }
}

/// One encoded server frame, shared by every connection it goes to: encoded once, written many times.
///
/// Beside the bytes, the frame keeps the transport's own copy of them (a NIO buffer), made by the first
/// connection that writes the frame and reused by every other, so a broadcast to a thousand connections copies
/// its bytes once.
public final class OutboundFrame: Sendable {
    public let bytes: [UInt8]
    public let type: ServerFrame.FrameType
    private let transportCopy = Mutex<(any Sendable)?>(nil)

    public init(_ bytes: [UInt8], _ type: ServerFrame.FrameType) {
        (self.bytes, self.type) = (bytes, type)
    }

    /// The transport's copy of the bytes, made with `make` the first time it is asked for.
    public func transportCopy<Copy: Sendable>(as: Copy.Type, _ make: ([UInt8]) -> Copy) -> Copy {
        transportCopy.withLock { cached in
            if let copy = cached as? Copy { return copy }
            let copy = make(bytes)
            cached = copy
            return copy
        }
    }
}
