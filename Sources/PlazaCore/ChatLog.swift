/// A room's chat pipeline as a state machine: where a chat message gets its offset, waits for its commit, and
/// is acknowledged only once the store has it.
///
/// The log owns the room's offsets, the messages accepted but not yet committed, the senders waiting for an
/// ack, and one ring of the newest committed messages that serves both reconnect recovery and the
/// de-duplication of retries. It does no I/O and reads no clock: the room feeds it events (a message, the time,
/// the outcome of a commit) and carries out the `Action`s it returns — write this batch, ack these, announce
/// that, tell those their message was not stored. At most one commit or look-up is outstanding at a time, so
/// messages reach the store, the room and the acks in offset order.
///
/// The promise it keeps: nothing is acknowledged before the commit that stored it has returned, and nothing
/// acknowledged is ever given another offset. A write the store did not confirm (a timeout, a dropped
/// connection) may still have been stored: its senders are told to send it again at once, and before anything
/// else is written the log asks the store what it holds at those offsets, so a late commit is announced rather
/// than written over, and a resend of it is acknowledged at its stored offset. Such a write may also land after
/// the store said it held nothing there (it was still on its way): the next write at those offsets then
/// conflicts, and a conflict too is answered by reading the offsets first, before it is taken for a retry.
public struct ChatLog<Waiter: Hashable & Sendable, Frame: Sendable>: Sendable {
    /// A message's identity for de-duplication: its sender and the sender's id for it.
    public struct Key: Hashable, Sendable {
        public var sender: ParticipantID
        public var clientID: String

        public init(sender: ParticipantID, clientID: String) {
            (self.sender, self.clientID) = (sender, clientID)
        }
    }

    /// What the room must do, in order.
    public enum Action: Sendable {
        /// Store these messages, all or none (through the room's fence on a fleet node), then report the outcome
        /// with `committed()` or `commitFailed(_:)`.
        case commit([ChatMessage])
        /// The message was refused as a duplicate of one stored before the ring's memory: find the offset it was
        /// stored under, then report it with `lookedUp(_:)`.
        case lookUp(ChatMessage)
        /// A write of these messages was not confirmed, or conflicted: read what the store holds at their offsets,
        /// then report it with `reconciled(_:)`, or `reconcileFailed()` if the store cannot say (ask again after a
        /// pause).
        case reconcile([ChatMessage])
        /// The message is committed: send its frame (encoded once) to everyone in the room.
        case announce(ChatMessage, Frame)
        /// Acknowledge `clientID` at `offset` to these waiters.
        case ack([Waiter], clientID: String, offset: Int64)
        /// The message `clientID` was not stored: tell these waiters to send it again.
        case fail([Waiter], clientID: String)
        /// The room lives on another node now (the fence was lost): nothing pending was stored or acknowledged;
        /// send every client away so it finds the new home and sends it there.
        case moveAway
    }

    /// How a commit failed, as the store reported it.
    public enum Failure: Sendable, Equatable {
        /// An offset or a `(sender, clientID)` was already stored: a retry of a message older than the ring.
        case conflict
        /// The room's placement is another node's now.
        case fenced
        /// Anything else: the store did not confirm the write, which may or may not have been stored.
        case unavailable
    }

    private struct Entry: Sendable {
        var key: Key
        var frame: Frame
    }

    /// What the log is waiting for.
    private enum Outstanding: Sendable {
        case none
        /// A batch is being written.
        case batch([ChatMessage])
        /// After a conflict, the batch's messages go one at a time: `current` is being written (or looked up),
        /// `rest` follow it.
        case oneByOne(current: ChatMessage, rest: ArraySlice<ChatMessage>, lookingUp: Bool)
        /// A write was not confirmed or conflicted: the store is being asked what it holds at these messages'
        /// offsets.
        case reconciling([ChatMessage], Cause)
        /// The fence was lost: the log takes nothing more.
        case moved
    }

    /// Why the log reads what the store holds at some offsets.
    private enum Cause: Sendable {
        /// The write of the messages was not confirmed; their senders were told to send again.
        case unconfirmed
        /// The batch conflicted: a write that was not confirmed landed there late, or it holds a retry.
        case batchConflict
        /// One message of a one-by-one write conflicted; `rest` follow it.
        case oneByOneConflict(rest: ArraySlice<ChatMessage>)
    }

    /// A write that was not confirmed and may still land: its offsets and its messages' keys.
    private struct UncertainWrite: Sendable {
        var first: Int64
        var last: Int64
        var keys: Set<Key>
    }

    public let room: RoomName
    private let encode: @Sendable (ChatMessage) -> Frame
    /// The newest committed messages; the ring both recovery and de-duplication read.
    private var ring: ResumeWindow<Entry>
    /// Offsets of the ring's messages by key.
    private var committedOffsets: [Key: Int64] = [:]
    /// Accepted, not yet in a commit; their offsets are provisional until they are.
    private var pending: [ChatMessage] = []
    private var waiters: [Key: [Waiter]] = [:]
    private var outstanding = Outstanding.none
    /// Writes not confirmed that may still land (at most a few: each goes once a write at its offsets commits).
    private var uncertain: [UncertainWrite] = []
    /// The offset the next accepted message gets.
    private var nextOffset: Int64

    /// `room`'s log, continuing from the store: `recent` are its newest messages (oldest first) and `lastOffset`
    /// its newest offset. `capacity` messages are kept for recovery and de-duplication (`chat.resumeWindow`);
    /// `encode` makes a committed message's frame, once.
    public init(
        room: RoomName, capacity: Int, recent: [ChatMessage], lastOffset: Int64,
        encode: @escaping @Sendable (ChatMessage) -> Frame
    ) {
        (self.room, self.encode) = (room, encode)
        ring = ResumeWindow(capacity: capacity, lastOffset: recent.first.map { $0.offset - 1 } ?? lastOffset)
        nextOffset = max(lastOffset, recent.last?.offset ?? 0) + 1
        for message in recent { remember(message, encode(message)) }
    }

    /// The offset of the newest committed message.
    public var lastOffset: Int64 { ring.lastOffset }

    /// Whether nothing is pending or being committed: the room may close or unload.
    public var isIdle: Bool {
        switch outstanding {
        case .none, .moved: pending.isEmpty
        case .batch, .oneByOne, .reconciling: false
        }
    }

    /// Whether the fence was lost.
    public var hasMoved: Bool { if case .moved = outstanding { true } else { false } }

    /// What a client that last saw `since` missed, as frames, oldest first.
    public func recover(since: Int64) -> [Frame]? {
        guard case .recovered(let missed) = ring.recover(since: since) else { return nil }
        return missed.map(\.frame)
    }

    /// Accepts a message from `waiter`, stamped at `timestamp` (milliseconds since the Unix epoch). A retry of a
    /// committed message is acknowledged at once with its offset; a retry of one in flight waits with it.
    public mutating func submit(
        sender: ParticipantID, senderName: String, clientID: String, text: String, timestamp: Int64, from waiter: Waiter
    ) -> [Action] {
        guard !hasMoved else { return [] }
        let key = Key(sender: sender, clientID: clientID)
        if let offset = committedOffsets[key] { return [.ack([waiter], clientID: clientID, offset: offset)] }
        if waiters[key] != nil {
            waiters[key]!.append(waiter)
            return []
        }
        waiters[key] = [waiter]
        pending.append(
            ChatMessage(
                room: room, offset: nextOffset, clientID: clientID, sender: sender, senderName: senderName,
                text: text, timestamp: timestamp))
        nextOffset += 1
        return startNext()
    }

    /// The outstanding commit returned: its messages are durable.
    public mutating func committed() -> [Action] {
        switch outstanding {
        case .batch(let batch):
            outstanding = .none
            settle(through: batch.last!.offset)
            var actions: [Action] = []
            for message in batch { announce(message, into: &actions) }
            return actions + startNext()
        case .oneByOne(let current, let rest, lookingUp: false):
            settle(through: current.offset)
            var actions: [Action] = []
            announce(current, into: &actions)
            return actions + continueOneByOne(rest, at: current.offset + 1)
        default:
            preconditionFailure("committed() without a commit outstanding")
        }
    }

    /// The outstanding commit threw: nothing of it was stored.
    public mutating func commitFailed(_ failure: Failure) -> [Action] {
        if failure == .fenced {
            outstanding = .moved
            pending.removeAll()
            waiters.removeAll()
            return [.moveAway]
        }
        switch outstanding {
        case .batch(let batch):
            guard failure == .conflict else { return unconfirmed(batch, failing: batch) }
            // Either a write not confirmed landed at these offsets after all, or the batch holds a retry of a
            // message older than the ring: what the store holds there tells which.
            outstanding = .reconciling(batch, .batchConflict)
            return [.reconcile(batch)]
        case .oneByOne(let current, let rest, lookingUp: false):
            guard failure == .conflict else { return unconfirmed([current], failing: [current] + rest) }
            outstanding = .reconciling([current], .oneByOneConflict(rest: rest))
            return [.reconcile([current])]
        default:
            preconditionFailure("commitFailed(_:) without a commit outstanding")
        }
    }

    /// The store answered what it holds at the offsets asked about: `found`, oldest first. Our messages there
    /// (of this write or of an earlier one not confirmed) were stored: they are announced, and a resend of one is
    /// acknowledged at its offset; what was not stored of a conflicting write is written after them. Nothing
    /// there: an unconfirmed write was lost and its offsets are used again, and a conflict was a retry of a
    /// message older than the ring. Another writer's messages there: the room has moved.
    public mutating func reconciled(_ found: [ChatMessage]) -> [Action] {
        guard case .reconciling(let batch, let cause) = outstanding else {
            preconditionFailure("reconciled(_:) without a reconcile outstanding")
        }
        outstanding = .none
        guard let lastFound = found.last else {
            switch cause {
            case .unconfirmed:
                renumberPending(from: batch[0].offset)
                return startNext()
            case .batchConflict:
                // A retry older than the ring: write one by one, and ack a duplicate with the offset it was
                // stored under.
                return continueOneByOne(batch[...], at: batch[0].offset)
            case .oneByOneConflict(let rest):
                outstanding = .oneByOne(current: batch[0], rest: rest, lookingUp: true)
                return [.lookUp(batch[0])]
            }
        }
        var ours = Set(batch.map { Key(sender: $0.sender, clientID: $0.clientID) })
        for write in uncertain { ours.formUnion(write.keys) }
        guard found.allSatisfy({ ours.contains(Key(sender: $0.sender, clientID: $0.clientID)) }) else {
            return commitFailed(.fenced)
        }
        var actions: [Action] = []
        var stored = Set<Key>()
        for message in found {
            let key = Key(sender: message.sender, clientID: message.clientID)
            stored.insert(key)
            pending.removeAll { Key(sender: $0.sender, clientID: $0.clientID) == key }
            announce(message, into: &actions)
        }
        settle(through: lastFound.offset)
        // A conflicting write stored nothing of its own: what of it was not found goes first again.
        let unwritten: [ChatMessage] =
            switch cause {
            case .unconfirmed: []
            case .batchConflict: batch
            case .oneByOneConflict(let rest): [batch[0]] + rest
            }
        pending = unwritten.filter { !stored.contains(Key(sender: $0.sender, clientID: $0.clientID)) } + pending
        renumberPending(from: lastFound.offset + 1)
        return actions + startNext()
    }

    /// The store could not say what it holds: everything waiting is told to send again (the store is down; a
    /// client should not wait on it), and the store is asked again.
    public mutating func reconcileFailed() -> [Action] {
        guard case .reconciling(let batch, let cause) = outstanding else {
            preconditionFailure("reconcileFailed() without a reconcile outstanding")
        }
        var actions: [Action] = []
        let waiting: [ChatMessage] =
            switch cause {
            case .unconfirmed: pending
            case .batchConflict: batch + pending
            case .oneByOneConflict(let rest): [batch[0]] + rest + pending
            }
        for message in waiting { fail(message, into: &actions) }
        pending.removeAll()
        if case .unconfirmed = cause {} else { outstanding = .reconciling(batch, .unconfirmed) }
        return actions + [.reconcile(batch)]
    }

    /// The look-up of a duplicate answered: it was stored under `offset` (nil: it could not be found, or the store
    /// failed). Its waiters are acked with that offset, or told to send it again; it takes no new offset.
    public mutating func lookedUp(_ offset: Int64?) -> [Action] {
        guard case .oneByOne(let current, let rest, lookingUp: true) = outstanding else {
            preconditionFailure("lookedUp(_:) without a look-up outstanding")
        }
        var actions: [Action] = []
        let key = Key(sender: current.sender, clientID: current.clientID)
        let waiting = waiters.removeValue(forKey: key) ?? []
        if let offset {
            actions.append(.ack(waiting, clientID: current.clientID, offset: offset))
        } else {
            actions.append(.fail(waiting, clientID: current.clientID))
        }
        return actions + continueOneByOne(rest, at: current.offset)
    }

    // MARK: Internals

    /// Starts the next batch if nothing is outstanding.
    private mutating func startNext() -> [Action] {
        guard case .none = outstanding, !pending.isEmpty else { return [] }
        let batch = pending
        pending.removeAll(keepingCapacity: true)
        outstanding = .batch(batch)
        return [.commit(batch)]
    }

    /// Writes the first of `messages` under `offset`, or, once they are done, renumbers what arrived meanwhile
    /// from `offset` and starts its batch.
    private mutating func continueOneByOne(_ messages: ArraySlice<ChatMessage>, at offset: Int64) -> [Action] {
        guard var current = messages.first else {
            outstanding = .none
            renumberPending(from: offset)
            return startNext()
        }
        current.offset = offset
        outstanding = .oneByOne(current: current, rest: messages.dropFirst(), lookingUp: false)
        return [.commit([current])]
    }

    private mutating func announce(_ message: ChatMessage, into actions: inout [Action]) {
        let frame = encode(message)
        remember(message, frame)
        actions.append(.announce(message, frame))
        let key = Key(sender: message.sender, clientID: message.clientID)
        if let waiting = waiters.removeValue(forKey: key) {
            actions.append(.ack(waiting, clientID: message.clientID, offset: message.offset))
        }
    }

    /// A write of `batch` was not confirmed: the senders of `failing` are told to send again, and the store is
    /// asked what it holds before anything else is written.
    private mutating func unconfirmed(_ batch: [ChatMessage], failing: [ChatMessage]) -> [Action] {
        var actions: [Action] = []
        for message in failing { fail(message, into: &actions) }
        uncertain.append(
            UncertainWrite(
                first: batch[0].offset, last: batch.last!.offset,
                keys: Set(batch.map { Key(sender: $0.sender, clientID: $0.clientID) })))
        outstanding = .reconciling(batch, .unconfirmed)
        return actions + [.reconcile(batch)]
    }

    /// Offsets up to `offset` are stored now: an unconfirmed write that starts there or before can no longer
    /// land (its first offset is taken, and a write is all or nothing).
    private mutating func settle(through offset: Int64) {
        uncertain.removeAll { $0.first <= offset }
    }

    private mutating func fail(_ message: ChatMessage, into actions: inout [Action]) {
        let waiting = waiters.removeValue(forKey: Key(sender: message.sender, clientID: message.clientID)) ?? []
        actions.append(.fail(waiting, clientID: message.clientID))
    }

    /// Adds a committed message to the ring, forgetting the key of the one it pushes out.
    private mutating func remember(_ message: ChatMessage, _ frame: Frame) {
        let key = Key(sender: message.sender, clientID: message.clientID)
        // Keys are unique in a room (the store refuses a second one), so the evicted key is no other message's.
        if let evicted = ring.append(offset: message.offset, payload: Entry(key: key, frame: frame)) {
            committedOffsets[evicted.key] = nil
        }
        if ring.capacity > 0 { committedOffsets[key] = message.offset }
    }

    private mutating func renumberPending(from offset: Int64) {
        var next = offset
        for index in pending.indices {
            pending[index].offset = next
            next += 1
        }
        nextOffset = next
    }
}
