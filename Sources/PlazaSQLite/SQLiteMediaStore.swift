public import PlazaCore
public import PlazaStore
public import PlazaFleetModel
public import PlazaPlacement
import SQLiteNIO

/// Conferences on bridges and recordings on recorders in SQLite (tables `bridge_placements` and
/// `recordings`). Each decision is one write transaction, so two processes placing one conference agree on one
/// bridge, and two recordings never get one recorder.
extension SQLiteStore: MediaStore {
    public nonisolated func placeConference(
        _ room: RoomName, kind: NodeKind, region: String?, policy: PlacementPolicy, participantCap: Int, leaseTTL: Int64,
        now: Int64, using random: inout some RandomNumberGenerator
    ) async throws -> BridgePlacement? {
        try await placeConference(
            room, kind: kind, region: region, policy: policy, participantCap: participantCap, leaseTTL: leaseTTL, now: now,
            seed: random.next())
    }

    private func placeConference(
        _ room: RoomName, kind: NodeKind, region: String?, policy: PlacementPolicy, participantCap: Int, leaseTTL: Int64,
        now: Int64, seed: UInt64
    ) async throws -> BridgePlacement? {
        let live = Int(now - policy.heartbeatTTL)
        let leaseUntil = now + leaseTTL
        return try await exclusive {
            try await transaction {
                let existing = try await query(
                    """
                    UPDATE bridge_placements SET lease_until = MAX(lease_until, ?1)
                    WHERE room = ?2 AND lease_until > ?3
                        AND EXISTS (SELECT 1 FROM nodes n WHERE n.id = bridge AND n.reported_at >= ?4)
                    RETURNING bridge, lease_until, (SELECT url FROM nodes n WHERE n.id = bridge) AS url
                    """, [.integer(Int(leaseUntil)), .text(room.rawValue), .integer(Int(now)), .integer(live)])
                if let row = existing.first, let bridge = row.column("bridge")?.string {
                    return BridgePlacement(
                        room: room, bridge: NodeID(bridge), url: row.column("url")?.string ?? "", leaseUntil: Int64(row.int("lease_until")))
                }
                let rows = try await query(
                    """
                    SELECT n.*, (SELECT COUNT(*) FROM bridge_placements q WHERE q.bridge = n.id AND q.placed_at > n.reported_at)
                        AS placed
                    FROM nodes n WHERE n.kind = ? AND n.reported_at >= ?
                    """, [.text(kind.rawValue), .integer(live)])
                let loads = rows.compactMap { row in
                    Self.load(row, placed: "placed").map { load in
                        var capped = load
                        if participantCap > 0 { capped.capacity = min(load.capacity, participantCap) }
                        return capped
                    }
                }
                var random = SplitMix64(seed: seed)
                guard let chosen = Placement.choose(from: loads, region: region, now: now, policy: policy, using: &random) else {
                    return nil
                }
                try await run(
                    """
                    INSERT INTO bridge_placements (room, bridge, lease_until, placed_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (room) DO UPDATE SET bridge = excluded.bridge, lease_until = excluded.lease_until,
                        placed_at = excluded.placed_at
                    """, [.text(room.rawValue), .name(chosen.id), .integer(Int(leaseUntil)), .integer(Int(now))])
                let url = rows.first { $0.column("id")?.string == chosen.id.rawValue }?.column("url")?.string ?? ""
                return BridgePlacement(room: room, bridge: chosen.id, url: url, leaseUntil: leaseUntil)
            }
        }
    }

    public nonisolated func startRecording(
        _ room: RoomName, heartbeatTTL: Int64, now: Int64, using random: inout some RandomNumberGenerator
    ) async throws -> (recording: Recording, started: Bool)? {
        try await startRecording(room, heartbeatTTL: heartbeatTTL, now: now, pick: random.next())
    }

    /// `pick` chooses among the free recorders (in id order).
    private func startRecording(_ room: RoomName, heartbeatTTL: Int64, now: Int64, pick: UInt64) async throws -> (recording: Recording, started: Bool)? {
        let live = Int(now - heartbeatTTL)
        return try await exclusive {
            try await transaction {
                // A recording whose recorder stopped reporting (it died, or was replaced) ends here.
                try await run(
                    """
                    DELETE FROM recordings WHERE NOT EXISTS (
                        SELECT 1 FROM nodes n WHERE n.id = recordings.recorder AND n.reported_at >= ?)
                    """, [.integer(live)])
                if let current = try await recording(of: room) { return (current, false) }
                // Whether a recorder may take the job is `NodeRecord.mayRecord`'s to say.
                let recorders = try await query(
                    """
                    SELECT n.*, (SELECT room FROM recordings r WHERE r.recorder = n.id) AS recording
                    FROM nodes n WHERE n.kind = ? ORDER BY n.id
                    """, [.text(NodeKind.jibri.rawValue)])
                let idle = recorders.compactMap(Self.record).filter { $0.mayRecord(now: now, heartbeatTTL: heartbeatTTL) }
                guard !idle.isEmpty else { return nil }
                let recorder = idle[Int(pick % UInt64(idle.count))].registration.id
                try await run(
                    "INSERT INTO recordings (room, recorder, started_at) VALUES (?, ?, ?)",
                    [.text(room.rawValue), .name(recorder), .integer(Int(now))])
                return (Recording(room: room, recorder: recorder, startedAt: now), true)
            }
        }
    }

    public func stopRecording(_ room: RoomName) async throws -> Recording? {
        try await exclusive {
            Self.recording(
                of: room, try await query("DELETE FROM recordings WHERE room = ? RETURNING recorder, started_at", [.text(room.rawValue)]))
        }
    }

    /// The room's recording; the caller holds the connection.
    private func recording(of room: RoomName) async throws -> Recording? {
        Self.recording(of: room, try await query("SELECT recorder, started_at FROM recordings WHERE room = ?", [.text(room.rawValue)]))
    }

    private static func recording(of room: RoomName, _ rows: [SQLiteRow]) -> Recording? {
        guard let row = rows.first, let recorder = row.column("recorder")?.string else { return nil }
        return Recording(room: room, recorder: NodeID(recorder), startedAt: Int64(row.int("started_at")))
    }
}
