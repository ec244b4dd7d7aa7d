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
        guard placements != conferencePlacements else { return }
        conferencePlacements = placements
        var wanted: [ParticipantID: String] = [:]
        for (participant, placement) in placements {
            if case .conference(let id, _) = placement { wanted[participant] = id }
        }
        for (participant, told) in toldConference where wanted[participant] != told.id {
            toldConference[participant] = nil
            send(OutboundFrame(ServerFrame.conference(nil), .conference), toParticipant: participant)
        }
        keeper.want(wanted)
    }

    /// The keeper admitted `participant` to conference `id`: tell it, unless the plan has moved it on meanwhile
    /// (the keeper then takes the credential back).
    func conferenceAdmitted(_ participant: ParticipantID, to id: String, on conference: BridgeRoom, token: String) {
        guard case .conference(let planned, let zone) = conferencePlacements[participant], planned == id else { return }
        let told = ServerFrame.Conference(id: id, url: conference.url, room: conference.room, pin: conference.pin, token: token, zone: zone)
        toldConference[participant] = told
        send(OutboundFrame(ServerFrame.conference(told), .conference), toParticipant: participant)
    }
}
