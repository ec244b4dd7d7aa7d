import Testing
import PlazaCore
@testable import PlazaRooms

/// What the conference keeper must do on the bridge to reach the room's plan.
@Suite struct ConferenceWorkTests {
    let ann = ParticipantID("ann"), bob = ParticipantID("bob"), cid = ParticipantID("cid")

    @Test func newConferencesAreOpenedAndTheirMembersAdmitted() {
        let work = ConferenceWork.plan(wanted: [ann: "zone-cafe", bob: "zone-cafe"], admitted: [:], open: [])
        #expect(work == ConferenceWork(dismiss: [], open: ["zone-cafe"], admit: [ann, bob], close: []))
    }

    @Test func aMoveBetweenConferencesDismissesFirstAndAnEmptiedConferenceCloses() {
        let work = ConferenceWork.plan(
            wanted: [ann: "bubble-1", bob: "bubble-1"], admitted: [ann: "zone-cafe", bob: "bubble-1"], open: ["zone-cafe", "bubble-1"])
        #expect(work == ConferenceWork(dismiss: [ann], open: [], admit: [ann], close: ["zone-cafe"]))
    }

    @Test func leavingEveryConferenceDismissesAndClosesEverything() {
        let work = ConferenceWork.plan(wanted: [:], admitted: [ann: "bubble-1", cid: "bubble-1"], open: ["bubble-1"])
        #expect(work == ConferenceWork(dismiss: [ann, cid], open: [], admit: [], close: ["bubble-1"]))
        #expect(ConferenceWork.plan(wanted: [ann: "bubble-1"], admitted: [ann: "bubble-1"], open: ["bubble-1"]).isEmpty)
    }
}
