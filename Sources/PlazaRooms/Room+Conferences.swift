public import PlazaCore
import PlazaProtocol

/// What a room needs to put groups on a bridge: the bridge, the map's zones and the plan's settings
/// (`space.proximityRadius`, `space.p2pMax`, `space.bridgeHysteresis`).
public struct ConferenceSetup: Sendable {
    public var bridge: any ConferenceBridge
    public var zones: [Zone]
    public var settings: ConferencePlan.Settings

    public init(bridge: any ConferenceBridge, zones: [Zone], settings: ConferencePlan.Settings) {
        (self.bridge, self.zones, self.settings) = (bridge, zones, settings)
    }
}

/// Conferences in a room: at each tick where someone moved, came or went (or a shrunk bubble waits out its
/// hysteresis) the room plans who talks to whom (`ConferencePlan`); participants who leave a conference are told
/// `conference: null` at once, and the keeper admits the others on the bridge, after which they are told where
/// to go (`conferenceAdmitted`).
extension Room {
    func planConferences() {
        guard let setup = conferenceSetup, let keeper = conferenceKeeper, conferencesChanged || conferenceMemory.isWaiting else {
            return
        }
        conferencesChanged = false
        let placements = ConferencePlan.plan(
            positions: state.positions, zones: setup.zones, settings: setup.settings, memory: &conferenceMemory, now: clock.now)
        conferencePlacements = placements
        var wanted: [ParticipantID: String] = [:]
        for (participant, placement) in placements {
            if case .conference(let id, _) = placement { wanted[participant] = id }
        }
        for (participant, told) in toldConference where wanted[participant] != told.id {
            toldConference[participant] = nil
            send(OutboundFrame(ServerFrame.conference(nil), .conference), toParticipant: participant)
        }
        // Those not told yet: being admitted, or admitted while they were elsewhere (the keeper tells them again).
        keeper.want(wanted, untold: Set(wanted.filter { toldConference[$0.key]?.id != $0.value }.keys))
    }

    /// The keeper admitted `participant` to conference `id` (or tells again of an admission): tell the participant,
    /// unless the plan has moved it on meanwhile (the keeper then takes the credential back, or tells it again if
    /// it comes back). Whether it was told.
    func conferenceAdmitted(_ participant: ParticipantID, to id: String, on conference: BridgeRoom, token: String) -> Bool {
        guard case .conference(let planned, let zone) = conferencePlacements[participant], planned == id else { return false }
        let told = ServerFrame.Conference(id: id, url: conference.url, room: conference.room, pin: conference.pin, token: token, zone: zone)
        guard toldConference[participant] != told else { return true }
        toldConference[participant] = told
        send(OutboundFrame(ServerFrame.conference(told), .conference), toParticipant: participant)
        return true
    }
}
