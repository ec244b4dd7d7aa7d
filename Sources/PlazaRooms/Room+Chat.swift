public import PlazaCore
import PlazaProtocol
import PlazaStore

/// Chat in a room: where a chat message becomes durable. The room's `ChatLog` decides (offsets, batches, acks,
/// de-duplication); this file carries its actions out: the commit loop writes each batch to the store (through
/// the room's fence on a fleet node), and only when that write has returned are the messages announced and
/// their senders acked.
extension Room {
    typealias LogAction = ChatLog<ConnectionID, OutboundFrame>.Action

    /// A `chat` frame from `connection`.
    public func chat(from connection: ConnectionID, id: String, text: String) {
        guard let outbound = connections[connection], let sender = state.participant(for: connection),
            let snapshot = state.snapshot(of: sender)
        else { return }
        guard id.utf8.count <= state.limits.messageIDLength else {
            return sendError(
                .invalidFrame, "'id' is longer than \(state.limits.messageIDLength) bytes", ref: String(id.prefix(16)), to: outbound)
        }
        guard text.unicodeScalars.count <= state.limits.chatTextLength else {
            return sendError(.textTooLong, "chat text is longer than \(state.limits.chatTextLength) characters", ref: id, to: outbound)
        }
        perform(
            log.submit(
                sender: sender, senderName: snapshot.name, clientID: id, text: text, timestamp: clock.wallMilliseconds,
                from: connection))
    }

    /// Time between two questions to a store that could not say whether a write was stored.
    static let reconcilePause: Duration = .milliseconds(500)

    /// The room's background work, for its lifetime: the commit loop and, with a bridge, its conferences. Ends
    /// when the room is unloaded or moves away. Run by the registry as a child task of its own.
    public func run() async {
        await withDiscardingTaskGroup { group in
            if let keeper = conferenceKeeper {
                group.addTask { [name] in
                    await keeper.run(room: name) { participant, id, conference, token in
                        await self.conferenceAdmitted(participant, to: id, on: conference, token: token)
                    }
                }
                group.addTask {
                    while !keeper.isFinished, !Task.isCancelled {
                        try? await Task.sleep(for: ConferenceKeeper.checkInterval)
                        keeper.poke()
                    }
                }
            }
            group.addTask { await self.commitLoop() }
        }
    }

    /// Writes what the log asks for, one batch (or look-up) at a time, and hands each outcome back to the log.
    func commitLoop() async {
        var reconcileFailed = false
        for await work in commits {
            switch work {
            case .commit(let batch):
                let started = clock.now
                let failure: ChatLog<ConnectionID, OutboundFrame>.Failure
                do {
                    try await store.append(batch, fence: fence)
                    metrics.storeWriteLatency.record(clock.now - started)
                    perform(log.committed())
                    continue
                } catch let error as StoreError where error.kind == .fenced {
                    logger.warning("the room moved to another node; its clients are sent there", metadata: ["error": "\(error)"])
                    failure = .fenced
                } catch let error as StoreError where error.kind == .conflict {
                    failure = .conflict
                } catch {
                    logger.error("chat write not confirmed; its senders are told to send again", metadata: ["error": "\(error)"])
                    failure = .unavailable
                }
                perform(log.commitFailed(failure))
            case .lookUp(let message):
                let stored = try? await store.offset(in: name, sender: message.sender, clientID: message.clientID)
                perform(log.lookedUp(stored ?? nil))
            case .reconcile(let batch):
                // Asked again after a failure: pace the questions while the store is down.
                if reconcileFailed { try? await Task.sleep(for: Self.reconcilePause) }
                do {
                    let found = try await store.messages(in: name, after: batch[0].offset - 1, limit: batch.count)
                    reconcileFailed = false
                    perform(log.reconciled(found))
                } catch {
                    if !reconcileFailed {
                        logger.error("the store cannot say whether a chat write was stored; asking again", metadata: ["error": "\(error)"])
                    }
                    reconcileFailed = true
                    perform(log.reconcileFailed())
                }
            case .announce, .ack, .fail, .moveAway:
                break  // carried out by `perform`, never queued
            }
        }
    }

    /// Carries out the log's actions, in order.
    func perform(_ actions: [LogAction]) {
        for action in actions {
            switch action {
            case .commit, .lookUp, .reconcile:
                commitRequests.yield(action)
            case .announce(_, let frame):
                broadcast(frame)
            case .ack(let waiters, let clientID, let offset):
                let frame = OutboundFrame(ServerFrame.ack(id: clientID, offset: offset), .ack)
                for waiter in waiters { if let outbound = connections[waiter] { send(frame, to: outbound) } }
            case .fail(let waiters, let clientID):
                for waiter in waiters {
                    guard let outbound = connections[waiter] else { continue }
                    sendError(.storeUnavailable, "the message could not be stored; send it again", ref: clientID, to: outbound)
                }
            case .moveAway:
                moveAway()
            }
        }
        resumeIdleWaiters()
    }
}
