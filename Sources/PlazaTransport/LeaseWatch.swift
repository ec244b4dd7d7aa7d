import PlazaFleetModel

/// When a fleet node must give up its rooms because it cannot renew their leases. Pure: time is passed in.
///
/// A heartbeat renews every room's lease to the time it was sent plus `cluster.leaseTTL`; after that another
/// node may take the rooms. A node whose heartbeats fail must therefore stop acting as their home before then —
/// unless nobody can take them: when the store is down for the whole fleet, no node can claim anything, and
/// the rooms (presence, moves, calls) may go on here until the store is back and the heartbeat renews them. The
/// node cannot tell the two apart by itself; its peers can (`PeerWitness`).
struct LeaseWatch {
    /// `cluster.leaseTTL`.
    let leaseTTL: Duration
    /// `cluster.heartbeatInterval`: how far before the lease's end the node acts, so it is done before anyone
    /// else may start.
    let margin: Duration
    /// When the last heartbeat that reached the store was sent.
    private(set) var lastRenewal: ContinuousClock.Instant?

    init(leaseTTL: Duration, margin: Duration, startedAt: ContinuousClock.Instant) {
        (self.leaseTTL, self.margin, lastRenewal) = (leaseTTL, min(margin, leaseTTL / 2), startedAt)
    }

    /// A heartbeat sent at `sent` reached the store.
    mutating func renewed(sentAt sent: ContinuousClock.Instant) {
        if lastRenewal.map({ sent > $0 }) ?? true { lastRenewal = sent }
    }

    /// The moment the node must have decided: the leases' end less the margin.
    var deadline: ContinuousClock.Instant? { lastRenewal.map { $0 + leaseTTL - margin } }

    /// Whether the leases are over (or about to be) at `now`.
    func isExpiring(at now: ContinuousClock.Instant) -> Bool { deadline.map { now >= $0 } ?? false }

    /// What to do with the rooms at the deadline, given what the node's peers say of the store, the fleet's time
    /// (milliseconds) and `cluster.heartbeatTTL`. After a silence of the whole fleet, the store keeps every
    /// placement where it was for a heartbeat TTL from the first heartbeat back (`RoomPlacements`): the rooms stay
    /// here until that grace ends less the margin, while this node's own heartbeat reconnects.
    func decision(_ witness: PeerWitness.Verdict, fleetNow: Int64, heartbeatTTL: Duration) -> Decision {
        switch witness {
        case .storeDownEverywhere: .keep
        case .fleetResumed(let at): fleetNow < at + heartbeatTTL.milliseconds - margin.milliseconds ? .keep : .giveUp
        case .storeReachableElsewhere, .noAnswer: .giveUp
        }
    }

    enum Decision: Equatable { case keep, giveUp }
}
