import Testing
@testable import PlazaCore

private let room = RoomName("test")!
private func state(limits: RoomLimits = RoomLimits(), cell: Double = 100, radius: Int32 = 1) -> RoomState {
    RoomState(name: room, limits: limits, geometry: GridGeometry(cellSize: cell, radius: radius))
}
private let a = ParticipantID("a"), b = ParticipantID("b"), c = ParticipantID("c")

@Suite struct PresenceTests {
    @Test func aParticipantJoinsOnceWhateverItsConnections() throws {
        var s = state()
        let joined = try s.connect(ConnectionID(1), as: a, name: "A", role: .member, audio: true, video: false)
        #expect(joined == .joined(s.snapshot(of: a)!))
        guard case .additionalConnection = try s.connect(ConnectionID(2), as: a, name: "A", role: .member, audio: false, video: false) else {
            Issue.record("second connection should not join again")
            return
        }
        #expect(s.participantCount == 1)
        #expect(s.snapshot(of: a)?.audio == true, "an extra tab keeps the participant's media state")
        let first = s.disconnect(ConnectionID(1))
        let last = s.disconnect(ConnectionID(2))
        #expect(first == nil)
        #expect(last == a)
        #expect(s.participantCount == 0)
    }

    @Test func roomFullAndTooManyConnectionsAreRefusedAtTheirEdge() throws {
        var s = state(limits: RoomLimits(participantsPerRoom: 2, connectionsPerParticipant: 2))
        _ = try s.connect(ConnectionID(1), as: a, name: "A", role: .member, audio: false, video: false)
        _ = try s.connect(ConnectionID(2), as: b, name: "B", role: .member, audio: false, video: false)
        #expect(throws: RoomState.JoinError.roomFull) {
            try s.connect(ConnectionID(3), as: c, name: "C", role: .member, audio: false, video: false)
        }
        _ = try s.connect(ConnectionID(4), as: a, name: "A", role: .member, audio: false, video: false)
        #expect(throws: RoomState.JoinError.tooManyConnections) {
            try s.connect(ConnectionID(5), as: a, name: "A", role: .member, audio: false, video: false)
        }
    }

    @Test func mediaIsSetNotToggled() throws {
        var s = state()
        _ = try s.connect(ConnectionID(1), as: a, name: "A", role: .member, audio: true, video: true)
        let changed = s.setMedia(a, audio: false, video: true)
        let again = s.setMedia(a, audio: false, video: true)
        #expect(changed)
        #expect(!again, "setting the same state again changes nothing")
        #expect(s.snapshot(of: a)?.audio == false)
    }
}

@Suite struct InterestTests {
    @Test func cellsAndInterestAreChebyshevBlocks() {
        let g = GridGeometry(cellSize: 100, radius: 1)
        #expect(g.cell(for: Position(x: 99.9, y: 0)) == GridCell(x: 0, y: 0))
        #expect(g.cell(for: Position(x: 100, y: -0.1)) == GridCell(x: 1, y: -1))
        #expect(g.sees(from: GridCell(x: 0, y: 0), GridCell(x: 1, y: -1)))
        #expect(!g.sees(from: GridCell(x: 0, y: 0), GridCell(x: 2, y: 0)))
        #expect(g.interestCells(around: GridCell(x: 5, y: 5)).count == 9)
        #expect(GridGeometry(cellSize: 10, radius: 2).interestCells(around: GridCell(x: 0, y: 0)).count == 25)
    }

    @Test func joiningAvatarsEnterEachOthersViewOnTheFirstTick() throws {
        var s = state()
        _ = try s.connect(ConnectionID(1), as: a, name: "A", role: .member, audio: false, video: false)
        _ = try s.connect(ConnectionID(2), as: b, name: "B", role: .member, audio: false, video: false)
        let t = s.tick()
        #expect(t.enters[a]?.map(\.id) == [b])
        #expect(t.enters[b]?.map(\.id) == [a])
        #expect(s.visible(to: a) == [b])
    }

    @Test func movesAreCoalescedAndReachOnlyViewersInRange() throws {
        var s = state()
        for (i, id) in [a, b, c].enumerated() {
            _ = try s.connect(ConnectionID(UInt64(i)), as: id, name: id.rawValue, role: .member, audio: false, video: false)
        }
        s.move(c, to: Position(x: 1000, y: 1000))
        _ = s.tick()
        #expect(s.visible(to: a) == [b])
        s.move(b, to: Position(x: 10, y: 10))
        s.move(b, to: Position(x: 20, y: 30, dir: "left"))
        s.move(c, to: Position(x: 1010, y: 1000))
        let t = s.tick()
        #expect(t.movesByCell[GridCell(x: 0, y: 0)] == [AvatarState(id: b, position: Position(x: 20, y: 30, dir: "left"))], "two moves, one entry: the last")
        #expect(t.cellsByViewer[a] == [GridCell(x: 0, y: 0)])
        #expect(t.cellsByViewer[a]?.contains(GridCell(x: 10, y: 10)) != true, "c's cell is out of a's area")
        #expect(t.cellsByViewer[c] == [GridCell(x: 10, y: 10)])
        #expect(t.enters.isEmpty && t.exits.isEmpty)
    }

    @Test func enterAndExitFireAtTheEdge() throws {
        var s = state()
        _ = try s.connect(ConnectionID(1), as: a, name: "A", role: .member, audio: false, video: false)
        _ = try s.connect(ConnectionID(2), as: b, name: "B", role: .member, audio: false, video: false)
        _ = s.tick()
        s.move(b, to: Position(x: 199, y: 0))  // cell (1,0): still adjacent
        var t = s.tick()
        #expect(t.exits.isEmpty)
        s.move(b, to: Position(x: 200, y: 0))  // cell (2,0): out of a's 3×3 block
        t = s.tick()
        #expect(t.exits[a] == [b])
        #expect(t.exits[b] == [a])
        s.move(b, to: Position(x: 150, y: 50))
        t = s.tick()
        #expect(t.enters[a] == [AvatarState(id: b, position: Position(x: 150, y: 50))])
        #expect(t.enters[b]?.map(\.id) == [a])
    }

    @Test func aLeavingAvatarLeavesEveryView() throws {
        var s = state()
        _ = try s.connect(ConnectionID(1), as: a, name: "A", role: .member, audio: false, video: false)
        _ = try s.connect(ConnectionID(2), as: b, name: "B", role: .member, audio: false, video: false)
        _ = s.tick()
        let left = s.disconnect(ConnectionID(2))
        #expect(left == b)
        #expect(s.visible(to: a).isEmpty)
        let after = s.tick()
        #expect(after.isEmpty)
    }
}
