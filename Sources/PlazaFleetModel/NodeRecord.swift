public import PlazaCore

/// What a node tells the registry when it starts: where clients reach it and how much it can take.
public struct NodeRegistration: Sendable, Equatable {
    public var id: NodeID
    /// Base URL clients use for this node (`https://node-1.example.org`); join turns it into the WebSocket URL.
    public var url: String
    public var region: String
    /// Participants the node is sized for.
    public var capacity: Int
    /// What it is: a room server (rooms are placed on it), a bridge (conferences are), a recorder (recordings are).
    public var kind: NodeKind
    /// Where the fleet's servers reach the node's control API, when it has one they drive: a Janus's Admin API
    /// (`http://10.0.0.7:7088/admin`), through which room servers create its conferences and admit participants.
    public var controlURL: String?

    public init(id: NodeID, url: String, region: String, capacity: Int, kind: NodeKind = .roomServer, controlURL: String? = nil) {
        (self.id, self.url, self.region, self.capacity, self.kind, self.controlURL) = (id, url, region, capacity, kind, controlURL)
    }
}

/// A node's periodic report of its load.
public struct NodeReport: Sendable, Equatable {
    public var state: NodeState
    public var connections: Int
    public var rooms: Int
    public var participants: Int
    /// CPU in use, 0…1 of the machine.
    public var cpu: Double
    public var bytesOutPerSecond: Double
    /// Bytes received per second: a media bridge's (`bit_rate_download`); room servers report 0.
    public var bytesInPerSecond: Double
    /// Participants in its largest room or conference.
    public var largestRoom: Int

    public init(
        state: NodeState = .serving, connections: Int = 0, rooms: Int = 0, participants: Int = 0, cpu: Double = 0,
        bytesOutPerSecond: Double = 0, bytesInPerSecond: Double = 0, largestRoom: Int = 0
    ) {
        (self.state, self.connections, self.rooms, self.participants) = (state, connections, rooms, participants)
        (self.cpu, self.bytesOutPerSecond, self.bytesInPerSecond) = (cpu, bytesOutPerSecond, bytesInPerSecond)
        self.largestRoom = largestRoom
    }
}

/// Whether an instance is at work: the one rule for every kind, which the autoscaler (idle metric, scale-in
/// order, drain), recording assignment and the fleet API all apply. The stores only read what it needs (a
/// node's report and its assigned recording); none of them derives it again in SQL.
public enum Occupancy: String, Sendable, Codable {
    /// Nobody on it and no job assigned: a recorder that may take a recording, an instance that may go first.
    case idle
    /// Anyone or any room on it, or a job assigned that its report may not show yet.
    case busy

    /// A node is busy while it reports participants or rooms, or while a recording is assigned to it (its
    /// recorder may not have reported the job yet).
    public init(_ report: NodeReport, assignment: RoomName?) {
        self = report.participants > 0 || report.rooms > 0 || assignment != nil ? .busy : .idle
    }

    /// `report` as the fleet counts it: an assigned job is one room and one participant at least, even before
    /// the instance reports it, so a recorder given a recording is never mistaken for an empty one.
    public static func counting(_ assignment: RoomName?, in report: NodeReport) -> NodeReport {
        guard assignment != nil else { return report }
        var counted = report
        counted.rooms = max(report.rooms, 1)
        counted.participants = max(report.participants, 1)
        counted.largestRoom = max(report.largestRoom, 1)
        return counted
    }
}

/// A registered node as the registry knows it.
public struct NodeRecord: Sendable, Equatable {
    public var registration: NodeRegistration
    /// Its last report, with an assigned job counted (`Occupancy.counting`).
    public var report: NodeReport
    /// Milliseconds since the Unix epoch of the last report (or of the registration).
    public var reportedAt: Int64
    /// The room a recorder is to record, when one is assigned to it.
    public var assignment: RoomName?

    /// `reported` is the node's report as stored; the record counts `assignment` in it.
    public init(registration: NodeRegistration, reported: NodeReport, reportedAt: Int64, assignment: RoomName? = nil) {
        self.registration = registration
        self.report = Occupancy.counting(assignment, in: reported)
        (self.reportedAt, self.assignment) = (reportedAt, assignment)
    }

    public var occupancy: Occupancy { Occupancy(report, assignment: assignment) }

    /// Whether a recording may be assigned to this node at `now`: a recorder that reported within `heartbeatTTL`,
    /// serves (a node asked to drain reports `draining`) and is idle.
    public func mayRecord(now: Int64, heartbeatTTL: Int64) -> Bool {
        registration.kind == .jibri && report.state == .serving && now - reportedAt <= heartbeatTTL && occupancy == .idle
    }
}

/// Where an instance is in its life.
public enum InstanceState: String, Sendable, Codable {
    /// Recorded before the provider is asked to launch it (so a successor never launches it twice), then
    /// launched; not registered yet.
    case launching
    /// Registered and serving; counts as capacity.
    case serving
    /// Scale-in chose it: it takes no new rooms or jobs and is terminated once empty or at the drain deadline.
    case draining
    /// The provider was asked to terminate it.
    case terminating
    /// Gone. Kept for the record.
    case terminated

    /// Whether the instance counts as the pool's capacity (launching and serving ones do; from the moment scale-in
    /// picks it, an instance no longer does).
    public var isCapacity: Bool { self == .launching || self == .serving }
}

/// One instance of a pool, as the autoscaler knows it.
public struct FleetInstance: Sendable, Equatable, Codable {
    public var id: InstanceID
    public var pool: PoolName
    public var state: InstanceState
    /// Scale-in never chooses a protected instance.
    public var protected: Bool
    /// Milliseconds since the Unix epoch.
    public var launchedAt: Int64
    /// When the instance entered its current state.
    public var stateSince: Int64
    /// Consecutive failed health checks.
    public var healthFailures: Int

    public init(
        id: InstanceID, pool: PoolName, state: InstanceState, protected: Bool = false, launchedAt: Int64, stateSince: Int64,
        healthFailures: Int = 0
    ) {
        (self.id, self.pool, self.state, self.protected, self.launchedAt) = (id, pool, state, protected, launchedAt)
        (self.stateSince, self.healthFailures) = (stateSince, healthFailures)
    }
}
