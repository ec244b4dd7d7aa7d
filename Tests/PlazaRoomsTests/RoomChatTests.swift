import Testing
import Foundation
import Logging
import Synchronization
import PlazaCore
import PlazaProtocol
import PlazaStore
import PlazaAuth
import PlazaMetrics
import PlazaRooms

/// A connection that records what the room sends it.
final class RecordingOutbound: Outbound {
    private let state = Mutex<(frames: [[UInt8]], close: CloseCode?)>(([], nil))

    func requestFlush() {}

    func send(_ frame: OutboundFrame, in burst: inout FlushBurst) -> Bool {
        state.withLock { state in
            guard state.close == nil else { return false }
            state.frames.append(frame.bytes)
            return true
        }
    }

    func close(_ code: CloseCode, reason: String) {
        state.withLock { if $0.close == nil { $0.close = code } }
    }

    var closed: CloseCode? { state.withLock { $0.close } }

    /// The frames received so far, parsed.
    var frames: [ParsedFrame] {
        state.withLock { $0.frames }.compactMap { bytes in
            (try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]).map(ParsedFrame.init)
        }
    }

    func frames(_ type: String) -> [ParsedFrame] { frames.filter { $0.string("type") == type } }
}

/// A frame's JSON object.
struct ParsedFrame: @unchecked Sendable {
    let object: [String: Any]
    func string(_ key: String) -> String? { object[key] as? String }
    func int(_ key: String) -> Int64? { (object[key] as? NSNumber)?.int64Value }
}

/// A chat store whose writes the test holds and fails at will.
actor ScriptedStore: ChatStore {
    enum Outcome {
        case store, fail(StoreError.Kind)
        /// Stores the messages, then fails as a timeout would: the writer cannot tell.
        case storeButFail
    }

    private(set) var stored: [ChatMessage] = []
    private var held = false
    private var waiting: [CheckedContinuation<Void, Never>] = []
    private var outcomes: [Outcome] = []
    private(set) var appendsStarted = 0
    /// Whether reads fail, as from a store that is down.
    private var readsFail = false

    func setReadsFail(_ value: Bool) { readsFail = value }

    /// Writes wait until `release()`.
    func hold() { held = true }

    func release() {
        held = false
        for continuation in waiting { continuation.resume() }
        waiting.removeAll()
    }

    /// The next writes end this way, in order (then they store).
    func script(_ outcomes: Outcome...) { self.outcomes += outcomes }

    func append(_ messages: [ChatMessage], fence: Fence?) async throws {
        appendsStarted += 1
        while held { await withCheckedContinuation { waiting.append($0) } }
        let outcome = outcomes.isEmpty ? Outcome.store : outcomes.removeFirst()
        if case .fail(let kind) = outcome { throw StoreError(kind, "scripted") }
        guard messages.allSatisfy({ m in !stored.contains { $0.offset == m.offset || ($0.sender == m.sender && $0.clientID == m.clientID) } })
        else { throw StoreError(.conflict, "duplicate") }
        stored += messages
        if case .storeButFail = outcome { throw StoreError(.unavailable, "scripted timeout") }
    }

    func messages(in room: RoomName, after offset: Int64, limit: Int) async throws -> [ChatMessage] {
        if readsFail { throw StoreError(.unavailable, "scripted outage") }
        return Array(stored.filter { $0.offset > offset }.prefix(limit))
    }
    func messages(in room: RoomName, before offset: Int64, limit: Int) async throws -> [ChatMessage] {
        Array(stored.filter { $0.offset < offset }.suffix(limit))
    }
    func latestMessages(in room: RoomName, limit: Int) async throws -> [ChatMessage] { Array(stored.suffix(limit)) }
    func offset(in room: RoomName, sender: ParticipantID, clientID: String) async throws -> Int64? {
        stored.first { $0.sender == sender && $0.clientID == clientID }?.offset
    }
    func lastOffset(in room: RoomName) async throws -> Int64 { stored.last?.offset ?? 0 }
    func ping() async throws {}
    func close() async throws {}
}

/// A room with a scripted store, a manual clock and recording connections; its commit loop runs for the test.
struct RoomFixture {
    let room: Room
    let store: ScriptedStore
    let clock = ManualClock(wallMilliseconds: 1_750_000_000_000)
    let loop: Task<Void, Never>

    static func start(store: ScriptedStore = ScriptedStore(), fence: Fence? = nil) async throws -> RoomFixture {
        let clock = ManualClock(wallMilliseconds: 1_750_000_000_000)
        let room = try await Room.load(
            name: RoomName("lobby")!, store: store, fence: fence, configuration: RoomsConfiguration(), space: SpaceConfiguration(),
            arrivals: Arrivals(spawn: Position(x: 0, y: 0)), metrics: PlazaMetrics(), clock: clock, logger: Logger(label: "test"))
        return RoomFixture(room: room, store: store, clock: clock, loop: Task { await room.run() })
    }

    private init(room: Room, store: ScriptedStore, clock: ManualClock, loop: Task<Void, Never>) {
        self.room = room
        self.store = store
        self.loop = loop
    }

    /// A participant's connection, attached.
    func join(_ name: String, connection: UInt64) async throws -> RecordingOutbound {
        let outbound = RecordingOutbound()
        let grant = Grant(
            participant: ParticipantID(name.lowercased()), name: name, room: room.name, role: .member, expiresAt: .distantFuture)
        try await room.attach(ConnectionID(connection), outbound, grant: grant, name: name, since: nil, audio: false, video: false)
        return outbound
    }

    func stop() async {
        await room.moveAway()
        await loop.value
    }
}

/// Polls until `condition` holds (the room works in its own tasks); false after two seconds.
func eventually(_ condition: () async -> Bool) async -> Bool {
    for _ in 0..<200 {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}

@Suite struct RoomChatTests {
    @Test func anAckGoesOutOnlyAfterTheStoreReturned() async throws {
        let fixture = try await RoomFixture.start()
        let ann = try await fixture.join("Ann", connection: 1)
        let bob = try await fixture.join("Bob", connection: 2)
        await fixture.store.hold()
        await fixture.room.chat(from: ConnectionID(1), id: "m1", text: "hello")
        #expect(await eventually { await fixture.store.appendsStarted == 1 })
        try await Task.sleep(for: .milliseconds(50))
        #expect(ann.frames("ack").isEmpty, "acknowledged before the commit returned")
        #expect(bob.frames("chat").isEmpty, "announced before the commit returned")
        await fixture.store.release()
        #expect(await eventually { ann.frames("ack").count == 1 })
        #expect(ann.frames("ack")[0].int("offset") == 1)
        let chat = try #require(bob.frames("chat").first)
        #expect(chat.string("text") == "hello" && chat.int("ts") == 1_750_000_000_000, "stamped by the room's clock")
        #expect(await fixture.store.stored.map(\.offset) == [1])
        await fixture.stop()
    }

    @Test func aStoreFailureIsAnErrorNotAnAckAndTheRetryIsStoredOnce() async throws {
        let fixture = try await RoomFixture.start()
        let ann = try await fixture.join("Ann", connection: 1)
        await fixture.store.script(.fail(.unavailable))
        await fixture.room.chat(from: ConnectionID(1), id: "m1", text: "hello")
        #expect(await eventually { !ann.frames("error").isEmpty })
        let error = ann.frames("error")[0]
        #expect(error.string("code") == "store_unavailable" && error.string("ref") == "m1")
        let stored = await fixture.store.stored
        #expect(ann.frames("ack").isEmpty && stored.isEmpty)
        // The client sends it again, twice (a retry of the retry): stored once, acked twice at offset 1.
        await fixture.room.chat(from: ConnectionID(1), id: "m1", text: "hello")
        await fixture.room.chat(from: ConnectionID(1), id: "m1", text: "hello")
        #expect(await eventually { ann.frames("ack").count == 2 })
        #expect(ann.frames("ack").map { $0.int("offset") } == [1, 1])
        #expect(await fixture.store.stored.map(\.clientID) == ["m1"])
        await fixture.stop()
    }

    @Test func aWriteStoredAfterItTimedOutIsShownToEveryoneAndItsResendAckedOnce() async throws {
        let fixture = try await RoomFixture.start()
        let ann = try await fixture.join("Ann", connection: 1)
        let bob = try await fixture.join("Bob", connection: 2)
        await fixture.store.script(.storeButFail)
        await fixture.room.chat(from: ConnectionID(1), id: "m1", text: "hello")
        #expect(await eventually { !ann.frames("error").isEmpty }, "told to send again, not left waiting")
        #expect(await eventually { bob.frames("chat").count == 1 }, "the stored message is shown")
        await fixture.room.chat(from: ConnectionID(1), id: "m1", text: "hello")
        #expect(await eventually { ann.frames("ack").count == 1 })
        #expect(ann.frames("ack")[0].int("offset") == 1 && bob.frames("chat").count == 1)
        #expect(await fixture.store.stored.map(\.clientID) == ["m1"])
        await fixture.room.chat(from: ConnectionID(2), id: "b1", text: "next")
        #expect(await eventually { ann.frames("chat").count == 2 })
        #expect(await fixture.store.stored.map(\.offset) == [1, 2])
        await fixture.stop()
    }

    @Test func whileTheStoreIsDownEveryMessageGetsAnErrorAndChatResumesByItself() async throws {
        let fixture = try await RoomFixture.start()
        let ann = try await fixture.join("Ann", connection: 1)
        await fixture.store.setReadsFail(true)
        await fixture.store.script(.fail(.unavailable))
        await fixture.room.chat(from: ConnectionID(1), id: "m1", text: "one")
        #expect(await eventually { ann.frames("error").count == 1 })
        await fixture.room.chat(from: ConnectionID(1), id: "m2", text: "two")
        #expect(await eventually { ann.frames("error").count == 2 }, "an error, not silence, while the store is down")
        #expect(ann.frames("ack").isEmpty)
        await fixture.store.setReadsFail(false)
        await fixture.room.chat(from: ConnectionID(1), id: "m2", text: "two")
        #expect(await eventually { ann.frames("ack").count == 1 })
        #expect(await fixture.store.stored.map(\.clientID) == ["m2"] && ann.frames("ack")[0].int("offset") == 1)
        await fixture.stop()
    }

    @Test func aLostFenceSendsEveryoneAwayWithoutAnAck() async throws {
        let fixture = try await RoomFixture.start(fence: Fence(node: "node-a", epoch: 1))
        let ann = try await fixture.join("Ann", connection: 1)
        let bob = try await fixture.join("Bob", connection: 2)
        await fixture.store.script(.fail(.fenced))
        await fixture.room.chat(from: ConnectionID(1), id: "m1", text: "hello")
        #expect(await eventually { ann.closed == .moved && bob.closed == .moved })
        #expect(ann.frames("ack").isEmpty && bob.frames("chat").isEmpty)
        #expect(fixture.room.isRetired)
        await fixture.loop.value  // the commit loop ends with the room
    }

    @Test func closingWaitsForTheCommitInFlight() async throws {
        let fixture = try await RoomFixture.start()
        let ann = try await fixture.join("Ann", connection: 1)
        await fixture.store.hold()
        await fixture.room.chat(from: ConnectionID(1), id: "m1", text: "last words")
        #expect(await eventually { await fixture.store.appendsStarted == 1 })
        let closing = Task { await fixture.room.closeAll(.goingAway, reason: "shutting down") }
        try await Task.sleep(for: .milliseconds(50))
        #expect(ann.closed == nil, "closed before its message was committed")
        await fixture.store.release()
        await closing.value
        #expect(ann.frames("ack").map { $0.int("offset") } == [1] && ann.closed == .goingAway)
        await fixture.stop()
    }

    @Test func anEmptyRoomUnloadsAfterItsIdleTimeOnTheRoomsClock() async throws {
        let clock = ManualClock()
        let registry = RoomRegistry(
            store: ScriptedStore(), claims: SoleHost(), configuration: RoomsConfiguration(), space: SpaceConfiguration(),
            arrivals: Arrivals(spawn: Position(x: 0, y: 0)), metrics: PlazaMetrics(), clock: clock, logger: Logger(label: "test"))
        let loops = Task { await registry.run() }
        let room = try await registry.room(RoomName("lobby")!)
        let outbound = RecordingOutbound()
        let grant = Grant(participant: ParticipantID("ann"), name: "Ann", room: room.name, role: .member, expiresAt: .distantFuture)
        try await room.attach(ConnectionID(1), outbound, grant: grant, name: "Ann", since: nil, audio: false, video: false)
        await room.detach(ConnectionID(1))
        clock.advance(by: .seconds(29))
        await registry.sweep()
        #expect(await registry.loadedRooms.count == 1, "unloaded before rooms.idleUnload (30 s)")
        clock.advance(by: .seconds(2))
        await registry.sweep()
        let loaded = await registry.loadedRooms
        #expect(loaded.isEmpty && room.isRetired)
        await registry.close()
        await loops.value
    }
}
