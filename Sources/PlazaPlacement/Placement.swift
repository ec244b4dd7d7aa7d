// Where a new room goes: a pure decision over what the directory knows about the nodes, with time and
// randomness passed in, so the same code runs in the directory, in tests and in simulations. The stores only
// read the candidates this code asks for and write its choice conditionally; neither engine decides.

public import PlazaFleetModel

/// What the directory knows about one node: its last report, plus what was placed on it since.
public struct NodeLoad: Sendable, Equatable {
    public var id: NodeID
    public var region: String
    public var state: NodeState
    /// Participants the node is sized for.
    public var capacity: Int
    public var participants: Int
    public var rooms: Int
    /// CPU in use, 0…1 of the machine.
    public var cpu: Double
    /// When the node last reported, in milliseconds since the Unix epoch.
    public var reportedAt: Int64
    /// Rooms placed on the node after its last report: load its report cannot show yet.
    public var placedSinceReport: Int

    public init(
        id: NodeID, region: String = "default", state: NodeState = .serving, capacity: Int, participants: Int = 0,
        rooms: Int = 0, cpu: Double = 0, reportedAt: Int64, placedSinceReport: Int = 0
    ) {
        (self.id, self.region, self.state, self.capacity) = (id, region, state, capacity)
        (self.participants, self.rooms, self.cpu, self.reportedAt) = (participants, rooms, cpu, reportedAt)
        self.placedSinceReport = placedSinceReport
    }
}

/// Node loads from another source than the nodes' own reports (Prometheus, for a fleet that already measures
/// its nodes there): they replace the reported participants and CPU of the nodes they name.
public struct ExternalLoads: Sendable, Equatable {
    /// One node's figures from the other source; a figure it lacks keeps the node's report.
    public struct Sample: Sendable, Equatable {
        public var participants: Int?
        public var cpu: Double?
        public init(participants: Int? = nil, cpu: Double? = nil) {
            (self.participants, self.cpu) = (participants, cpu)
        }
    }

    /// By node id.
    public var samples: [NodeID: Sample]
    /// Rooms placed after this time (milliseconds since the Unix epoch) may not show in the samples yet: they
    /// count as corrected load.
    public var since: Int64

    public init(samples: [NodeID: Sample], since: Int64) {
        (self.samples, self.since) = (samples, since)
    }

    /// `load` with the sample for its node, if there is one.
    public func applied(to load: NodeLoad) -> NodeLoad {
        guard let sample = samples[load.id] else { return load }
        var load = load
        if let participants = sample.participants { load.participants = participants }
        if let cpu = sample.cpu { load.cpu = cpu }
        return load
    }
}

/// The rules of placement.
public struct PlacementPolicy: Sendable, Equatable {
    /// A node whose last report is older than this is dead for placement. Milliseconds.
    public var heartbeatTTL: Int64 = 15_000
    /// Participants a newly placed room is expected to bring before the node's next report shows them.
    public var participantsPerNewRoom: Int = 2

    public init(heartbeatTTL: Int64 = 15_000, participantsPerNewRoom: Int = 2) {
        (self.heartbeatTTL, self.participantsPerNewRoom) = (heartbeatTTL, participantsPerNewRoom)
    }
}

/// The placement decisions: corrected load, eligibility and the power-of-two choice, pure functions of the nodes'
/// loads, time and randomness.
public enum Placement {
    /// The node's load as a fraction of its capacity, corrected for rooms placed since its report: the larger
    /// of its CPU and its participants over capacity, each plus what the new rooms are expected to add
    /// (`participantsPerNewRoom` participants, each a 1/capacity share of the node). Correcting the CPU term
    /// too matters when CPU is the larger one: otherwise every room of a burst goes to the node whose last CPU
    /// reading was lowest until its next report.
    public static func correctedLoad(_ node: NodeLoad, policy: PlacementPolicy) -> Double {
        let capacity = Double(max(node.capacity, 1))
        let expected = Double(node.placedSinceReport * policy.participantsPerNewRoom) / capacity
        return max(node.cpu, Double(node.participants) / capacity) + expected
    }

    /// Whether a node may take a new room now: it reported within the TTL, is serving and is below capacity.
    public static func isEligible(_ node: NodeLoad, now: Int64, policy: PlacementPolicy) -> Bool {
        node.state == .serving && now - node.reportedAt <= policy.heartbeatTTL && correctedLoad(node, policy: policy) < 1
    }

    /// Picks the node for a new room: among the eligible nodes of `region` (or of every region when that one
    /// has none), two at random, and of those the one with the lower corrected load. Two random candidates
    /// rather than the single least loaded keep a burst of joins — decided on the same stale reports — from
    /// herding onto one node, while still steering away from loaded ones. Nil when no node is eligible.
    public static func choose(
        from nodes: [NodeLoad], region: String?, now: Int64, policy: PlacementPolicy,
        using random: inout some RandomNumberGenerator
    ) -> NodeLoad? {
        let eligible = nodes.filter { isEligible($0, now: now, policy: policy) }
        let local = region.map { region in eligible.filter { $0.region == region } } ?? []
        let pool = local.isEmpty ? eligible : local
        guard let (a, b) = twoAtRandom(pool, using: &random) else { return pool.first }
        return correctedLoad(b, policy: policy) < correctedLoad(a, policy: policy) ? b : a
    }

    /// Two different elements of `pool`, uniformly at random; nil when it has fewer than two.
    public static func twoAtRandom<Element>(
        _ pool: [Element], using random: inout some RandomNumberGenerator
    ) -> (Element, Element)? {
        guard pool.count > 1 else { return nil }
        let first = Int.random(in: 0..<pool.count, using: &random)
        var second = Int.random(in: 0..<(pool.count - 1), using: &random)
        if second >= first { second += 1 }
        return (pool[first], pool[second])
    }
}

extension Placement {
    /// Placement as a directory runs it against a store shared by a large fleet: two random candidates from the
    /// list of live serving nodes (`candidates`, of `region` when it has two or more), whose loads alone are then
    /// read fresh (`loads(ids)`), and the less loaded of the two taken. Every live node's load is read
    /// (`loads(nil)`) only when the sample falls short: fewer than two candidates in the region, or one of them
    /// no longer eligible (dead, draining, full). Both engines run this, so a join decides the same way on
    /// PostgreSQL and on SQLite; a decision reads two rows instead of a thousand.
    public static func choose(
        candidates: [PlacementCandidates.Node], region: String?, now: Int64, policy: PlacementPolicy,
        using random: inout some RandomNumberGenerator, isolation: isolated (any Actor)? = #isolation,
        loads: (_ only: [NodeID]?) async throws -> [NodeLoad]
    ) async throws -> NodeLoad? {
        let local = region.map { region in candidates.filter { $0.region == region } } ?? candidates
        var read: [NodeLoad] = []
        if let (a, b) = twoAtRandom(local, using: &random) { read = try await loads([a.id, b.id]) }
        if read.count < 2 || !read.allSatisfy({ isEligible($0, now: now, policy: policy) }) {
            read = try await loads(nil)
        }
        return choose(from: read, region: region, now: now, policy: policy, using: &random)
    }
}

/// The live serving nodes a directory last read: where placement samples its two candidates. Nodes registered
/// since the read are sampled after the next one, at most `maximumAge` later.
public struct PlacementCandidates: Sendable {
    /// A candidate: enough to sample by region; its load is read fresh once it is sampled.
    public struct Node: Sendable, Equatable {
        public var id: NodeID
        public var region: String
        public init(id: NodeID, region: String) {
            (self.id, self.region) = (id, region)
        }
    }

    /// Milliseconds a read stays in use.
    public static let maximumAge: Int64 = 1_000
    private var readAt: Int64?
    private var list: [Node] = []

    public init() {}

    /// The list read at `readAt`, unless it is too old at `now` (or from a later clock than `now`).
    public func nodes(at now: Int64) -> [Node]? {
        guard let readAt, now >= readAt, now - readAt < Self.maximumAge else { return nil }
        return list
    }

    public mutating func update(_ nodes: [Node], readAt: Int64) {
        list = nodes
        self.readAt = readAt
    }

    /// Forgets the list (the registry changed under it: a node was removed).
    public mutating func invalidate() { readAt = nil }
}

/// SplitMix64, a seeded generator: a decision replays from its seed (tests), and randomness drawn by a caller
/// can be used where its generator cannot go (inside the SQLite store's actor, which an `inout` does not enter).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
