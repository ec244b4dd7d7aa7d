public import PlazaFleet
public import PlazaFleetModel
import PlazaAutoscaling
public import PlazaCore
import PlazaPlacement
import PlazaMemoryStore
public import PlazaStore
import HeapModule
import Histogram
import Logging
import Synchronization
import Foundation

/// A workload replayed through the production fleet code on a simulated clock (`plaza simulate`): the autoscaler's
/// loop (`AutoscalerLoop`: policies, reconcile, warm-up, cooldowns, drains, health) on the in-memory store (`MemoryStore`, which keeps the engines' contract),
/// rooms and conferences placed and recordings assigned by the stores' own `place`, `placeConference` and
/// `startRecording`, and simulated instances that start after the model's delays, register, report the load the
/// model gives their conferences and react to the registry's answers as the agent does (`AgentReactions`).
/// Nothing here decides what the fleet does: it only plays the world around the decisions.
public struct Simulation: Sendable {
    public var pools: [PoolConfiguration]
    public var model: CapacityModel
    public var workload: Workload
    /// Seeds the random choices of placement and recording assignment.
    public var seed: UInt64
    /// The simulated moment of the workload's second 0, milliseconds since the Unix epoch: Monday 5 January 2026,
    /// midnight UTC, so a synthetic week's Monday is a Monday.
    public var epoch: Int64 = 1_767_571_200_000
    /// Seconds between two samples of the report's timelines (the plots).
    public var timelineStep: Double = 900

    public init(pools: [PoolConfiguration], model: CapacityModel, workload: Workload, seed: UInt64 = 1) {
        (self.pools, self.model, self.workload, self.seed) = (pools, model, workload, seed)
    }

    /// What a run leaves: the report, every scaling activity in order, and what the instances told the registry
    /// (for replaying the same inputs through another autoscaler).
    public struct Outcome: Sendable {
        public var report: SimulationReport
        public var activities: [ScalingActivity]
        public var inputs: [RegistryInput]
    }

    /// What the autoscaler's store heard from the instances, and when the autoscaler passed, in order: the inputs
    /// of its decisions, to replay through another autoscaler.
    public enum RegistryInput: Sendable, Equatable {
        case register(NodeRegistration, at: Int64)
        /// A beat; a room server's (`heartbeat`) renews the leases of `rooms`.
        case report(NodeID, NodeReport, heartbeat: Bool, rooms: [RoomName], at: Int64)
        /// One tick of the autoscaler's loop.
        case pass(at: Int64)
    }

    /// The longest run, seconds: a year (times stay far from the limits of milliseconds in 64 bits).
    public static let longestRun = 366 * 86_400.0

    /// The interval of the autoscaler's ticks and the instances' beats: the greatest common divisor of the pools'
    /// periods (whole milliseconds), so that every pool passes on its own period.
    public var tick: Double {
        func gcd(_ a: Int64, _ b: Int64) -> Int64 { b == 0 ? a : gcd(b, a % b) }
        let periods = pools.map { Int64(($0.period * 1000).rounded()) }
        guard let first = periods.first else { return 60 }
        return Double(periods.dropFirst().reduce(first, gcd)) / 1000
    }

    /// Runs the workload to its end. `progress` hears the share done (0…1) now and then.
    public func run(progress: (@Sendable (Double) -> Void)? = nil, recordInputs: Bool = false) async throws -> Outcome {
        guard tick >= 1 else {
            throw SimulationError("the pools' periods must have a common divisor of at least a second (it is \(tick) s)")
        }
        let longest = Self.longestRun
        guard workload.duration <= longest, workload.conferences.allSatisfy({ $0.end <= longest }) else {
            throw SimulationError("a run lasts at most \(Int(longest / 86_400)) days: the workload goes on past that")
        }
        var engine = try await Engine(self, recordInputs: recordInputs)
        do {
            let outcome = try await engine.run(progress: progress)
            try await engine.store.close()
            return outcome
        } catch {
            try? await engine.store.close()
            throw error
        }
    }
}

/// A simulation in progress: the store, the autoscaler's loop, the simulated machines and conferences, and what
/// the report adds up.
private struct Engine {
    let simulation: Simulation
    let store: MemoryStore
    let time: SimulatedClock
    var loop: AutoscalerLoop
    let providers: [PoolName: SimulatedProvider]
    let recordInputs: Bool
    var inputs: [Simulation.RegistryInput] = []
    var random: SplitMix64

    let tickMilliseconds: Int64
    let policy: PlacementPolicy
    let roomLeaseTTL: Int64
    let poolIndex: [PoolName: Int]
    /// The kind conferences are placed on (the first bridge pool's), if the pools have bridges.
    let bridgeKind: NodeKind?
    let hasRoomServers: Bool
    let hasRecorders: Bool

    var machines: [NodeID: Machine] = [:]
    var conferences: [Conference]
    var events = EventQueue()
    var tallies: [PoolTally]
    var peakParticipants = 0
    var participantsNow = 0
    /// Per pool: conferences (recordings, for recorders) under way that it could not take yet, and their
    /// participants.
    var waiting: [Int]
    var waitingParticipants: [Int]
    /// Counts every change that may free capacity (a report, a registration): a refusal stands until it moves, so a
    /// retry meanwhile is answered without asking the store again (its answer could only be the same).
    var capacityEpoch = 0
    var refusedAt: [NodeKind: Int] = [:]
    /// Seconds between two samples of the timelines: a whole number of ticks.
    var timelineStep = 0.0

    struct Machine {
        let id: InstanceID
        let pool: Int
        let kind: NodeKind
        let model: InstanceModel
        let launchedAt: Int64
        var registered = false
        var draining = false
        /// Conferences on it (a room server's rooms, a bridge's conferences).
        var hosted: Set<Int> = []
        /// The conference a recorder records (once its agent took the job).
        var recording: Int?
        var participants = 0
        var egress = 0.0
        var ingress = 0.0
        var reactions = AgentReactions()

        var utilization: Double {
            if kind == .jibri { return recording == nil ? 0 : 1 }
            var load = Double(participants) / Double(max(model.capacity, 1))
            if let egressCapacity = model.egressCapacity { load = max(load, egress / egressCapacity) }
            return load
        }

        func report(rooms: Int, largest: Int) -> NodeReport {
            let busy = kind == .jibri && recording != nil
            return NodeReport(
                state: draining ? .draining : .serving, connections: kind == .jibri ? (busy ? 1 : 0) : participants,
                rooms: kind == .jibri ? (busy ? 1 : 0) : rooms, participants: kind == .jibri ? (busy ? 1 : 0) : participants,
                cpu: min(utilization, 1), bytesOutPerSecond: egress, bytesInPerSecond: ingress,
                largestRoom: kind == .jibri ? (busy ? 1 : 0) : largest)
        }
    }

    struct Conference {
        let index: Int
        let spec: SimulatedConference
        let room: RoomName
        let start: Int64
        let end: Int64
        var ended = false
        /// Whether a placement was tried yet (from its start).
        var attempted = false
        /// Whether a retry is scheduled.
        var retrying = false
        var roomServer: NodeID?
        var fence: Fence?
        var bridge: NodeID?
        var recorder: NodeID?
        var needsRoom: Bool
        var needsBridge: Bool
        var needsRecording: Bool
        var waitedRoom = false
        var waitedBridge = false
        var waitedRecording = false
        var recordingStartedAt: Int64?
    }

    /// What the report adds up for one pool.
    struct PoolTally {
        /// Serving instances' utilization every pass, in thousandths (quantiles to three significant digits in a
        /// bounded table, however long the run), and the HTML report's coarse bins.
        var utilization = Histogram<UInt64>(highestTrackableValue: Engine.utilizationCeiling, numberOfSignificantValueDigits: .three)
        var histogram = [Int](repeating: 0, count: 21)
        var overloadMinutes = 0.0
        var overloadParticipantMinutes = 0.0
        var conferencesKeptWaiting = 0
        var conferencesRefused = 0
        var recordingsKeptWaiting = 0
        var recordingsRefused = 0
        /// Every started recording's wait, seconds.
        var recordingWaits = Histogram<UInt64>(highestTrackableValue: Engine.waitCeiling, numberOfSignificantValueDigits: .three)
        var conferencesCut = 0
        var egressBytes = 0.0
        var instanceMilliseconds: Int64 = 0
        var launchedAt: [InstanceID: Int64] = [:]
        var peakInstances = 0
        var instanceSamples = 0
        var samples = 0
        var shortSince: Int64?
        var longestShort: Int64 = 0
        var timeline = Timeline()
    }

    struct Timeline {
        var desired: [Int] = [], ready: [Int] = [], launching: [Int] = [], draining: [Int] = [], needed: [Int] = [], demand: [Int] = []
    }

    init(_ simulation: Simulation, recordInputs: Bool) async throws {
        self.simulation = simulation
        self.recordInputs = recordInputs
        let time = SimulatedClock(simulation.epoch)
        self.time = time
        let clock: @Sendable () -> Int64 = { time.now }
        let logger = Logger(label: "plaza.simulate", factory: { _ in SwiftLogNoOpLogHandler() })
        store = MemoryStore(clock: clock)
        var providers: [PoolName: SimulatedProvider] = [:]
        for pool in simulation.pools { providers[pool.name] = SimulatedProvider(clock: clock) }
        self.providers = providers
        let numbers = Mutex([PoolName: Int]())
        let autoscaler = Autoscaler(
            pools: simulation.pools, store: store, holder: "plaza-simulate", leaseTTL: .seconds(86_400 * 365),
            retention: .seconds(86_400 * 365), logger: logger, clock: clock,
            newInstanceID: { pool in
                let number = numbers.withLock { $0[pool, default: 0] += 1; return $0[pool]! }
                return InstanceID("\(pool.rawValue)-\(number)")
            },
            providers: { [providers] pool in providers[pool.name]! })
        loop = AutoscalerLoop(autoscaler)
        random = SplitMix64(seed: simulation.seed)
        tickMilliseconds = Int64(simulation.tick * 1000)
        // Simulated instances report once a pass and whenever their load changes, so placement takes a report
        // as live for a pass (the live agents report every few seconds).
        policy = PlacementPolicy(heartbeatTTL: tickMilliseconds + 1000)
        roomLeaseTTL = 2 * tickMilliseconds + 1000
        poolIndex = Dictionary(uniqueKeysWithValues: simulation.pools.enumerated().map { ($0.element.name, $0.offset) })
        bridgeKind = simulation.pools.first { $0.kind == .jvb || $0.kind == .janus }?.kind
        hasRoomServers = simulation.pools.contains { $0.kind == .roomServer }
        hasRecorders = simulation.pools.contains { $0.kind == .jibri }
        tallies = Array(repeating: PoolTally(), count: simulation.pools.count)
        waiting = Array(repeating: 0, count: simulation.pools.count)
        waitingParticipants = waiting
        let epoch = simulation.epoch
        let (bridgeKind, hasRoomServers, hasRecorders) = (self.bridgeKind, self.hasRoomServers, self.hasRecorders)
        let bridgeFrom = simulation.model.bridgeMinParticipants
        conferences = simulation.workload.conferences.enumerated().map { index, spec in
            Conference(
                index: index, spec: spec, room: RoomName("c\(index)")!, start: epoch + Int64((spec.start * 1000).rounded()),
                end: epoch + Int64((spec.end * 1000).rounded()), needsRoom: hasRoomServers,
                needsBridge: bridgeKind != nil && spec.participants >= bridgeFrom, needsRecording: hasRecorders && spec.recorded)
        }
        for conference in conferences {
            events.push(conference.start, .start(conference.index))
            events.push(conference.end, .end(conference.index))
        }
    }

    mutating func run(progress: (@Sendable (Double) -> Void)?) async throws -> Simulation.Outcome {
        let epoch = simulation.epoch
        let end = epoch + Int64(simulation.workload.duration * 1000)
        let sampleEvery = max(1, Int((simulation.timelineStep * 1000 / Double(tickMilliseconds)).rounded()))
        timelineStep = Double(sampleEvery * Int(tickMilliseconds)) / 1000
        var tickNumber = 0
        var lastProgress = -1
        var now = epoch
        while now <= end {
            while let event = events.pop(before: now) {
                setTime(event.at)
                try await handle(event)
            }
            setTime(now)
            for id in machines.keys.sorted() where machines[id]!.registered {
                try await beat(id, now: now)
            }
            if recordInputs { inputs.append(.pass(at: now)) }
            await loop.tick(now: now)
            try await applyProviderChanges()
            try await sample(now: now, addToTimeline: tickNumber % sampleEvery == 0)
            tickNumber += 1
            now += tickMilliseconds
            let done = Int(Double(now - epoch) / Double(max(end - epoch, 1)) * 100)
            if done != lastProgress {
                lastProgress = done
                progress?(min(1, Double(done) / 100))
            }
        }
        // What happens after the last tick, up to the end; then the meetings still under way end with the run.
        while let event = events.pop(before: end) {
            setTime(event.at)
            try await handle(event)
        }
        setTime(end)
        for index in conferences.indices where conferences[index].attempted && !conferences[index].ended {
            try await endConference(index, now: end)
        }
        return try await finish(end: end)
    }

    private func setTime(_ now: Int64) { time.now = now }

    // MARK: events

    private mutating func handle(_ event: EventQueue.Event) async throws {
        switch event.kind {
        case .ready(let id):
            guard var machine = machines[id.node] else { return }
            let registration = NodeRegistration(
                id: id.node, url: "sim://\(id)", region: simulation.pools[machine.pool].region, capacity: machine.model.capacity,
                kind: machine.kind)
            try await store.register(registration, now: event.at)
            if recordInputs { inputs.append(.register(registration, at: event.at)) }
            machine.registered = true
            machines[id.node] = machine
            capacityEpoch += 1
        case .start(let index):
            participantsNow += conferences[index].spec.participants
            peakParticipants = max(peakParticipants, participantsNow)
            try await place(index, now: event.at)
        case .retry(let index):
            conferences[index].retrying = false
            guard !conferences[index].ended else { return }
            try await place(index, now: event.at)
        case .end(let index):
            participantsNow -= conferences[index].spec.participants
            try await endConference(index, now: event.at)
        }
    }

    /// Finds what the conference still needs: its room's server, its bridge, its recorder. What cannot be had now
    /// is tried again after `retrySeconds`, as a client told to retry would.
    private mutating func place(_ index: Int, now: Int64) async throws {
        count(index, -1)
        var conference = conferences[index]
        conference.attempted = true
        var changed: Set<NodeID> = []
        if conference.needsRoom, conference.roomServer == nil {
            var decision = PlacementDecision.noCapacity
            if refusedAt[.roomServer] != capacityEpoch {
                decision = try await store.place(
                    conference.room, region: conference.spec.region, policy: policy, leaseTTL: conference.end - now + roomLeaseTTL,
                    now: now, using: &random)
                if decision.placement == nil { refusedAt[.roomServer] = capacityEpoch }
            }
            if let placement = decision.placement, machines[placement.node] != nil {
                conference.roomServer = placement.node
                conference.fence = placement.fence
                host(index, on: placement.node, media: false)
                changed.insert(placement.node)
            } else if !conference.waitedRoom {
                conference.waitedRoom = true
                tally(kind: .roomServer, region: conference.spec.region) { $0.conferencesKeptWaiting += 1 }
            }
        }
        if conference.needsBridge, conference.bridge == nil, let bridgeKind {
            var placement: BridgePlacement?
            if refusedAt[bridgeKind] != capacityEpoch {
                placement = try await store.placeConference(
                    conference.room, kind: bridgeKind, region: conference.spec.region, policy: policy, participantCap: 0,
                    leaseTTL: conference.end - now + roomLeaseTTL, now: now, using: &random)
                if placement == nil { refusedAt[bridgeKind] = capacityEpoch }
            }
            if let placement, machines[placement.bridge] != nil {
                conference.bridge = placement.bridge
                host(index, on: placement.bridge, media: true)
                changed.insert(placement.bridge)
            } else if !conference.waitedBridge {
                conference.waitedBridge = true
                tally(kind: bridgeKind, region: conference.spec.region) { $0.conferencesKeptWaiting += 1 }
            }
        }
        if conference.needsRecording, conference.recorder == nil {
            var assigned: Recording?
            if refusedAt[.jibri] != capacityEpoch {
                assigned = try await store.startRecording(conference.room, heartbeatTTL: policy.heartbeatTTL, now: now, using: &random)?.recording
                if assigned == nil { refusedAt[.jibri] = capacityEpoch }
            }
            if let recording = assigned, machines[recording.recorder] != nil {
                conference.recorder = recording.recorder
                conference.recordingStartedAt = now
                changed.insert(recording.recorder)
            } else if !conference.waitedRecording {
                conference.waitedRecording = true
                tally(kind: .jibri, region: conference.spec.region) { $0.recordingsKeptWaiting += 1 }
            }
        }
        conferences[index] = conference
        count(index, 1)
        let missing =
            (conference.needsRoom && conference.roomServer == nil) || (conference.needsBridge && conference.bridge == nil)
            || (conference.needsRecording && conference.recorder == nil)
        let retryAt = now + Int64(simulation.model.retrySeconds * 1000)
        if missing, retryAt < conference.end, !conference.retrying {
            conferences[index].retrying = true
            events.push(retryAt, .retry(index))
        }
        for node in changed.sorted() { try await beat(node, now: now) }
    }

    private mutating func endConference(_ index: Int, now: Int64) async throws {
        count(index, -1)
        var conference = conferences[index]
        conference.ended = true
        var changed: Set<NodeID> = []
        if conference.needsRoom {
            if let node = conference.roomServer {
                unhost(index, from: node, media: false)
                changed.insert(node)
                if let fence = conference.fence { try await store.release(conference.room, fence: fence) }
            } else {
                tally(kind: .roomServer, region: conference.spec.region) { $0.conferencesRefused += 1 }
            }
        }
        if conference.needsBridge, let bridgeKind {
            if let node = conference.bridge {
                unhost(index, from: node, media: true)
                changed.insert(node)
            } else {
                tally(kind: bridgeKind, region: conference.spec.region) { $0.conferencesRefused += 1 }
            }
        }
        if conference.needsRecording {
            if let node = conference.recorder, let startedAt = conference.recordingStartedAt {
                // The meeting ended: its recorder goes idle, and its agent gives it back on its next beat.
                if machines[node]?.recording == index { machines[node]?.recording = nil }
                changed.insert(node)
                let pool = machines[node]?.pool
                let wait = UInt64(min(max(0, (startedAt - conference.start) / 1000), Int64(Self.waitCeiling)))
                if let pool {
                    tallies[pool].recordingWaits.record(wait)
                } else {
                    tally(kind: .jibri, region: conference.spec.region) { $0.recordingWaits.record(wait) }
                }
            } else {
                tally(kind: .jibri, region: conference.spec.region) { $0.recordingsRefused += 1 }
                _ = try await store.stopRecording(conference.room)
            }
        }
        conferences[index] = conference
        for node in changed.sorted() where machines[node]?.registered == true { try await beat(node, now: now) }
    }

    private mutating func host(_ index: Int, on node: NodeID, media: Bool) {
        guard var machine = machines[node] else { return }
        let participants = conferences[index].spec.participants
        machine.hosted.insert(index)
        machine.participants += participants
        if media {
            let egress = Double(participants) * simulation.model.egressPerParticipant(participants)
            machine.egress += egress
            machine.ingress += Double(participants) * simulation.model.ingressPerParticipant
        }
        machines[node] = machine
    }

    private mutating func unhost(_ index: Int, from node: NodeID, media: Bool) {
        guard var machine = machines[node], machine.hosted.remove(index) != nil else { return }
        let participants = conferences[index].spec.participants
        machine.participants -= participants
        if media {
            machine.egress = max(0, machine.egress - Double(participants) * simulation.model.egressPerParticipant(participants))
            machine.ingress = max(0, machine.ingress - Double(participants) * simulation.model.ingressPerParticipant)
            if machine.hosted.isEmpty { (machine.egress, machine.ingress) = (0, 0) }
        }
        machines[node] = machine
    }

    /// Adds (`sign` 1) or takes back (-1) what the conference counts as waiting: per pool of a kind it still
    /// misses, once it was tried and until it ends.
    private mutating func count(_ index: Int, _ sign: Int) {
        let conference = conferences[index]
        guard conference.attempted, !conference.ended else { return }
        func add(_ kind: NodeKind) {
            guard let pool = pool(of: kind, region: conference.spec.region) else { return }
            waiting[pool] += sign
            waitingParticipants[pool] += sign * (kind == .jibri ? 1 : conference.spec.participants)
        }
        if conference.needsRoom, conference.roomServer == nil { add(.roomServer) }
        if conference.needsBridge, conference.bridge == nil, let bridgeKind { add(bridgeKind) }
        if conference.needsRecording, conference.recorder == nil { add(.jibri) }
    }

    /// The pool a meeting of `region` waits for when no instance of `kind` takes it: the region's pool of that
    /// kind, or the first of that kind (placement's own fallback).
    private func pool(of kind: NodeKind, region: String) -> Int? {
        simulation.pools.firstIndex { $0.kind == kind && $0.region == region } ?? simulation.pools.firstIndex { $0.kind == kind }
    }

    /// Adds to the tally of the pool a meeting of `region` waits for (what no instance took belongs to no
    /// instance's pool).
    private mutating func tally(kind: NodeKind, region: String, _ change: (inout PoolTally) -> Void) {
        guard let pool = pool(of: kind, region: region) else { return }
        change(&tallies[pool])
    }

    // MARK: instances

    /// An instance reports its load and carries out what the registry answers, as its agent (or room server) does.
    private mutating func beat(_ node: NodeID, now: Int64) async throws {
        guard var machine = machines[node], machine.registered else { return }
        capacityEpoch += 1
        let largest = machine.hosted.map { conferences[$0].spec.participants }.max() ?? 0
        let report = machine.report(rooms: machine.hosted.count, largest: largest)
        let answer: RegistryAnswer
        let rooms: [RoomName] = []
        if machine.kind == .roomServer {
            // Rooms are placed with leases to their meetings' ends, so beats need not renew them one by one.
            let beat = try await store.heartbeat(node: node, report: report, rooms: rooms, leaseTTL: roomLeaseTTL, now: now)
            answer = RegistryAnswer(drain: beat.drain)
        } else {
            answer = try await store.report(node: node, report, now: now)
        }
        if recordInputs { inputs.append(.report(node, report, heartbeat: machine.kind == .roomServer, rooms: rooms, at: now)) }
        var recorded = false
        for action in machine.reactions.step(kind: machine.kind, busy: machine.recording != nil, answer: answer) {
            switch action {
            case .drain:
                machine.draining = true
            case .record(let room, _):
                machine.recording = room.flatMap(Self.conference(of:)).flatMap { conferences[$0].ended ? nil : $0 }
                recorded = true
            case .recordingEnded(let room):
                _ = try await store.stopRecording(room)
            }
            machine.reactions.carriedOut(action)
        }
        // Jibri starts at once in the model: its agent's next look sees it busy.
        if recorded { _ = machine.reactions.step(kind: machine.kind, busy: machine.recording != nil, answer: answer) }
        machines[node] = machine
    }

    /// The conference a room name stands for (`c<index>`).
    static func conference(of room: RoomName) -> Int? { Int(room.rawValue.dropFirst()) }

    /// Launched machines start and register after the model's delays; terminated ones take down what they held:
    /// every conference on them is cut, and its participants join again elsewhere at once.
    private mutating func applyProviderChanges() async throws {
        for (name, provider) in providers.sorted(by: { $0.key < $1.key }) {
            let pool = poolIndex[name]!
            for change in provider.takeChanges() {
                if change.launched {
                    let configuration = simulation.pools[pool]
                    let model = simulation.model.instance(pool: configuration.name.rawValue, kind: configuration.kind)
                    machines[change.id.node] = Machine(id: change.id, pool: pool, kind: configuration.kind, model: model, launchedAt: change.at)
                    tallies[pool].launchedAt[change.id] = change.at
                    events.push(change.at + Int64(model.readyDelay * 1000), .ready(change.id))
                } else {
                    if let launched = tallies[pool].launchedAt.removeValue(forKey: change.id) {
                        tallies[pool].instanceMilliseconds += change.at - launched
                    }
                    guard let machine = machines.removeValue(forKey: change.id.node) else { continue }
                    var cut = Array(machine.hosted)
                    if let recording = machine.recording { cut.append(recording) }
                    tallies[pool].conferencesCut += Set(cut).count
                    for index in Set(cut).sorted() where !conferences[index].ended {
                        count(index, -1)
                        defer { count(index, 1) }
                        if conferences[index].roomServer == change.id.node { (conferences[index].roomServer, conferences[index].fence) = (nil, nil) }
                        if conferences[index].bridge == change.id.node { conferences[index].bridge = nil }
                        if conferences[index].recorder == change.id.node {
                            (conferences[index].recorder, conferences[index].recordingStartedAt) = (nil, nil)
                            _ = try await store.stopRecording(conferences[index].room)
                        }
                        if !conferences[index].retrying {
                            conferences[index].retrying = true
                            events.push(change.at, .retry(index))
                        }
                    }
                }
            }
        }
    }

    // MARK: the report

    private mutating func sample(now: Int64, addToTimeline: Bool) async throws {
        let seconds = Double(tickMilliseconds) / 1000
        let minutes = seconds / 60
        let desired = Dictionary(try await store.pools().map { ($0.name, $0.desired) }) { first, _ in first }
        var ready = [Int](repeating: 0, count: simulation.pools.count)
        var launching = ready, draining = ready, demand = ready, overloaded = ready
        var load = [Double](repeating: 0, count: simulation.pools.count)
        for machine in machines.values {
            let pool = machine.pool
            guard machine.registered else {
                launching[pool] += 1
                continue
            }
            if machine.draining { draining[pool] += 1 } else { ready[pool] += 1 }
            let utilization = machine.utilization
            load[pool] += utilization
            demand[pool] += machine.kind == .jibri ? (machine.recording == nil ? 0 : 1) : machine.participants
            if !machine.draining {
                tallies[pool].utilization.record(Self.thousandths(utilization))
                tallies[pool].histogram[utilization > 1 ? 20 : min(19, Int(utilization * 20))] += 1
            }
            if utilization > 1 {
                overloaded[pool] += 1
                tallies[pool].overloadMinutes += minutes
                tallies[pool].overloadParticipantMinutes += Double(machine.participants) * minutes
            }
            tallies[pool].egressBytes += machine.egress * seconds
        }
        for (pool, configuration) in simulation.pools.enumerated() {
            let running = providers[configuration.name]!.running
            tallies[pool].peakInstances = max(tallies[pool].peakInstances, running)
            tallies[pool].instanceSamples += running
            tallies[pool].samples += 1
            let short = waiting[pool] > 0 || overloaded[pool] > 0
            if short {
                let since = tallies[pool].shortSince ?? now
                tallies[pool].shortSince = since
                tallies[pool].longestShort = max(tallies[pool].longestShort, now - since + tickMilliseconds)
            } else {
                tallies[pool].shortSince = nil
            }
            guard addToTimeline else { continue }
            let needed = Int((load[pool] - 1e-9).rounded(.up)) + (configuration.kind == .jibri ? waiting[pool] : 0)
            tallies[pool].timeline.desired.append(desired[configuration.name] ?? configuration.desired)
            tallies[pool].timeline.ready.append(ready[pool])
            tallies[pool].timeline.launching.append(launching[pool])
            tallies[pool].timeline.draining.append(draining[pool])
            tallies[pool].timeline.needed.append(max(0, needed))
            tallies[pool].timeline.demand.append(demand[pool] + waitingParticipants[pool])
        }
    }

    private mutating func finish(end: Int64) async throws -> Simulation.Outcome {
        var activities: [ScalingActivity] = []
        var reports: [PoolReport] = []
        var timelines: [PoolTimeline] = []
        for (pool, configuration) in simulation.pools.enumerated() {
            var tally = tallies[pool]
            for (_, launched) in tally.launchedAt { tally.instanceMilliseconds += end - launched }
            let poolActivities = Array(try await store.activities(pool: configuration.name, limit: 10_000_000).reversed())
            activities += poolActivities
            let model = simulation.model.instance(pool: configuration.name.rawValue, kind: configuration.kind)
            let hours = Double(tally.instanceMilliseconds) / 3_600_000
            let instanceCost = hours * model.price
            let egressGB = tally.egressBytes / 1e9
            let egressCost = egressGB * simulation.model.egressPricePerGB
            let utilization = tally.utilization
            reports.append(
                PoolReport(
                    name: configuration.name.rawValue, kind: configuration.kind.rawValue, instanceHours: hours,
                    cost: instanceCost + egressCost, instanceCost: instanceCost, egressCost: egressCost, egressGB: egressGB,
                    peakInstances: tally.peakInstances, meanInstances: Double(tally.instanceSamples) / Double(max(tally.samples, 1)),
                    utilization: Quantiles(
                        p50: Self.quantile(utilization, 0.5) / 1000, p95: Self.quantile(utilization, 0.95) / 1000,
                        p99: Self.quantile(utilization, 0.99) / 1000),
                    overloadMinutes: tally.overloadMinutes, overloadParticipantMinutes: tally.overloadParticipantMinutes,
                    conferencesKeptWaiting: tally.conferencesKeptWaiting, conferencesRefused: tally.conferencesRefused,
                    recordingsKeptWaiting: tally.recordingsKeptWaiting, recordingsRefused: tally.recordingsRefused,
                    recordingWaitP95: Self.quantile(tally.recordingWaits, 0.95), conferencesCut: tally.conferencesCut,
                    activities: poolActivities.count, flaps: Self.flaps(poolActivities),
                    timeToCapacity: Double(tally.longestShort) / 1000))
            timelines.append(
                PoolTimeline(
                    name: configuration.name.rawValue, kind: configuration.kind.rawValue, step: timelineStep,
                    desired: tally.timeline.desired, ready: tally.timeline.ready, launching: tally.timeline.launching,
                    draining: tally.timeline.draining, needed: tally.timeline.needed, demand: tally.timeline.demand,
                    utilizationHistogram: tally.histogram))
        }
        let specs = simulation.workload.conferences
        let participants = specs.reduce(0) { $0 + $1.participants }
        let workload = WorkloadSummary(
            conferences: specs.count, recorded: specs.filter(\.recorded).count, participants: participants,
            meanSize: Double(participants) / Double(max(specs.count, 1)),
            meanDurationMinutes: specs.reduce(0) { $0 + ($1.end - $1.start) } / 60 / Double(max(specs.count, 1)),
            duration: simulation.workload.duration, peakParticipants: peakParticipants)
        let total = Total(
            instanceHours: reports.reduce(0) { $0 + $1.instanceHours }, cost: reports.reduce(0) { $0 + $1.cost },
            overloadMinutes: reports.reduce(0) { $0 + $1.overloadMinutes }, recordingsRefused: reports.reduce(0) { $0 + $1.recordingsRefused },
            conferencesCut: reports.reduce(0) { $0 + $1.conferencesCut },
            conferencesRefused: reports.reduce(0) { $0 + $1.conferencesRefused })
        return Simulation.Outcome(
            report: SimulationReport(pools: reports, total: total, workload: workload, timelines: timelines),
            activities: activities.sorted { ($0.at, $0.id) < ($1.at, $1.id) }, inputs: inputs)
    }

    /// Utilization recorded up to a hundred times capacity; waits up to a year.
    static let utilizationCeiling: UInt64 = 100_000
    static let waitCeiling: UInt64 = 365 * 86_400

    static func thousandths(_ utilization: Double) -> UInt64 {
        UInt64(min(max(0, (utilization * 1000).rounded()), Double(utilizationCeiling)))
    }

    /// The `q` quantile of what a histogram recorded; 0 when it recorded nothing.
    static func quantile(_ histogram: Histogram<UInt64>, _ q: Double) -> Double {
        histogram.totalCount == 0 ? 0 : Double(histogram.valueAtPercentile(q * 100))
    }

    /// Changes of desired capacity that reverse the pool's previous change within 30 minutes.
    static func flaps(_ activities: [ScalingActivity]) -> Int {
        var flaps = 0
        var previous: (at: Int64, up: Bool)?
        for activity in activities where activity.action == "desired" {
            guard let from = activity.from, let to = activity.to, from != to else { continue }
            let up = to > from
            if let previous, previous.up != up, activity.at - previous.at <= 30 * 60_000 { flaps += 1 }
            previous = (activity.at, up)
        }
        return flaps
    }
}

/// A simulation that cannot run, and why.
public struct SimulationError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The simulated time every part of a run reads: the store, the autoscaler and the provider.
final class SimulatedClock: Sendable {
    private let value: Mutex<Int64>
    init(_ start: Int64) { value = Mutex(start) }
    var now: Int64 {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}


/// The simulation's events in time order (ties in the order they were added).
struct EventQueue {
    enum Kind: Equatable {
        case ready(InstanceID)
        case start(Int)
        case end(Int)
        case retry(Int)
    }

    struct Event: Comparable {
        let at: Int64
        let sequence: Int
        let kind: Kind

        static func < (one: Event, other: Event) -> Bool { (one.at, one.sequence) < (other.at, other.sequence) }
        static func == (one: Event, other: Event) -> Bool { (one.at, one.sequence) == (other.at, other.sequence) }
    }

    private var heap = Heap<Event>()
    private var sequence = 0

    mutating func push(_ at: Int64, _ kind: Kind) {
        sequence += 1
        heap.insert(Event(at: at, sequence: sequence, kind: kind))
    }

    /// The earliest event at or before `time`, removed; nil when there is none.
    mutating func pop(before time: Int64) -> Event? {
        guard let first = heap.min, first.at <= time else { return nil }
        return heap.removeMin()
    }
}
