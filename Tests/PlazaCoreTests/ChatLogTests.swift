import Testing
import PlazaCore

/// The chat log alone: offsets, batches, acks only after commits, de-duplication, and every way a commit can
/// fail. Waiters are plain integers and frames the messages' texts.
@Suite struct ChatLogTests {
    typealias Log = ChatLog<Int, String>
    let room = RoomName("lobby")!
    let ann = ParticipantID("ann")

    func log(capacity: Int = 10, recent: [ChatMessage] = [], lastOffset: Int64 = 0) -> Log {
        Log(room: room, capacity: capacity, recent: recent, lastOffset: lastOffset) { $0.text }
    }

    func submit(_ log: inout Log, _ id: String, from waiter: Int = 1, at time: Int64 = 1_000) -> [Log.Action] {
        log.submit(sender: ann, senderName: "Ann", clientID: id, text: "text of \(id)", timestamp: time, from: waiter)
    }

    /// The batch of a `.commit`, or nil.
    func batch(_ actions: [Log.Action]) -> [ChatMessage]? {
        for case .commit(let batch) in actions { return batch }
        return nil
    }

    func acks(_ actions: [Log.Action]) -> [(waiters: [Int], id: String, offset: Int64)] {
        actions.compactMap { if case .ack(let waiters, let id, let offset) = $0 { (waiters, id, offset) } else { nil } }
    }

    func announced(_ actions: [Log.Action]) -> [String] {
        actions.compactMap { if case .announce(_, let frame) = $0 { frame } else { nil } }
    }

    func failed(_ actions: [Log.Action]) -> [String] {
        actions.compactMap { if case .fail(_, let id) = $0 { id } else { nil } }
    }

    @Test func nothingIsAcknowledgedBeforeItsCommitReturns() {
        var log = log()
        let accepted = submit(&log, "m1", at: 42)
        #expect(acks(accepted).isEmpty && announced(accepted).isEmpty, "an ack before the commit returned")
        let written = try! #require(batch(accepted))
        #expect(written.map(\.offset) == [1] && written[0].timestamp == 42 && written[0].room == room)
        #expect(!log.isIdle)
        let done = log.committed()
        #expect(announced(done) == ["text of m1"])
        #expect(acks(done).map(\.offset) == [1] && acks(done).map(\.waiters) == [[1]])
        #expect(log.isIdle && log.lastOffset == 1)
    }

    @Test func messagesArrivingDuringACommitGoInTheNextBatchInOrder() {
        var log = log()
        _ = submit(&log, "m1")
        #expect(submit(&log, "m2").isEmpty && submit(&log, "m3", from: 2).isEmpty, "one commit at a time")
        let next = log.committed()
        #expect(acks(next).map(\.id) == ["m1"])
        #expect(batch(next)?.map(\.offset) == [2, 3])
        let last = log.committed()
        #expect(announced(last) == ["text of m2", "text of m3"] && acks(last).map(\.waiters) == [[1], [2]])
        #expect(batch(last) == nil && log.isIdle)
    }

    @Test func aRetryWaitsWithTheOriginalOrIsAckedWithItsOffset() {
        var log = log()
        _ = submit(&log, "m1", from: 1)
        #expect(submit(&log, "m1", from: 2).isEmpty, "the retry of a message in flight waits for it")
        let done = log.committed()
        #expect(acks(done).count == 1 && acks(done)[0].waiters == [1, 2] && acks(done)[0].offset == 1)
        let again = submit(&log, "m1", from: 3)
        #expect(batch(again) == nil && acks(again).map(\.offset) == [1], "stored once, acked with its offset")
    }

    /// The messages of a `.reconcile`, or nil.
    func reconcile(_ actions: [Log.Action]) -> [ChatMessage]? {
        for case .reconcile(let batch) in actions { return batch }
        return nil
    }

    @Test func anUnconfirmedCommitAcksNothingAndAsksTheStoreBeforeWritingMore() {
        var log = log()
        _ = submit(&log, "m1")
        _ = submit(&log, "m2")
        let after = log.commitFailed(.unavailable)
        #expect(failed(after) == ["m1"] && acks(after).isEmpty, "its sender is told to send again at once")
        #expect(batch(after) == nil, "nothing more is written before the store says what it holds")
        #expect(reconcile(after)?.map(\.offset) == [1])
        // The store holds nothing there: the offsets go to what follows, and the offsets stay dense.
        let lost = log.reconciled([])
        #expect(batch(lost)?.map(\.clientID) == ["m2"] && batch(lost)?.map(\.offset) == [1])
        _ = log.committed()
        #expect(log.lastOffset == 1)
        #expect(batch(submit(&log, "m1"))?.map(\.offset) == [2], "sent again, m1 is a new message")
    }

    @Test func aCommitThatLandedLateIsAnnouncedAndItsResendAckedAtItsOffset() {
        var log = log()
        let m1 = try! #require(batch(submit(&log, "m1", from: 1)))
        _ = log.commitFailed(.unavailable)
        // The sender resends while the store is being asked: it waits as a new message.
        #expect(batch(submit(&log, "m1", from: 2)) == nil)
        _ = submit(&log, "m2", from: 3)
        let landed = log.reconciled(m1)
        #expect(announced(landed) == ["text of m1"], "everyone sees the message that was stored")
        #expect(acks(landed).map(\.offset) == [1] && acks(landed).map(\.waiters) == [[2]], "the resend is acked at the stored offset")
        #expect(batch(landed)?.map(\.clientID) == ["m2"] && batch(landed)?.map(\.offset) == [2], "not written twice")
        _ = log.committed()
        #expect(acks(submit(&log, "m1", from: 4)).map(\.offset) == [1])
    }

    @Test func whileTheStoreCannotSayEverythingWaitingIsToldToSendAgain() {
        var log = log()
        _ = submit(&log, "m1")
        _ = log.commitFailed(.unavailable)
        _ = submit(&log, "m2", from: 2)
        let down = log.reconcileFailed()
        #expect(failed(down) == ["m2"] && reconcile(down)?.map(\.clientID) == ["m1"], "told at once; the store asked again")
        #expect(!log.isIdle)
        let back = log.reconciled([])
        #expect(batch(back) == nil && log.isIdle)
        #expect(batch(submit(&log, "m2", from: 2))?.map(\.offset) == [1])
    }

    /// A write the store timed out on was still on its way when the store said it held nothing: it lands, and the
    /// next write at its offsets conflicts. The late messages are announced and the conflicting batch written
    /// after them, nothing failed and nothing twice.
    @Test func aWriteThatLandsAfterTheStoreSaidItHadNothingIsAnnouncedWhenTheNextConflicts() {
        var log = log()
        let late = try! #require(batch(submit(&log, "late", from: 1)))
        _ = log.commitFailed(.unavailable)
        _ = submit(&log, "a1", from: 2)
        _ = submit(&log, "b1", from: 3)
        let nothingYet = log.reconciled([])
        #expect(batch(nothingYet)?.map(\.offset) == [1, 2], "the offsets of the lost write are used again")
        #expect(reconcile(log.commitFailed(.conflict))?.map(\.offset) == [1, 2])
        let landed = log.reconciled(late)
        #expect(announced(landed) == ["text of late"] && failed(landed).isEmpty)
        #expect(batch(landed)?.map(\.clientID) == ["a1", "b1"] && batch(landed)?.map(\.offset) == [2, 3])
        let written = log.committed()
        #expect(acks(written).map(\.waiters) == [[2], [3]] && log.isIdle && log.lastOffset == 3)
        #expect(acks(submit(&log, "late", from: 4)).map(\.offset) == [1], "the resend is acked at its stored offset")
    }

    @Test func anotherWritersMessagesAtTheOffsetsMeanTheRoomMoved() {
        var log = log()
        _ = submit(&log, "m1")
        _ = log.commitFailed(.unavailable)
        let theirs = ChatMessage(
            room: room, offset: 1, clientID: "x", sender: ParticipantID("bob"), senderName: "Bob", text: "hi", timestamp: 1)
        let after = log.reconciled([theirs])
        guard case .moveAway = after.first else { Issue.record("the room moves away: \(after)"); return }
        #expect(log.hasMoved)
    }

    @Test func aLostFenceStopsTheLogWithoutAcknowledgingAnything() {
        var log = log()
        _ = submit(&log, "m1")
        _ = submit(&log, "m2")
        let after = log.commitFailed(.fenced)
        #expect(after.count == 1)
        guard case .moveAway = after.first else { Issue.record("the room moves away"); return }
        #expect(log.hasMoved && log.isIdle)
        #expect(submit(&log, "m3").isEmpty, "a moved room takes nothing more")
    }

    @Test func aConflictSplitsTheBatchAndAcksAnOldDuplicateWithItsStoredOffset() {
        var log = log()
        _ = submit(&log, "m1")
        _ = submit(&log, "old", from: 2)
        _ = submit(&log, "m3", from: 3)
        _ = log.committed()  // m1 at 1; [old, m3] at 2, 3 in flight
        // "old" was stored long ago, under offset 0… of another life: the batch conflicts. The store holds
        // nothing at its offsets, so the conflict is a retry.
        #expect(reconcile(log.commitFailed(.conflict))?.map(\.offset) == [2, 3], "what is at the offsets is read first")
        let split = log.reconciled([])
        #expect(batch(split)?.map(\.clientID) == ["old"] && batch(split)?.map(\.offset) == [2])
        #expect(reconcile(log.commitFailed(.conflict))?.map(\.clientID) == ["old"])
        let lookUp = log.reconciled([])
        guard case .lookUp(let duplicate)? = lookUp.first else { Issue.record("a duplicate is looked up"); return }
        #expect(duplicate.clientID == "old")
        _ = submit(&log, "m4", from: 4)  // arrives meanwhile
        let resolved = log.lookedUp(17)
        #expect(acks(resolved).map(\.offset) == [17] && acks(resolved).map(\.waiters) == [[2]])
        #expect(batch(resolved)?.map(\.clientID) == ["m3"] && batch(resolved)?.map(\.offset) == [2], "the duplicate took no offset")
        let next = log.committed()
        #expect(acks(next).map(\.offset) == [2])
        #expect(batch(next)?.map(\.clientID) == ["m4"] && batch(next)?.map(\.offset) == [3])
        _ = log.committed()
        #expect(log.isIdle && log.lastOffset == 3)
    }

    @Test func aDuplicateThatCannotBeFoundIsToldToSendAgain() {
        var log = log()
        _ = submit(&log, "m1")
        _ = log.commitFailed(.conflict)  // nothing at its offset: written one by one, conflicts again
        _ = log.reconciled([])
        _ = log.commitFailed(.conflict)
        _ = log.reconciled([])
        let resolved = log.lookedUp(nil)
        #expect(failed(resolved) == ["m1"] && log.isIdle)
    }

    @Test func theRingRemembersTheNewestKeysAndServesRecovery() {
        var log = log(capacity: 2)
        for id in ["a", "b", "c"] {
            _ = submit(&log, id)
            _ = log.committed()
        }
        #expect(log.recover(since: 1) == ["text of b", "text of c"])
        #expect(log.recover(since: 0) == nil, "older than the ring")
        #expect(log.recover(since: 3) == [])
        #expect(acks(submit(&log, "c")).map(\.offset) == [3], "in the ring: acked at once")
        #expect(batch(submit(&log, "a")) != nil, "pushed out of the ring: the store decides (a conflict)")
    }

    @Test func aLogContinuesFromTheStore() {
        let stored = (4...6).map {
            ChatMessage(room: room, offset: $0, clientID: "s\($0)", sender: ann, senderName: "Ann", text: "t\($0)", timestamp: 0)
        }
        var log = log(capacity: 10, recent: stored, lastOffset: 6)
        #expect(log.lastOffset == 6 && log.recover(since: 4) == ["t5", "t6"])
        #expect(acks(submit(&log, "s5")).map(\.offset) == [5], "retries of stored messages are recognised after a restart")
        #expect(batch(submit(&log, "new"))?.map(\.offset) == [7])
    }
}
