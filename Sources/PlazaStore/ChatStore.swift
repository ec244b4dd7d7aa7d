// Durable state behind one protocol per concern — chat (`ChatStore`), the node registry (`NodeRegistry`), room
// placements (`RoomPlacements`), media (`MediaStore`) and the autoscaler's state (`FleetStore`) — so that the
// same room code, directory and autoscaler, and the same test suite, run on SQLite (one machine, `PlazaSQLite`)
// and on PostgreSQL (a fleet, `PlazaPostgres`). This module holds the protocols and the records they exchange;
// the engines implement them.
//
// Concurrency contract: every method may be called from any task; engines serialize internally. A method that
// returns normally has made its write durable (the engine's commit returned).

public import PlazaCore
public import PlazaFleetModel

/// A room's chat history: the one place a chat message becomes durable.
public protocol ChatStore: Sendable {
    /// Appends messages atomically: all of them are stored, or none and the call throws.
    ///
    /// Offsets are assigned by the room's home node and must be new for their room; `(room, sender, clientID)`
    /// must be new too: a violation throws `StoreError.conflict` and stores nothing. With a `fence` (a fleet
    /// node's right to write for the room), the messages are stored only while that fence is the room's
    /// placement, in the same transaction; otherwise the call throws `StoreError.fenced`, so a node that lost its
    /// room can no longer add to its history.
    func append(_ messages: [ChatMessage], fence: Fence?) async throws

    /// Messages of `room` with an offset greater than `offset`, oldest first, at most `limit`.
    func messages(in room: RoomName, after offset: Int64, limit: Int) async throws -> [ChatMessage]

    /// The newest `limit` messages of `room` with an offset less than `offset`, oldest first (scrolling back).
    func messages(in room: RoomName, before offset: Int64, limit: Int) async throws -> [ChatMessage]

    /// The newest `limit` messages of `room`, oldest first.
    func latestMessages(in room: RoomName, limit: Int) async throws -> [ChatMessage]

    /// The offset under which `sender`'s message `clientID` was stored in `room`, if it was.
    func offset(in room: RoomName, sender: ParticipantID, clientID: String) async throws -> Int64?

    /// The offset of the newest message of `room`, or 0 when it has none.
    func lastOffset(in room: RoomName) async throws -> Int64

    /// Returns when the store answers a query, throws when it cannot: a directory is ready only while this
    /// succeeds, since without its store it can neither place rooms nor serve history.
    func ping() async throws

    /// Releases the engine's resources. No other method may be called afterwards.
    func close() async throws
}

extension ChatStore {
    /// Appends without a fence: `plaza serve`, where one process hosts every room.
    public func append(_ messages: [ChatMessage]) async throws { try await append(messages, fence: nil) }
}

/// A room's right to write: its home node and the placement's epoch. The store refuses writes under an older
/// epoch, so a node that lost its room cannot add to its history.
public struct Fence: Sendable, Equatable {
    public var node: NodeID
    public var epoch: Int64

    public init(node: NodeID, epoch: Int64) {
        (self.node, self.epoch) = (node, epoch)
    }
}

/// Errors from a store, with a stable kind.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, as callers act on it: a conflict is a duplicate, fenced means the room moved, the rest is an
    /// outage.
    public enum Kind: Sendable, Equatable {
        /// A uniqueness rule was violated (an offset or a client id already stored).
        case conflict
        /// The engine failed (I/O, corruption, a closed store).
        case unavailable
        /// The stored schema is newer than this build understands.
        case schemaTooNew
        /// The write came from a node that is no longer the room's home (its placement moved on).
        case fenced
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        (self.kind, self.message) = (kind, message)
    }

    public var description: String { "\(kind): \(message)" }
}

/// Everything a fleet shares: chat, the registry and placements, media, and the autoscaler's state. Both
/// engines provide all of it: PostgreSQL for a fleet of machines, SQLite for the fleet of one machine.
public typealias SharedStore = ChatStore & NodeRegistry & RoomPlacements & FleetStore & MediaStore
