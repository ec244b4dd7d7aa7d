import Testing
import PlazaCore
import PlazaFleetModel
import PlazaStore
import PlazaFleet

/// The agent's reactions to the registry's answers, without a server: what a simulated recorder does too.
@Suite struct AgentReactionsTests {
    let room = RoomName("standup")!

    @Test func aDrainIsAskedForOnceItIsCarriedOut() {
        var reactions = AgentReactions()
        let draining = RegistryAnswer(drain: true)
        #expect(reactions.step(kind: .jvb, busy: false, answer: draining) == [.drain])
        // Not carried out (the server did not answer): asked again.
        #expect(reactions.step(kind: .jvb, busy: false, answer: draining) == [.drain])
        reactions.carriedOut(.drain)
        #expect(reactions.step(kind: .jvb, busy: false, answer: draining).isEmpty)
    }

    @Test func aRecorderRecordsWhatItIsAssignedAndIsFreedWhenTheMeetingEnds() {
        var reactions = AgentReactions()
        let assigned = RegistryAnswer(recording: room)
        #expect(reactions.step(kind: .jibri, busy: false, answer: assigned) == [.record(room, replacing: nil)])
        reactions.carriedOut(.record(room, replacing: nil))
        // Jibri takes a moment to start: idle before it was ever busy is not an end.
        #expect(reactions.step(kind: .jibri, busy: false, answer: assigned).isEmpty)
        #expect(reactions.step(kind: .jibri, busy: true, answer: assigned).isEmpty)
        // Busy, then idle: the recording ended on its own.
        #expect(reactions.step(kind: .jibri, busy: false, answer: assigned) == [.recordingEnded(room)])
        reactions.carriedOut(.recordingEnded(room))
        #expect(reactions.recording == nil)
    }

    @Test func aNewAssignmentReplacesTheRecordingAndAStoppedOneIsStopped() {
        var reactions = AgentReactions()
        let other = RoomName("review")!
        reactions.carriedOut(.record(room, replacing: nil))
        #expect(reactions.step(kind: .jibri, busy: true, answer: RegistryAnswer(recording: other)) == [.record(other, replacing: room)])
        reactions.carriedOut(.record(other, replacing: room))
        #expect(reactions.step(kind: .jibri, busy: true, answer: RegistryAnswer()) == [.record(nil, replacing: other)])
    }

    @Test func onlyRecordersRecord() {
        var reactions = AgentReactions()
        #expect(reactions.step(kind: .janus, busy: true, answer: RegistryAnswer(recording: room)).isEmpty)
    }
}
