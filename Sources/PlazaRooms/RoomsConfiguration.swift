public import PlazaCore

/// What the rooms of a room server may hold and how long they stay loaded. Keys and defaults are listed in the
/// README's configuration table.
public struct RoomsConfiguration: Sendable {
    /// `limits.participantsPerRoom` (1000), `limits.connectionsPerParticipant` (8), `limits.chatTextLength` (4000),
    /// `limits.messageIDLength` (64).
    public var limits = RoomLimits()
    /// `limits.roomsPerNode`: rooms this node hosts at once. Default 10000.
    public var roomsPerNode = 10_000
    /// `chat.resumeWindow`: messages per room kept for reconnect recovery and retry de-duplication. A client
    /// further behind gets `recovered: false`. Default 1000.
    public var resumeWindow = 1_000
    /// `rooms.idleUnload`: seconds an empty room stays loaded before its memory is freed. Default 30.
    public var idleUnload: Double = 30

    public init() {}

    public func validate() throws(ConfigurationError) {
        try ConfigurationError.require(roomsPerNode >= 1, "limits.roomsPerNode", "must be ≥ 1")
        try ConfigurationError.require(limits.participantsPerRoom >= 1, "limits.participantsPerRoom", "must be ≥ 1")
        try ConfigurationError.require(limits.connectionsPerParticipant >= 1, "limits.connectionsPerParticipant", "must be ≥ 1")
        try ConfigurationError.require(limits.chatTextLength >= 1, "limits.chatTextLength", "must be ≥ 1")
        try ConfigurationError.require(limits.messageIDLength >= 1, "limits.messageIDLength", "must be ≥ 1")
        try ConfigurationError.require(resumeWindow >= 0, "chat.resumeWindow", "must be ≥ 0")
        try ConfigurationError.require(idleUnload >= 0, "rooms.idleUnload", "must be ≥ 0")
    }
}

/// The space every room of a process uses: its map, interest management and proximity rules. Served to
/// clients as `GET /api/v1/space` by room servers and directories alike.
public struct SpaceConfiguration: Sendable {
    /// `space.tickHz`: how often coalesced moves are flushed, per second. Default 10.
    public var tickHz: Double = 10
    /// `space.cellSize`: side of a grid cell, in map units. Default 256.
    public var cellSize: Double = 256
    /// `space.interestRadius`: cells around a viewer's own that it sees (1 → a 3×3 block). Default 1.
    public var interestRadius: Int = 1
    /// `space.spawnX`, `space.spawnY`: where new avatars appear. Default: the map's `spawn`.
    public var spawn: Position?
    /// `space.map`: path of the map file (docs/maps.md) the web client draws. Default: the built-in map.
    public var map: String?
    /// `space.proximityRadius`: map units within which two browsers call each other. Default 160.
    public var proximityRadius: Double = 160
    /// `space.maxPeers`: most simultaneous calls a browser keeps, nearest first. Default 6.
    public var maxPeers: Int = 6
    /// `space.p2pMax`: the largest bubble that stays peer-to-peer when a bridge is configured; a bubble that grows
    /// past it moves to the bridge. Default 4.
    public var p2pMax: Int = 4
    /// `space.bridgeHysteresis`: seconds a bridged bubble must stay below `space.p2pMax` before it goes back to
    /// peer-to-peer. Default 10.
    public var bridgeHysteresis: Double = 10

    public init() {}

    public func validate() throws(ConfigurationError) {
        try ConfigurationError.require(tickHz > 0 && tickHz <= 100, "space.tickHz", "must be in (0, 100]")
        try ConfigurationError.require(cellSize > 0, "space.cellSize", "must be > 0")
        try ConfigurationError.require((0...16).contains(interestRadius), "space.interestRadius", "must be 0–16")
        try ConfigurationError.require(proximityRadius > 0, "space.proximityRadius", "must be > 0")
        try ConfigurationError.require((0...64).contains(maxPeers), "space.maxPeers", "must be 0–64")
        try ConfigurationError.require((1...64).contains(p2pMax), "space.p2pMax", "must be 1–64")
        try ConfigurationError.require(bridgeHysteresis >= 0, "space.bridgeHysteresis", "must be ≥ 0")
    }

    /// The conference plan's settings.
    public var conferencePlan: ConferencePlan.Settings {
        ConferencePlan.Settings(
            proximityRadius: proximityRadius, p2pMax: p2pMax, bridgeHysteresis: .milliseconds(Int64(bridgeHysteresis * 1000)))
    }

    /// The spatial grid of interest management.
    public var geometry: GridGeometry { GridGeometry(cellSize: cellSize, radius: Int32(interestRadius)) }
}
