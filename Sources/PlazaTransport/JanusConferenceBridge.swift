public import PlazaCore
public import PlazaRooms
public import PlazaStore
public import PlazaPlacement
import PlazaFleetModel
import PlazaMedia

/// The conferences of a room server's rooms on Janus, through its Admin API: a VideoRoom room per conference with a
/// secret and a pin of its own, a stored token per participant (VideoRoom only) which is also on that room's own
/// list of tokens (so that a token admits to its conference only, whatever pins its holder knows), taken back and
/// the participant kicked when it leaves. A browser enters with its token (in its requests and in its `join`) and
/// the room's pin and must give its Plaza participant id as its `display`, by which it is found to be kicked.
///
/// Which Janus: one configured (`media.janusURL` and `media.janusAdminURL`: `plaza serve`, or a fleet with one
/// bridge), or, in a fleet, the Janus bridges their agents registered, placed per room like any conference
/// (`MediaStore.placeConference`: sticky, never a draining bridge, the per-bridge cap, the region); a room's
/// conferences all go to its bridge. When that bridge dies its conferences are placed again elsewhere
/// (`isServing`).
///
/// Rooms and tokens are marked with the room server's identity and run (`JanusMarks`), so a room server that
/// crashed and started again can end what its earlier run left there (`sweep`).
public struct JanusConferenceBridge: ConferenceBridge {
    /// Where a room's conferences go.
    public enum Location: Sendable {
        /// One Janus: browsers reach it at `url`, Plaza at `control`.
        case configured(url: String, control: String)
        /// The fleet's registered Janus bridges.
        case placed(FleetBridges)
    }

    /// The fleet's Janus bridges and how a room's conference is placed on one.
    public struct FleetBridges: Sendable {
        public var media: any MediaStore
        public var registry: any NodeRegistry
        public var policy: PlacementPolicy
        /// `media.bridgeParticipantCap`.
        public var participantCap: Int
        /// `media.bridgeLeaseTTL`, milliseconds.
        public var leaseTTL: Int64
        /// `cluster.region`.
        public var region: String

        public init(
            media: any MediaStore, registry: any NodeRegistry, policy: PlacementPolicy, participantCap: Int, leaseTTL: Int64,
            region: String
        ) {
            (self.media, self.registry, self.policy) = (media, registry, policy)
            (self.participantCap, self.leaseTTL, self.region) = (participantCap, leaseTTL, region)
        }
    }

    let location: Location
    let adminSecret: String?
    let roomAdminKey: String?
    let bitrate: Int
    /// The room server's identity (`local` for `plaza serve`, the node id in a fleet).
    let owner: String
    /// Fresh for each start of the room server: rooms of other runs of the same owner are left over.
    let run = String(randomSecret().prefix(12))

    /// The configured Janus (`media.janusURL`), or with `fleet` and an admin secret the fleet's registered ones;
    /// nil when there is neither. `owner`: the room server's identity.
    public init?(_ configuration: JanusConfiguration, fleet: FleetBridges? = nil, owner: String) {
        if let url = configuration.url, let adminURL = configuration.adminURL {
            location = .configured(url: url, control: adminURL)
        } else if let fleet, configuration.adminSecret != nil {
            location = .placed(fleet)
        } else {
            return nil
        }
        (adminSecret, roomAdminKey, bitrate) = (configuration.adminSecret, configuration.roomAdminKey, configuration.bitrate)
        self.owner = owner
    }



    /// A conference could not be placed: no live, serving Janus has room.
    struct NoBridge: Error, CustomStringConvertible {
        var description: String
    }

    func admin(_ control: String) -> JanusAdmin { JanusAdmin(url: control, secret: adminSecret, roomAdminKey: roomAdminKey) }

    /// Where `room`'s conferences go now: the bridge's id, browsers' URL and control URL.
    func locate(_ room: RoomName) async throws -> (bridge: String, url: String, control: String) {
        switch location {
        case .configured(let url, let control):
            return (control, url, control)
        case .placed(let fleet):
            var random = SystemRandomNumberGenerator()
            guard let placement = try await fleet.media.placeConference(
                room, kind: .janus, region: fleet.region, policy: fleet.policy, participantCap: fleet.participantCap,
                leaseTTL: fleet.leaseTTL, now: fleet.media.fleetTime(), using: &random)
            else { throw NoBridge(description: "no Janus bridge can take a conference now") }
            let nodes = try await fleet.registry.nodes()
            guard let control = nodes.first(where: { $0.registration.id == placement.bridge })?.registration.controlURL else {
                throw NoBridge(description: "bridge \(placement.bridge) registered no control URL (its agent's --internal-api)")
            }
            return (placement.bridge.rawValue, placement.url, control)
        }
    }

    public func open(_ id: String, of room: RoomName, publishers: Int) async throws -> BridgeRoom {
        let (bridge, url, control) = try await locate(room)
        var attempt = 0
        while true {
            // Below 2^53, so a browser's JavaScript holds the id exactly.
            let number = Int64.random(in: 1..<(1 << 53))
            let conference = BridgeRoom(
                url: url, room: number, pin: randomSecret(), secret: JanusMarks.roomSecret(number, adminSecret: adminSecret), bridge: bridge,
                control: control)
            do {
                try await admin(control).create(
                    JanusAdmin.Room(
                        id: number, secret: conference.secret, pin: conference.pin, publishers: publishers, bitrate: bitrate,
                        description: JanusMarks.description(owner: owner, run: run)),
                    allowList: true)
                return conference
            } catch let failure as JanusAdmin.Failure where failure.code == JanusAdmin.roomExists && attempt < 3 {
                attempt += 1
            }
        }
    }

    public func admit(_ participant: ParticipantID, to conference: BridgeRoom) async throws -> String {
        let token = JanusMarks.tokenPrefix(owner: owner, run: run) + randomSecret()
        let admin = admin(conference.control)
        try await admin.allow(token, room: conference.room, secret: conference.secret)
        try await admin.add(token: token)
        return token
    }

    /// Safe to repeat: what was done already (a token taken back, a participant gone, a room gone) counts as done.
    public func dismiss(_ participant: ParticipantID, token: String, from conference: BridgeRoom) async throws {
        let admin = admin(conference.control)
        // The token first: no new session, no request on an open one, no join of this room. Then out of the room,
        // media and all.
        do {
            try await admin.remove(token: token)
        } catch let failure as JanusAdmin.Failure where failure.code == JanusAdmin.noSuchToken {
        }
        do {
            try await admin.allow(token, room: conference.room, secret: conference.secret, false)
            _ = try await kick(from: conference) { $0 == participant.rawValue }
        } catch let failure as JanusAdmin.Failure where failure.code == JanusAdmin.noSuchRoom {
        }
    }

    /// Kicks out of `conference` whoever joined under a display `picked` names; the number kicked.
    private func kick(from conference: BridgeRoom, where picked: (String?) -> Bool) async throws -> Int {
        let admin = admin(conference.control)
        var kicked = 0
        for entry in try await admin.participants(room: conference.room, secret: conference.secret) where picked(entry.display) {
            do {
                try await admin.kick(entry.id, room: conference.room, secret: conference.secret)
                kicked += 1
            } catch let failure as JanusAdmin.Failure where failure.code == JanusAdmin.noSuchParticipant {
            }
        }
        return kicked
    }

    public func close(_ conference: BridgeRoom) async throws {
        do {
            try await admin(conference.control).destroy(room: conference.room, secret: conference.secret)
        } catch let failure as JanusAdmin.Failure where failure.code == JanusAdmin.noSuchRoom {
            // Gone already (the bridge restarted).
        }
    }

    /// Kicks whoever joined `conference` under a display that is not one of its members' participant ids.
    public func police(_ conference: BridgeRoom, members: Set<ParticipantID>) async throws -> Int {
        let names = Set(members.map(\.rawValue))
        return try await kick(from: conference) { !names.contains($0 ?? "") }
    }

    /// Takes back the tokens this owner handed out in another run and destroys the rooms it made then, on the
    /// configured Janus or on every registered one.
    public func sweep() async throws -> Int {
        guard adminSecret != nil else { return 0 }
        let controls: [String]
        switch location {
        case .configured(_, let control): controls = [control]
        case .placed(let fleet):
            controls = try await fleet.registry.nodes().filter { $0.registration.kind == .janus }.compactMap(\.registration.controlURL)
        }
        // A bridge that does not answer (a dead one still registered) does not keep the others from being swept;
        // its failure is thrown afterwards, so the sweep is tried again.
        var ended = 0
        var failure: (any Error)?
        for control in controls {
            let admin = admin(control)
            do {
                ended += try await admin.end(try await admin.marked()) { owner, run in owner == self.owner && run != self.run }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return ended
    }

    public func isServing(_ conference: BridgeRoom, of room: RoomName) async throws -> Bool {
        if case .placed = location, try await locate(room).bridge != conference.bridge {
            return false
        }
        // A Janus that restarted has lost its rooms.
        return try await admin(conference.control).exists(room: conference.room)
    }
}
