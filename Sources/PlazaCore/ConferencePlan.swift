/// Who talks to whom, and how, decided by the server from positions: everyone inside a meeting zone is in that
/// zone's conference; outside zones, a bubble — participants within `proximityRadius` of each other, transitively —
/// stays peer-to-peer up to `p2pMax` people, moves to a bridge conference when it grows past that, and back once it
/// has stayed below `p2pMax` for `bridgeHysteresis`. When a bridged bubble splits, its larger part keeps the
/// conference (and the hysteresis); another part gets a conference of its own only if it is past `p2pMax`. Pure: positions, zones, time and the memory of the last plan in;
/// placements and the new memory out.
public enum ConferencePlan {
    public struct Settings: Sendable, Equatable {
        public var proximityRadius: Double
        /// The largest bubble kept peer-to-peer (`space.p2pMax`).
        public var p2pMax: Int
        /// How long a bridged bubble must stay below `p2pMax` before it goes back to peer-to-peer
        /// (`space.bridgeHysteresis`).
        public var bridgeHysteresis: Duration

        public init(proximityRadius: Double, p2pMax: Int = 4, bridgeHysteresis: Duration = .seconds(10)) {
            (self.proximityRadius, self.p2pMax, self.bridgeHysteresis) = (proximityRadius, p2pMax, bridgeHysteresis)
        }
    }

    /// Where a participant's media goes.
    public enum Placement: Sendable, Hashable {
        /// Calls by distance, browser to browser.
        case peerToPeer
        /// A conference on a bridge: a zone's (`zone` is its id) or a bubble's.
        case conference(id: String, zone: String?)
    }

    /// What a plan remembers for the next: the bridged bubbles, by conference id.
    public struct Memory: Sendable, Equatable {
        struct Bubble: Sendable, Equatable {
            var members: Set<ParticipantID>
            /// Since when it has been below `p2pMax` (nil while it is not).
            var smallSince: Duration?
        }

        var bubbles: [String: Bubble] = [:]
        var nextNumber = 1

        public init() {}

        /// Whether a bridged bubble is below `p2pMax` and waiting out the hysteresis: the plan must run again
        /// even if nobody moves.
        public var isWaiting: Bool { bubbles.values.contains { $0.smallSince != nil } }
    }

    /// Each participant's placement at `now`.
    public static func plan(
        positions: [ParticipantID: Position], zones: [Zone], settings: Settings, memory: inout Memory, now: Duration
    ) -> [ParticipantID: Placement] {
        var placements: [ParticipantID: Placement] = [:]
        var outside: [(ParticipantID, Position)] = []
        for (id, position) in positions {
            if let zone = Zone.zone(at: position, in: zones) {
                placements[id] = .conference(id: "zone-\(zone.id)", zone: zone.id)
            } else {
                outside.append((id, position))
            }
        }
        let previous = memory.bubbles
        // Which bridged bubble each participant was in, looked up once per member below.
        var previousOf: [ParticipantID: String] = [:]
        for (id, bubble) in previous { for member in bubble.members { previousOf[member] = id } }
        var next: [String: Memory.Bubble] = [:]
        // Larger bubbles first, so a bubble that splits leaves its conference to its larger part; ties by their
        // smallest member, computed once per bubble.
        let bubbles = Self.bubbles(outside, radius: settings.proximityRadius)
            .map { (members: $0, key: $0.min()?.rawValue ?? "") }
            .sorted { ($0.members.count, $1.key) > ($1.members.count, $0.key) }
            .map(\.members)
        for members in bubbles {
            let small = members.count < settings.p2pMax
            // The bridged bubble (not taken yet) sharing the most members with this one.
            var shared: [String: Int] = [:]
            for member in members { if let id = previousOf[member], next[id] == nil { shared[id, default: 0] += 1 } }
            let inherited = shared.max { ($0.value, $1.key) < ($1.value, $0.key) }
                .map { (id: $0.key, smallSince: previous[$0.key]?.smallSince) }
            var conference: (id: String, smallSince: Duration?)?
            if let inherited {
                conference = (inherited.id, small ? (inherited.smallSince ?? now) : nil)
            } else if members.count > settings.p2pMax {
                conference = (Self.newID(&memory), nil)
            }
            // The smaller part of a bridged bubble that split goes peer-to-peer at once if it is small enough: a
            // conference of its own would only move it once more when its hysteresis ended.
            guard let conference, !(conference.smallSince.map { now - $0 >= settings.bridgeHysteresis } ?? false) else {
                for member in members { placements[member] = .peerToPeer }
                continue
            }
            next[conference.id] = Memory.Bubble(members: members, smallSince: conference.smallSince)
            for member in members { placements[member] = .conference(id: conference.id, zone: nil) }
        }
        memory.bubbles = next
        return placements
    }

    private static func newID(_ memory: inout Memory) -> String {
        defer { memory.nextNumber += 1 }
        return "bubble-\(memory.nextNumber)"
    }

    /// Connected groups of participants within `radius` of each other, through a grid of `radius` cells (each
    /// compared with its neighbours only).
    static func bubbles(_ participants: [(ParticipantID, Position)], radius: Double) -> [Set<ParticipantID>] {
        guard radius > 0 else { return participants.map { [$0.0] } }
        var parent = Array(participants.indices)
        func root(_ i: Int) -> Int {
            var i = i
            while parent[i] != i {
                parent[i] = parent[parent[i]]
                i = parent[i]
            }
            return i
        }
        struct Cell: Hashable { var x: Int; var y: Int }
        var grid: [Cell: [Int]] = [:]
        // Clamped: a position far off the map must not trap the conversion to Int.
        func cell(_ value: Double) -> Int { Int(min(max((value / radius).rounded(.down), -1e15), 1e15)) }
        for (index, (_, position)) in participants.enumerated() {
            grid[Cell(x: cell(position.x), y: cell(position.y)), default: []].append(index)
        }
        let limit = radius * radius
        for (cell, members) in grid {
            for dx in -1...1 {
                for dy in -1...1 {
                    guard let neighbours = grid[Cell(x: cell.x + dx, y: cell.y + dy)] else { continue }
                    for a in members {
                        for b in neighbours where a < b {
                            let (p, q) = (participants[a].1, participants[b].1)
                            if (p.x - q.x) * (p.x - q.x) + (p.y - q.y) * (p.y - q.y) <= limit { parent[root(a)] = root(b) }
                        }
                    }
                }
            }
        }
        var groups: [Int: Set<ParticipantID>] = [:]
        for index in participants.indices { groups[root(index), default: []].insert(participants[index].0) }
        return Array(groups.values)
    }
}
