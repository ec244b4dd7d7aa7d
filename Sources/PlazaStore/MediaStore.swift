public import PlazaCore
public import PlazaPlacement
public import PlazaFleetModel

/// Where a room's conference runs: a media bridge (JVB, Janus) the agent beside it registered.
public struct BridgePlacement: Sendable, Equatable {
    public var room: RoomName
    public var bridge: NodeID
    /// The bridge's (its shard's) URL, as its agent registered it.
    public var url: String
    public var leaseUntil: Int64

    public init(room: RoomName, bridge: NodeID, url: String, leaseUntil: Int64) {
        (self.room, self.bridge, self.url, self.leaseUntil) = (room, bridge, url, leaseUntil)
    }
}

/// A room's recording and the recorder doing it.
public struct Recording: Sendable, Equatable {
    public var room: RoomName
    public var recorder: NodeID
    /// Milliseconds since the Unix epoch.
    public var startedAt: Int64

    public init(room: RoomName, recorder: NodeID, startedAt: Int64) {
        (self.room, self.recorder, self.startedAt) = (room, recorder, startedAt)
    }
}

/// Media bridges and recorders in the registry: conferences placed on bridges, recordings assigned to recorders.
public protocol MediaStore: FleetTimeSource {
    /// The room's bridge: its live placement (the bridge reports within the heartbeat TTL and the lease runs; a
    /// draining bridge keeps its conferences), otherwise a serving bridge of `kind` chosen by `Placement.choose`
    /// (corrected load from its `stress_level` and participants, at most `participantCap` participants when
    /// above 0). Every call extends the lease to `now + leaseTTL`. Nil when no bridge can take it.
    func placeConference(
        _ room: RoomName, kind: NodeKind, region: String?, policy: PlacementPolicy, participantCap: Int, leaseTTL: Int64,
        now: Int64, using random: inout some RandomNumberGenerator
    ) async throws -> BridgePlacement?

    /// Assigns an idle (`Occupancy`), healthy recorder (it reported within `heartbeatTTL`, is serving and was
    /// not asked to drain) to `room`, which makes it busy; `random` picks among the free ones. Nil when none is free;
    /// the room's current recording when it has one.
    func startRecording(
        _ room: RoomName, heartbeatTTL: Int64, now: Int64, using random: inout some RandomNumberGenerator
    ) async throws -> (recording: Recording, started: Bool)?

    /// Ends the room's recording and frees its recorder; nil when the room was not being recorded.
    func stopRecording(_ room: RoomName) async throws -> Recording?
}

extension MediaStore {
    /// `startRecording` with a random choice seeded by the system. (A generator with state: the system's own has
    /// none, and ThreadSanitizer faults on an `inout` of an empty value handed across an actor hop.)
    public func startRecording(_ room: RoomName, heartbeatTTL: Int64, now: Int64) async throws -> (recording: Recording, started: Bool)? {
        var random = SplitMix64(seed: .random(in: .min ... .max))
        return try await startRecording(room, heartbeatTTL: heartbeatTTL, now: now, using: &random)
    }
}
