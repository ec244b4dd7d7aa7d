import Testing
import PlazaFleetModel
import Foundation
import Logging
import PlazaCore
import PlazaStore
import PlazaTesting

/// The store contract. Every engine runs this same suite (`StoreEngine`).
private let room = RoomName("lobby")!
private func message(_ offset: Int64, id: String? = nil, sender: String = "p1", in room: RoomName = room) -> ChatMessage {
    ChatMessage(room: room, offset: offset, clientID: id ?? "m\(offset)", sender: ParticipantID(sender), senderName: "P", text: "text \(offset)", timestamp: 1000 + offset)
}

@Suite struct StoreConformanceTests {
    @Test(arguments: StoreEngine.allCases)
    func appendsAndPagesInOffsetOrder(engine: StoreEngine) async throws {
        let store = try await engine.open(try engine.newLocation())
        try await store.ping()
        #expect(try await store.lastOffset(in: room) == 0)
        try await store.append((1...250).map { message($0) })
        try await store.append([message(1, in: RoomName("other")!)])
        #expect(try await store.lastOffset(in: room) == 250)
        let page = try await store.messages(in: room, after: 10, limit: 5)
        #expect(page.map(\.offset) == [11, 12, 13, 14, 15])
        #expect(page[0] == message(11))
        #expect(try await store.messages(in: room, before: 10, limit: 3).map(\.offset) == [7, 8, 9])
        #expect(try await store.latestMessages(in: room, limit: 2).map(\.offset) == [249, 250])
        #expect(try await store.offset(in: room, sender: ParticipantID("p1"), clientID: "m42") == 42)
        #expect(try await store.offset(in: room, sender: ParticipantID("p2"), clientID: "m42") == nil)
        try await store.close()
    }

    @Test(arguments: StoreEngine.allCases)
    func aConflictStoresNothingOfTheBatch(engine: StoreEngine) async throws {
        let store = try await engine.open(try engine.newLocation())
        try await store.append([message(1)])
        await #expect(throws: StoreError.self) { try await store.append([message(2), message(1, id: "fresh")]) }
        await #expect(throws: StoreError.self) { try await store.append([message(3, id: "m1")]) }
        #expect(try await store.lastOffset(in: room) == 1, "nothing of a failed batch is stored")
        try await store.close()
    }

    @Test(arguments: StoreEngine.allCases)
    func reopeningKeepsEverythingAndMigratesOnce(engine: StoreEngine) async throws {
        let location = try engine.newLocation()
        var store = try await engine.open(location)
        try await store.append((1...3).map { message($0) })
        try await store.close()
        store = try await engine.open(location)
        #expect(try await store.messages(in: room, after: 0, limit: 10).map(\.offset) == [1, 2, 3])
        try await store.close()
    }

    @Test(arguments: StoreEngine.allCases)
    func storesOpenedTogetherMigrateOnceAndShareData(engine: StoreEngine) async throws {
        let location = try engine.newLocation()
        let opened = await withTaskGroup(of: Result<any SharedStore, any Error>.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    do { return .success(try await engine.open(location)) } catch { return .failure(error) }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let stores = opened.compactMap { try? $0.get() }
        for case .failure(let error) in opened { Issue.record("opening failed: \(error)") }
        guard stores.count == 2 else {
            for store in stores { try await store.close() }
            return
        }
        let (a, b) = (stores[0], stores[1])
        try await a.append([message(1)])
        #expect(try await b.lastOffset(in: room) == 1, "nodes sharing a store see each other's writes")
        await #expect(throws: StoreError.self) { try await b.append([message(1, id: "other")]) }
        try await a.close()
        try await b.close()
    }
}
