import HTTPTypes

/// A fleet node's last heartbeat that reached the store, as its `/readyz` tells its peers (`PeerWitness`).
public struct StoreContact: Sendable, Equatable {
    /// When the heartbeat was sent (fleet milliseconds): `Plaza-Store-Reached-At`.
    public var reachedAt: Int64
    /// When the fleet last came back from a silence longer than a lease, as that heartbeat's answer said
    /// (`HeartbeatAnswer.fleetResumedAt`): `Plaza-Fleet-Resumed-At`.
    public var fleetResumedAt: Int64?

    public init(reachedAt: Int64, fleetResumedAt: Int64? = nil) {
        (self.reachedAt, self.fleetResumedAt) = (reachedAt, fleetResumedAt)
    }

    static let reachedAtField = "Plaza-Store-Reached-At"
    static let fleetResumedAtField = "Plaza-Fleet-Resumed-At"

    /// The response header fields.
    var fields: HTTPFields {
        var fields: HTTPFields = [:]
        fields[HTTPField.Name(Self.reachedAtField)!] = String(reachedAt)
        if let fleetResumedAt { fields[HTTPField.Name(Self.fleetResumedAtField)!] = String(fleetResumedAt) }
        return fields
    }

    /// The contact a peer's answer carries, if any; `header` reads one of its header fields by name.
    init?(header: (String) -> String?) {
        guard let reachedAt = header(Self.reachedAtField).flatMap({ Int64($0) }) else { return nil }
        self.init(reachedAt: reachedAt, fleetResumedAt: header(Self.fleetResumedAtField).flatMap { Int64($0) })
    }
}
