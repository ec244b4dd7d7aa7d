public import PlazaCore
import Logging
import Synchronization

/// A conference as its bridge runs it: where browsers enter it and what they need to, and the secret that lets
/// Plaza change it (which never leaves the server).
public struct BridgeRoom: Sendable, Equatable {
    /// The bridge's WebSocket URL, for browsers.
    public var url: String
    /// The bridge's room (a Janus VideoRoom id).
    public var room: Int64
    /// Needed to enter the room, with a participant's token.
    public var pin: String
    /// Needed to change or destroy the room; Plaza keeps it.
    public var secret: String
    /// The bridge carrying it (its id in the fleet's registry, or its control URL for one configured bridge).
    public var bridge: String
    /// Where Plaza drives that bridge (a Janus's Admin API).
    public var control: String

    public init(url: String, room: Int64, pin: String, secret: String, bridge: String, control: String) {
        (self.url, self.room, self.pin, self.secret, self.bridge, self.control) = (url, room, pin, secret, bridge, control)
    }
}

/// A media bridge that carries a room's conferences (Janus, driven through its Admin API). Every call may fail
/// (the bridge is down or refuses); the caller tries again.
public protocol ConferenceBridge: Sendable {
    /// Creates conference `id` of `room` on the bridge, with room for `publishers` publishers.
    func open(_ id: String, of room: RoomName, publishers: Int) async throws -> BridgeRoom
    /// A fresh credential that admits `participant` to the bridge; it enters `conference` with the room's pin.
    func admit(_ participant: ParticipantID, to conference: BridgeRoom) async throws -> String
    /// Takes `participant`'s credential back and sends it out of `conference`.
    func dismiss(_ participant: ParticipantID, token: String, from conference: BridgeRoom) async throws
    /// Ends `conference` on the bridge; its participants are dropped.
    func close(_ conference: BridgeRoom) async throws
    /// Whether `conference` still runs where it was opened: false when its bridge died or is no longer where the
    /// room's conferences are placed (it is then opened again elsewhere, and its participants admitted there).
    /// Throws when it cannot tell.
    func isServing(_ conference: BridgeRoom, of room: RoomName) async throws -> Bool
    /// Ends the conferences an earlier run of this server left on the bridge (it stopped without closing them:
    /// a crash); the number ended. Asked once, at start.
    func sweep() async throws -> Int
    /// Sends out of `conference` whoever is in it without being one of `members` (a client that named itself
    /// otherwise than its participant id, or one dismissed while it lied so); the number sent out.
    func police(_ conference: BridgeRoom, members: Set<ParticipantID>) async throws -> Int
}

extension ConferenceBridge {
    public func sweep() async throws -> Int { 0 }
    public func police(_ conference: BridgeRoom, members: Set<ParticipantID>) async throws -> Int { 0 }
}

/// What must happen on the bridge to go from what is there to what the room wants. Pure.
struct ConferenceWork: Equatable {
    /// Participants to send out of the conference they were admitted to.
    var dismiss: [ParticipantID] = []
    /// Conferences to create.
    var open: [String] = []
    /// Participants to admit to the conference the room wants them in, once it is open.
    var admit: [ParticipantID] = []
    /// Open conferences nobody is wanted in any more.
    var close: [String] = []

    var isEmpty: Bool { dismiss.isEmpty && open.isEmpty && admit.isEmpty && close.isEmpty }

    /// `wanted`: each participant's conference, as the room's plan says; `admitted`: where each participant holds
    /// a credential now; `open`: the conferences on the bridge.
    static func plan(wanted: [ParticipantID: String], admitted: [ParticipantID: String], open: Set<String>) -> ConferenceWork {
        var work = ConferenceWork()
        work.dismiss = admitted.filter { wanted[$0.key] != $0.value }.map(\.key).sorted()
        let needed = Set(wanted.values)
        work.open = needed.subtracting(open).sorted()
        work.admit = wanted.filter { admitted[$0.key] != $0.value }.map(\.key).sorted()
        work.close = open.subtracting(needed).sorted()
        return work
    }
}

/// Carries a room's conference plan out on its bridge, in the background: the room states who it wants in which
/// conference (`want`); one task (`run`) brings the bridge there — creating conferences, admitting and dismissing
/// participants, closing empty conferences — and hands each admission back to the room, which tells the
/// participant. Works from the latest wish, not a queue of changes, so it holds no more than one entry per
/// participant however fast people move, and a failed call is simply tried again a second later.
final class ConferenceKeeper: Sendable {
    let bridge: any ConferenceBridge
    /// Publishers a conference has room for: the room's participant limit.
    let publishers: Int
    let logger: Logger
    private let wish = Mutex<Wish>(Wish())
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>

    struct Wish: Equatable {
        var conferences: [ParticipantID: String] = [:]
        /// Participants the room has not told of the conference it wants them in (an admission that came while
        /// they were elsewhere, a page reloaded): told again with the credential they hold.
        var untold: Set<ParticipantID> = []
        /// The room is gone: dismiss everyone, close everything, then stop.
        var finished = false
    }

    /// Time between two tries at calls that failed.
    static let retryPause: Duration = .seconds(1)
    /// How often open conferences are checked for a bridge that died or moved (`isServing`).
    public static let checkInterval: Duration = .seconds(2)
    /// How long a room that is gone keeps trying to leave its bridge clean (a bridge that does not answer must not
    /// hold a shutdown up).
    static let cleanupTime: Duration = .seconds(10)

    init(bridge: any ConferenceBridge, publishers: Int, logger: Logger) {
        (self.bridge, self.publishers, self.logger) = (bridge, publishers, logger)
        (wakes, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// The room's latest plan: each participant's conference (participants not named talk peer-to-peer), and
    /// those of them it has not told yet.
    func want(_ conferences: [ParticipantID: String], untold: Set<ParticipantID>) {
        let changed = wish.withLock { wish in
            let next = Wish(conferences: conferences, untold: untold, finished: wish.finished)
            defer { wish = next }
            return next != wish
        }
        if changed { wake.yield() }
    }

    /// Asks for a pass now: the room's own loop calls it every `checkInterval`, for the checks.
    func poke() { wake.yield() }

    /// Whether the room is gone (`finish()`).
    var isFinished: Bool { wish.withLock { $0.finished } }

    /// The room is gone.
    func finish() {
        wish.withLock { $0 = Wish(conferences: [:], untold: [], finished: true) }
        wake.yield()
        wake.finish()
    }

    /// Brings the bridge to the room's wish until `finish()`. `admitted` hands a participant's admission to the
    /// room, which answers whether it told the participant (not when the plan has moved it on meanwhile).
    func run(room: RoomName, admitted: @escaping @Sendable (ParticipantID, String, BridgeRoom, String) async -> Bool) async {
        var open: [String: BridgeRoom] = [:]
        var tokens: [ParticipantID: (conference: String, token: String)] = [:]
        var iterator = wakes.makeAsyncIterator()
        var finishedAt: ContinuousClock.Instant?
        var lastCheck = ContinuousClock.now
        /// One warning per outage of the bridge (calls are retried every second), and a notice when it is over.
        var warned = false
        func warn(_ message: Logger.Message, _ metadata: Logger.Metadata) {
            guard !warned else { return }
            warned = true
            logger.warning(message, metadata: metadata)
        }
        while true {
            let wish = self.wish.withLock { $0 }
            /// Conferences opened again elsewhere this pass, whose old rooms go once everyone is told the new place.
            var abandoned: [BridgeRoom] = []
            if !wish.finished, ContinuousClock.now - lastCheck >= Self.checkInterval {
                lastCheck = .now
                for (id, conference) in open {
                    switch try? await bridge.isServing(conference, of: room) {
                    case false?:
                        // Its bridge died or moved: open it again (where the room's conferences are placed now) and
                        // admit its participants there; they are told the new place.
                        logger.warning("a conference lost its bridge; opening it again", metadata: ["conference": "\(id)"])
                        open[id] = nil
                        tokens = tokens.filter { $0.value.conference != id }
                        abandoned.append(conference)
                    case true?:
                        let members = Set(tokens.filter { $0.value.conference == id }.keys)
                        if let sent = try? await bridge.police(conference, members: members), sent > 0 {
                            logger.notice("sent out of a conference who was not one of its members", metadata: ["conference": "\(id)", "sent": "\(sent)"])
                        }
                    case nil: break
                    }
                }
            }
            let work = ConferenceWork.plan(wanted: wish.conferences, admitted: tokens.mapValues(\.conference), open: Set(open.keys))
            var failed = false
            for participant in work.dismiss {
                guard let held = tokens[participant] else { continue }
                if let conference = open[held.conference] {
                    do {
                        try await bridge.dismiss(participant, token: held.token, from: conference)
                    } catch {
                        failed = true
                        warn("could not dismiss a participant from its conference; trying again every second", ["error": "\(error)"])
                        continue
                    }
                }
                tokens[participant] = nil
            }
            for id in work.open {
                do {
                    open[id] = try await bridge.open(id, of: room, publishers: publishers)
                } catch {
                    failed = true
                    warn("could not open a conference on the bridge; trying again every second", ["conference": "\(id)", "error": "\(error)"])
                }
            }
            var admittedNow: Set<ParticipantID> = []
            for participant in work.admit {
                // A credential elsewhere that could not be taken back yet is taken back first.
                guard tokens[participant] == nil, let id = wish.conferences[participant], let conference = open[id] else { continue }
                do {
                    let token = try await bridge.admit(participant, to: conference)
                    tokens[participant] = (id, token)
                    admittedNow.insert(participant)
                    _ = await admitted(participant, id, conference, token)
                } catch {
                    failed = true
                    warn("could not admit a participant to its conference; trying again every second", ["error": "\(error)"])
                }
            }
            for participant in wish.untold.subtracting(admittedNow) {
                guard let held = tokens[participant], held.conference == wish.conferences[participant],
                    let conference = open[held.conference]
                else { continue }
                _ = await admitted(participant, held.conference, conference, held.token)
            }
            // Where the old bridge still answers (the room was placed elsewhere), its old rooms go; their tokens
            // admit to no other room. A dead bridge makes this wait for its timeout, after everyone was told.
            for conference in abandoned { try? await bridge.close(conference) }
            for id in work.close where !tokens.values.contains(where: { $0.conference == id }) {
                guard let conference = open[id] else { continue }
                do {
                    try await bridge.close(conference)
                    open[id] = nil
                } catch {
                    failed = true
                    warn("could not close a conference on the bridge; trying again every second", ["conference": "\(id)", "error": "\(error)"])
                }
            }
            if wish.finished {
                let since = finishedAt ?? .now
                finishedAt = since
                if (open.isEmpty && tokens.isEmpty) || ContinuousClock.now - since >= Self.cleanupTime {
                    if !(open.isEmpty && tokens.isEmpty) {
                        logger.warning("left conferences on the bridge: it did not answer", metadata: ["conferences": "\(open.count)"])
                    }
                    return
                }
            }
            if warned, !failed {
                warned = false
                logger.notice("the bridge answers again: the room's conferences are where the plan wants them")
            }
            if failed || wish.finished {
                try? await Task.sleep(for: Self.retryPause)
                continue
            }
            // Something changed meanwhile: another pass at once; otherwise wait for the next wish.
            if self.wish.withLock({ $0 != wish }) { continue }
            guard await iterator.next() != nil else { continue }
        }
    }
}
