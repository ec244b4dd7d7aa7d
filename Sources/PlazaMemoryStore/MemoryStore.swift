// Every store protocol held in this process's memory: what `plaza simulate` runs the fleet on, a week of passes in
// seconds. It keeps the engines' contract — the same suites run on it as on SQLite and PostgreSQL (`StoreEngine`)
// — and the decisions stay the shared ones (`Placement`, `Occupancy`, `NodeRecord.mayRecord`); only the rows
// live in dictionaries. Nothing survives the process. Unlike the SQL engines it keeps no list of placement
// candidates up to a second old: it samples from the nodes as they are, which it can afford.

public import PlazaCore
public import PlazaFleetModel
public import PlazaPlacement
public import PlazaStore

/// A store in memory, of one process: whoever holds it shares its data.
public actor MemoryStore: SharedStore {
    private struct Node {
        var registration: NodeRegistration
        var report: NodeReport
        var reportedAt: Int64
        var drainRequested = false
    }

    private struct Placed {
        var node: NodeID
        var epoch: Int64
        var leaseUntil: Int64
        var placedAt: Int64
    }

    private struct Conference {
        var bridge: NodeID
        var leaseUntil: Int64
        var placedAt: Int64
    }

    private struct Pool {
        var pool: FleetPool
        var memory: String?
    }

    /// A room's chat: its messages in offset order, and the keys that must stay unique.
    private struct History {
        var messages: [ChatMessage] = []
        var offsets: Set<Int64> = []
        /// `sender` NUL `clientID` → offset.
        var clientIDs: [String: Int64] = [:]

        /// Where the first message with an offset above `offset` is (binary search).
        func index(after offset: Int64) -> Int {
            var (low, high) = (0, messages.count)
            while low < high {
                let middle = (low + high) / 2
                if messages[middle].offset <= offset { low = middle + 1 } else { high = middle }
            }
            return low
        }
    }

    private var chats: [RoomName: History] = [:]
    private var nodes: [NodeID: Node] = [:]
    /// The nodes' ids in order, as the engines list them.
    private var nodeIDs: [NodeID] = []
    private var placements: [RoomName: Placed] = [:]
    private var conferences: [RoomName: Conference] = [:]
    /// Placement times of the rooms (conferences) placed on each node, in order: what was placed since a report.
    private var placedOn: [NodeID: [(at: Int64, room: RoomName)]] = [:]
    private var conferencesPlacedOn: [NodeID: [(at: Int64, room: RoomName)]] = [:]
    private var recordings: [RoomName: Recording] = [:]
    private var lastHeartbeat: Int64 = 0
    private var resumedAt: Int64 = 0
    private var lease: (holder: String, term: Int64, until: Int64)?
    private var pools: [PoolName: Pool] = [:]
    /// Instances not terminated (what a pass reads), and terminated ones (kept for the record until pruned).
    private var instances: [InstanceID: FleetInstance] = [:]
    private var terminated: [InstanceID: FleetInstance] = [:]
    private var activities: [ScalingActivity] = []
    private var nextActivity: Int64 = 1

    private nonisolated let clock: @Sendable () -> Int64

    /// A store of its own; `clock` is its `fleetTime()` (a simulation's).
    public init(clock: @escaping @Sendable () -> Int64 = wallClockMilliseconds) {
        self.clock = clock
    }

    public nonisolated func fleetTime() -> Int64 { clock() }

    // MARK: ChatStore

    public func append(_ messages: [ChatMessage], fence: Fence?) async throws {
        guard let room = messages.first?.room else { return }
        if let fence {
            precondition(messages.allSatisfy { $0.room == room }, "a fenced append is for one room")
            guard let placed = placements[room], placed.node == fence.node, placed.epoch == fence.epoch else {
                throw StoreError(.fenced, "\(fence.node) is no longer the home of \(room) (epoch \(fence.epoch))")
            }
        }
        // All or nothing: every rule is checked before anything is stored.
        var offsets: [RoomName: Set<Int64>] = [:]
        var ids: [RoomName: Set<String>] = [:]
        for message in messages {
            let key = Self.clientKey(message.sender, message.clientID)
            let history = chats[message.room]
            guard history?.offsets.contains(message.offset) != true, history?.clientIDs[key] == nil,
                offsets[message.room, default: []].insert(message.offset).inserted, ids[message.room, default: []].insert(key).inserted
            else {
                throw StoreError(.conflict, "offset \(message.offset) or message \(message.clientID) of \(message.room) is already stored")
            }
        }
        for message in messages {
            let position = chats[message.room]?.index(after: message.offset) ?? 0
            chats[message.room, default: History()].messages.insert(message, at: position)
            chats[message.room]!.offsets.insert(message.offset)
            chats[message.room]!.clientIDs[Self.clientKey(message.sender, message.clientID)] = message.offset
        }
    }

    private static func clientKey(_ sender: ParticipantID, _ clientID: String) -> String { sender.rawValue + "\u{0}" + clientID }

    public func messages(in room: RoomName, after offset: Int64, limit: Int) async throws -> [ChatMessage] {
        guard let history = chats[room] else { return [] }
        return Array(history.messages[history.index(after: offset)...].prefix(max(0, limit)))
    }

    public func messages(in room: RoomName, before offset: Int64, limit: Int) async throws -> [ChatMessage] {
        guard let history = chats[room] else { return [] }
        return Array(history.messages[..<history.index(after: offset - 1)].suffix(max(0, limit)))
    }

    public func latestMessages(in room: RoomName, limit: Int) async throws -> [ChatMessage] {
        Array((chats[room]?.messages ?? []).suffix(max(0, limit)))
    }

    public func offset(in room: RoomName, sender: ParticipantID, clientID: String) async throws -> Int64? {
        chats[room]?.clientIDs[Self.clientKey(sender, clientID)]
    }

    public func lastOffset(in room: RoomName) async throws -> Int64 { chats[room]?.messages.last?.offset ?? 0 }

    public func ping() async throws {}

    /// Nothing to release: the data stays for the next opening of the same name.
    public func close() async throws {}

    // MARK: NodeRegistry

    public func register(_ node: NodeRegistration, now: Int64) async throws {
        if var existing = nodes[node.id] {
            (existing.registration, existing.reportedAt) = (node, now)
            nodes[node.id] = existing
        } else {
            nodes[node.id] = Node(registration: node, report: NodeReport(), reportedAt: now)
            nodeIDs.insert(node.id, at: nodeIDs.firstIndex { $0 > node.id } ?? nodeIDs.endIndex)
        }
    }

    public func report(node: NodeID, _ report: NodeReport, now: Int64) async throws -> RegistryAnswer {
        guard record(report, of: node, now: now) else { return RegistryAnswer() }
        return RegistryAnswer(drain: nodes[node]?.drainRequested ?? false, recording: assignment(of: node))
    }

    /// Stores a node's report (a node asked to drain stays draining); false for a node not registered.
    private func record(_ report: NodeReport, of node: NodeID, now: Int64) -> Bool {
        guard var existing = nodes[node] else { return false }
        existing.report = report
        if existing.drainRequested { existing.report.state = .draining }
        existing.reportedAt = now
        nodes[node] = existing
        return true
    }

    private func assignment(of node: NodeID) -> RoomName? {
        recordings.values.first { $0.recorder == node }?.room
    }

    public func nodes() async throws -> [NodeRecord] {
        var assigned: [NodeID: RoomName] = [:]
        for recording in recordings.values { assigned[recording.recorder] = recording.room }
        return nodeIDs.map { id in
            let node = nodes[id]!
            return NodeRecord(registration: node.registration, reported: node.report, reportedAt: node.reportedAt, assignment: assigned[id])
        }
    }

    @discardableResult
    public func requestDrain(node: NodeID) async throws -> Bool {
        guard var existing = nodes[node], assignment(of: node) == nil else { return false }
        existing.drainRequested = true
        existing.report.state = .draining
        nodes[node] = existing
        return true
    }

    public func forget(node: NodeID) async throws {
        if nodes.removeValue(forKey: node) != nil { nodeIDs.removeAll { $0 == node } }
    }

    // MARK: RoomPlacements

    public func heartbeat(node: NodeID, report: NodeReport, rooms: [RoomName], leaseTTL: Int64, now: Int64) async throws -> HeartbeatAnswer {
        let known = record(report, of: node, now: now)
        if lastHeartbeat < now - 1000 {
            if lastHeartbeat > 0, lastHeartbeat < now - leaseTTL { resumedAt = now }
            lastHeartbeat = now
        }
        let leaseUntil = now + leaseTTL
        var lost: [RoomName] = []
        for room in rooms {
            guard var placed = placements[room], placed.node == node else {
                lost.append(room)
                continue
            }
            placed.leaseUntil = leaseUntil
            placements[room] = placed
            // The conferences of the renewed rooms keep up with their leases.
            if var conference = conferences[room], conference.leaseUntil < leaseUntil {
                conference.leaseUntil = leaseUntil
                conferences[room] = conference
            }
        }
        return HeartbeatAnswer(
            lost: lost, drain: known && nodes[node]?.drainRequested == true, fleetResumedAt: resumedAt > 0 ? resumedAt : nil)
    }

    public nonisolated func place(
        _ room: RoomName, region: String?, policy: PlacementPolicy, external: ExternalLoads?, leaseTTL: Int64, now: Int64,
        using random: inout some RandomNumberGenerator
    ) async throws -> PlacementDecision {
        // Randomness drawn before the hop onto the store, as the engines do.
        try await place(room, region: region, policy: policy, external: external, leaseTTL: leaseTTL, now: now, seed: random.next())
    }

    private func place(
        _ room: RoomName, region: String?, policy: PlacementPolicy, external: ExternalLoads?, leaseTTL: Int64, now: Int64, seed: UInt64
    ) async throws -> PlacementDecision {
        let live = now - policy.heartbeatTTL
        if let existing = livePlacement(of: room, live: live, now: now) { return .existing(existing) }
        let candidates = nodeIDs.compactMap { id -> PlacementCandidates.Node? in
            let node = nodes[id]!
            guard node.reportedAt >= live, node.report.state == .serving, node.registration.kind == .roomServer else { return nil }
            return PlacementCandidates.Node(id: id, region: node.registration.region)
        }
        var random = SplitMix64(seed: seed)
        let chosen = try await Placement.choose(candidates: candidates, region: region, now: now, policy: policy, using: &random) { only in
            let wanted = only.map(Set.init)
            return nodeIDs.compactMap { id -> NodeLoad? in
                guard wanted?.contains(id) ?? true, let node = nodes[id], node.reportedAt >= live, node.registration.kind == .roomServer else { return nil }
                let placed = placedSince(external?.since ?? node.reportedAt, on: id, in: placedOn) { room, at in
                    placements[room].map { $0.node == id && $0.placedAt == at } ?? false
                }
                let load = load(node, placed: placed)
                return external?.applied(to: load) ?? load
            }
        }
        guard let chosen, let url = nodes[chosen.id]?.registration.url else {
            let silent = lastHeartbeat > 0 && lastHeartbeat < now - leaseTTL && nodes.values.contains { $0.registration.kind == .roomServer }
            return resumedAt >= live || silent ? .resuming : .noCapacity
        }
        let epoch = (placements[room]?.epoch ?? 0) + 1
        placements[room] = Placed(node: chosen.id, epoch: epoch, leaseUntil: now + leaseTTL, placedAt: now)
        Self.add(room, at: now, to: chosen.id, in: &placedOn)
        return .placed(
            RoomPlacement(
                room: room, node: chosen.id, url: url, epoch: epoch, leaseUntil: now + leaseTTL,
                conference: liveConference(of: room, live: live, now: now)))
    }

    /// The room's placement while it is sticky: its lease runs and its node reports (or the fleet is resuming).
    private func livePlacement(of room: RoomName, live: Int64, now: Int64) -> RoomPlacement? {
        guard let placed = placements[room], let node = nodes[placed.node],
            (placed.leaseUntil > now && node.reportedAt >= live) || resumedAt >= live
        else { return nil }
        return RoomPlacement(
            room: room, node: placed.node, url: node.registration.url, epoch: placed.epoch, leaseUntil: placed.leaseUntil,
            conference: liveConference(of: room, live: live, now: now))
    }

    private func liveConference(of room: RoomName, live: Int64, now: Int64) -> BridgePlacement? {
        guard let conference = conferences[room], conference.leaseUntil > now, let bridge = nodes[conference.bridge],
            bridge.reportedAt >= live
        else { return nil }
        return BridgePlacement(room: room, bridge: conference.bridge, url: bridge.registration.url, leaseUntil: conference.leaseUntil)
    }

    private func load(_ node: Node, placed: Int) -> NodeLoad {
        NodeLoad(
            id: node.registration.id, region: node.registration.region, state: node.report.state, capacity: node.registration.capacity,
            participants: node.report.participants, rooms: node.report.rooms, cpu: node.report.cpu, reportedAt: node.reportedAt,
            placedSinceReport: placed)
    }

    /// Rooms (or conferences) placed on `node` after `since` whose row still says so (`current`: the room's row is
    /// on this node, placed at that time).
    private func placedSince(
        _ since: Int64, on node: NodeID, in index: [NodeID: [(at: Int64, room: RoomName)]], current: (RoomName, Int64) -> Bool
    ) -> Int {
        var count = 0
        for entry in (index[node] ?? []).reversed() {
            guard entry.at > since else { break }
            if current(entry.room, entry.at) { count += 1 }
        }
        return count
    }

    /// Notes a placement in a node's index, kept in time order.
    private static func add(_ room: RoomName, at: Int64, to node: NodeID, in index: inout [NodeID: [(at: Int64, room: RoomName)]]) {
        let entries = index[node] ?? []
        // One row is one placement: the same room at the same time is noted once.
        let recent = entries.reversed().prefix(while: { $0.at >= at })
        guard !recent.contains(where: { $0.at == at && $0.room == room }) else { return }
        let position = entries.lastIndex { $0.at <= at }.map { $0 + 1 } ?? 0
        index[node, default: []].insert((at, room), at: position)
    }

    public func placement(of room: RoomName) async throws -> RoomPlacement? {
        guard let placed = placements[room] else { return nil }
        return RoomPlacement(
            room: room, node: placed.node, url: nodes[placed.node]?.registration.url ?? "", epoch: placed.epoch,
            leaseUntil: placed.leaseUntil)
    }

    public func claim(_ room: RoomName, node: NodeID, leaseTTL: Int64, now: Int64) async throws -> Fence? {
        guard var placed = placements[room] else {
            placements[room] = Placed(node: node, epoch: 1, leaseUntil: now + leaseTTL, placedAt: now)
            Self.add(room, at: now, to: node, in: &placedOn)
            return Fence(node: node, epoch: 1)
        }
        guard placed.node == node || placed.leaseUntil <= now else { return nil }
        if placed.node != node {
            placed.epoch += 1
            // The row keeps its placement time, now on this node.
            Self.add(room, at: placed.placedAt, to: node, in: &placedOn)
        }
        (placed.node, placed.leaseUntil) = (node, now + leaseTTL)
        placements[room] = placed
        return Fence(node: node, epoch: placed.epoch)
    }

    public func release(_ room: RoomName, fence: Fence) async throws {
        guard var placed = placements[room], placed.node == fence.node, placed.epoch == fence.epoch else { return }
        placed.leaseUntil = 0
        placements[room] = placed
    }

    // MARK: MediaStore

    public nonisolated func placeConference(
        _ room: RoomName, kind: NodeKind, region: String?, policy: PlacementPolicy, participantCap: Int, leaseTTL: Int64,
        now: Int64, using random: inout some RandomNumberGenerator
    ) async throws -> BridgePlacement? {
        await placeConference(
            room, kind: kind, region: region, policy: policy, participantCap: participantCap, leaseTTL: leaseTTL, now: now,
            seed: random.next())
    }

    private func placeConference(
        _ room: RoomName, kind: NodeKind, region: String?, policy: PlacementPolicy, participantCap: Int, leaseTTL: Int64,
        now: Int64, seed: UInt64
    ) -> BridgePlacement? {
        let live = now - policy.heartbeatTTL
        let leaseUntil = now + leaseTTL
        if var existing = conferences[room], existing.leaseUntil > now, let bridge = nodes[existing.bridge], bridge.reportedAt >= live {
            existing.leaseUntil = max(existing.leaseUntil, leaseUntil)
            conferences[room] = existing
            return BridgePlacement(room: room, bridge: existing.bridge, url: bridge.registration.url, leaseUntil: existing.leaseUntil)
        }
        let loads = nodeIDs.compactMap { id -> NodeLoad? in
            guard let node = nodes[id], node.registration.kind == kind, node.reportedAt >= live else { return nil }
            let placed = placedSince(node.reportedAt, on: id, in: conferencesPlacedOn) { room, at in
                conferences[room].map { $0.bridge == id && $0.placedAt == at } ?? false
            }
            var load = load(node, placed: placed)
            if participantCap > 0 { load.capacity = min(load.capacity, participantCap) }
            return load
        }
        var random = SplitMix64(seed: seed)
        guard let chosen = Placement.choose(from: loads, region: region, now: now, policy: policy, using: &random) else { return nil }
        conferences[room] = Conference(bridge: chosen.id, leaseUntil: leaseUntil, placedAt: now)
        Self.add(room, at: now, to: chosen.id, in: &conferencesPlacedOn)
        return BridgePlacement(room: room, bridge: chosen.id, url: nodes[chosen.id]?.registration.url ?? "", leaseUntil: leaseUntil)
    }

    public nonisolated func startRecording(
        _ room: RoomName, heartbeatTTL: Int64, now: Int64, using random: inout some RandomNumberGenerator
    ) async throws -> (recording: Recording, started: Bool)? {
        await startRecording(room, heartbeatTTL: heartbeatTTL, now: now, pick: random.next())
    }

    /// `pick` chooses among the free recorders (in id order).
    private func startRecording(_ room: RoomName, heartbeatTTL: Int64, now: Int64, pick: UInt64) -> (recording: Recording, started: Bool)? {
        let live = now - heartbeatTTL
        // A recording whose recorder stopped reporting (it died, or was replaced) ends here.
        recordings = recordings.filter { _, recording in (nodes[recording.recorder]?.reportedAt ?? .min) >= live }
        if let current = recordings[room] { return (current, false) }
        var assigned: [NodeID: RoomName] = [:]
        for recording in recordings.values { assigned[recording.recorder] = recording.room }
        let idle = nodeIDs.compactMap { id -> NodeRecord? in
            guard let node = nodes[id], node.registration.kind == .jibri else { return nil }
            let record = NodeRecord(registration: node.registration, reported: node.report, reportedAt: node.reportedAt, assignment: assigned[id])
            return record.mayRecord(now: now, heartbeatTTL: heartbeatTTL) ? record : nil
        }
        guard !idle.isEmpty else { return nil }
        let recording = Recording(room: room, recorder: idle[Int(pick % UInt64(idle.count))].registration.id, startedAt: now)
        recordings[room] = recording
        return (recording, true)
    }

    public func stopRecording(_ room: RoomName) async throws -> Recording? {
        recordings.removeValue(forKey: room)
    }

    // MARK: FleetStore

    public func lead(holder: String, ttl: Int64, now: Int64) async throws -> Int64? {
        guard let current = lease else {
            lease = (holder, 1, now + ttl)
            return 1
        }
        guard current.holder == holder || current.until <= now else { return nil }
        let term = current.holder == holder ? current.term : current.term + 1
        lease = (holder, term, now + ttl)
        return term
    }

    public func resign(holder: String) async throws {
        if lease?.holder == holder { lease?.until = 0 }
    }

    public func declare(_ pool: FleetPool) async throws -> Int {
        guard var existing = pools[pool.name] else {
            pools[pool.name] = Pool(pool: pool)
            return pool.desired
        }
        let desired = min(max(existing.pool.desired, pool.min), pool.max)
        existing.pool = FleetPool(name: pool.name, kind: pool.kind, region: pool.region, min: pool.min, max: pool.max, desired: desired)
        pools[pool.name] = existing
        return desired
    }

    public func pools() async throws -> [FleetPool] { pools.keys.sorted().map { pools[$0]!.pool } }

    public func policyMemory(pool: PoolName) async throws -> String? { pools[pool]?.memory }

    public func savePolicyMemory(pool: PoolName, _ memory: String) async throws { pools[pool]?.memory = memory }

    public func setDesired(pool: PoolName, desired: Int) async throws -> Bool {
        guard pools[pool] != nil else { return false }
        pools[pool]?.pool.desired = desired
        return true
    }

    public func save(_ instance: FleetInstance) async throws {
        var saved = instance
        // As the engines' upsert: an instance saved again keeps its protection (set through `setProtected`).
        if let existing = instances[instance.id] ?? terminated[instance.id] { saved.protected = existing.protected }
        if saved.state == .terminated {
            instances[saved.id] = nil
            terminated[saved.id] = saved
        } else {
            terminated[saved.id] = nil
            instances[saved.id] = saved
        }
    }

    public func rename(instance: InstanceID, to id: InstanceID) async throws {
        guard instance != id else { return }
        guard instances[id] == nil, terminated[id] == nil else { throw StoreError(.conflict, "an instance \(id) exists already") }
        if var ended = terminated.removeValue(forKey: instance) {
            ended.id = id
            terminated[id] = ended
            return
        }
        guard var existing = instances.removeValue(forKey: instance) else { return }
        existing.id = id
        instances[id] = existing
    }

    public func instances(pool: PoolName?, includeTerminated: Bool) async throws -> [FleetInstance] {
        let candidates = includeTerminated ? Array(instances.values) + Array(terminated.values) : Array(instances.values)
        return candidates.filter { pool == nil || $0.pool == pool }.sorted { ($0.launchedAt, $0.id) < ($1.launchedAt, $1.id) }
    }

    public func setProtected(instance: InstanceID, _ protected: Bool) async throws -> PoolName? {
        guard var existing = instances[instance], existing.state != .terminated else { return nil }
        existing.protected = protected
        instances[instance] = existing
        return existing.pool
    }

    @discardableResult
    public func record(_ activity: ScalingActivity) async throws -> ScalingActivity {
        var recorded = activity
        recorded.id = nextActivity
        nextActivity += 1
        activities.append(recorded)
        return recorded
    }

    public func activities(pool: PoolName?, limit: Int) async throws -> [ScalingActivity] {
        Array(activities.reversed().lazy.filter { pool == nil || $0.pool == pool }.prefix(max(0, limit)))
    }

    @discardableResult
    public func prune(before: Int64) async throws -> Int {
        let counts = (activities.count, terminated.count, conferences.count)
        activities.removeAll { $0.at < before }
        terminated = terminated.filter { $0.value.stateSince >= before }
        conferences = conferences.filter { $0.value.leaseUntil >= before }
        if conferences.count < counts.2 {
            for (node, entries) in conferencesPlacedOn {
                conferencesPlacedOn[node] = entries.filter { conferences[$0.room]?.bridge == node }
            }
        }
        return counts.0 - activities.count + counts.1 - terminated.count + counts.2 - conferences.count
    }
}
