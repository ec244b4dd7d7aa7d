public import PlazaCore
public import PlazaStore
public import PlazaFleetModel
public import PlazaPlacement
import PostgresNIO

/// Conferences on bridges and recordings on recorders (tables `bridge_placements` and `recordings`). Like room
/// placement, each ends in one conditional write PostgreSQL serializes on its row: two directories placing one
/// conference agree on one bridge; two recordings never get one recorder (its column is unique).
extension PostgresStore: MediaStore {
    public func placeConference(
        _ room: RoomName, kind: NodeKind, region: String?, policy: PlacementPolicy, participantCap: Int, leaseTTL: Int64,
        now: Int64, using random: inout some RandomNumberGenerator
    ) async throws -> BridgePlacement? {
        let live = now - policy.heartbeatTTL
        let leaseUntil = now + leaseTTL
        for _ in 0..<5 {
            let existing = try await guarded { [self] in
                let rows = try await client.query(
                    """
                    UPDATE bridge_placements p SET lease_until = GREATEST(p.lease_until, \(leaseUntil)) FROM nodes n
                    WHERE p.room = \(room.rawValue) AND n.id = p.bridge AND p.lease_until > \(now) AND n.reported_at >= \(live)
                    RETURNING p.bridge, n.url, p.lease_until
                    """, logger: logger)
                for try await (bridge, url, until) in rows.decode((String, String, Int64).self) {
                    return Optional(BridgePlacement(room: room, bridge: NodeID(bridge), url: url, leaseUntil: until))
                }
                return nil
            }
            if let existing { return existing }
            let (loads, urls) = try await guarded { [self] in
                var loads: [NodeLoad] = []
                var urls: [NodeID: String] = [:]
                let rows = try await client.query(
                    """
                    SELECT n.id, n.url, n.region, n.state, n.capacity, n.participants, n.rooms, n.cpu, n.reported_at,
                        (SELECT COUNT(*) FROM bridge_placements q WHERE q.bridge = n.id AND q.placed_at > n.reported_at)
                    FROM nodes n WHERE n.kind = \(kind.rawValue) AND n.reported_at >= \(live)
                    """, logger: logger)
                for try await (id, url, nodeRegion, state, capacity, participants, rooms, cpu, reportedAt, placed)
                    in rows.decode((String, String, String, String, Int, Int, Int, Double, Int64, Int64).self)
                {
                    guard let state = NodeState(rawValue: state) else { continue }
                    urls[NodeID(id)] = url
                    loads.append(
                        NodeLoad(
                            id: NodeID(id), region: nodeRegion, state: state,
                            capacity: participantCap > 0 ? min(capacity, participantCap) : capacity, participants: participants,
                            rooms: rooms, cpu: cpu, reportedAt: reportedAt, placedSinceReport: Int(placed)))
                }
                return (loads, urls)
            }
            guard let chosen = Placement.choose(from: loads, region: region, now: now, policy: policy, using: &random) else {
                return nil
            }
            let placed = try await guarded { [self] in
                let rows = try await client.query(
                    """
                    INSERT INTO bridge_placements (room, bridge, lease_until, placed_at)
                    VALUES (\(room.rawValue), \(chosen.id.rawValue), \(leaseUntil), \(now))
                    ON CONFLICT (room) DO UPDATE SET bridge = EXCLUDED.bridge, lease_until = EXCLUDED.lease_until,
                        placed_at = EXCLUDED.placed_at
                    WHERE bridge_placements.lease_until <= \(now)
                        OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = bridge_placements.bridge AND n.reported_at >= \(live))
                    RETURNING bridge
                    """, logger: logger)
                for try await _ in rows.decode(String.self) { return true }
                return false
            }
            if placed { return BridgePlacement(room: room, bridge: chosen.id, url: urls[chosen.id] ?? "", leaseUntil: leaseUntil) }
        }
        throw StoreError(.unavailable, "placing the conference of \(room) did not settle")
    }

    public func startRecording(
        _ room: RoomName, heartbeatTTL: Int64, now: Int64, using random: inout some RandomNumberGenerator
    ) async throws -> (recording: Recording, started: Bool)? {
        // A recording whose recorder stopped reporting (it died, or was replaced) ends here.
        _ = try await guarded { [self] in
            try await client.query(
                """
                DELETE FROM recordings r WHERE NOT EXISTS (
                    SELECT 1 FROM nodes n WHERE n.id = r.recorder AND n.reported_at >= \(now - heartbeatTTL))
                """, logger: logger)
        }
        if let current = try await recording(of: room) { return (current, false) }
        // Recorders that may take a job; whether each is idle is `Occupancy`'s to say. Each is tried in turn: the
        // unique recorder column refuses one a racing request took first.
        for recorder in try await freeRecorders(heartbeatTTL: heartbeatTTL, now: now).shuffled(using: &random) {
            let assigned = try await guarded { [self] in
                let rows = try await client.query(
                    """
                    INSERT INTO recordings (room, recorder, started_at) VALUES (\(room.rawValue), \(recorder.rawValue), \(now))
                    ON CONFLICT DO NOTHING RETURNING recorder
                    """, logger: logger)
                for try await _ in rows.decode(String.self) { return true }
                return false
            }
            if assigned { return (Recording(room: room, recorder: recorder, startedAt: now), true) }
            // A racing request took the room (its recording is the answer) or this recorder (try the next).
            if let current = try await recording(of: room) { return (current, false) }
        }
        return nil
    }

    public func stopRecording(_ room: RoomName) async throws -> Recording? {
        try await guarded { [self] in
            let rows = try await client.query(
                """
                DELETE FROM recordings WHERE room = \(room.rawValue) RETURNING recorder, started_at
                """, logger: logger)
            for try await (recorder, startedAt) in rows.decode((String, Int64).self) {
                return Recording(room: room, recorder: NodeID(recorder), startedAt: startedAt)
            }
            return nil
        }
    }

    private func recording(of room: RoomName) async throws -> Recording? {
        try await guarded { [self] in
            let rows = try await client.query("SELECT recorder, started_at FROM recordings WHERE room = \(room.rawValue)", logger: logger)
            for try await (recorder, startedAt) in rows.decode((String, Int64).self) {
                return Recording(room: room, recorder: NodeID(recorder), startedAt: startedAt)
            }
            return nil
        }
    }

    /// The idle recorders (`Occupancy`) that report, serve, were not asked to drain and have no recording.
    private func freeRecorders(heartbeatTTL: Int64, now: Int64) async throws -> [NodeID] {
        try await nodes().filter { $0.mayRecord(now: now, heartbeatTTL: heartbeatTTL) }.map(\.registration.id)
    }
}
