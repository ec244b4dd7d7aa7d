/// The fleet's time, in milliseconds since the Unix epoch, as its shared store's clock reads it.
///
/// Leases, heartbeats and placements compare times written by different machines. Taken from each machine's
/// own clock, a node whose clock runs 30 s ahead would write leases that last 30 s too long, and keep rooms
/// past the moment another node may take them. So every process reads the time of the fleet from its store:
/// PostgreSQL's clock (this machine's clock corrected by the offset last measured against the database), or,
/// for the processes of one machine on SQLite, that machine's clock. Decisions still take the time as a
/// parameter; callers read it here.
public protocol FleetTimeSource: Sendable {
    /// Now, on the store's clock.
    func fleetTime() -> Int64
}
