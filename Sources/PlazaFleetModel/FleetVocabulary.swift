// The fleet's vocabulary: what an instance is, how it is named, and whether it is at work.
//
// Every module that speaks of the fleet (placement, autoscaling, the stores, the directory, the agent, the
// autoscaler and the CLI) uses these types, so that a node's kind or an instance's occupancy has one definition
// and one spelling, in Swift and in both SQL dialects.

/// What a registered node is. The raw value is the spelling on the wire, in pool files and in the store.
public enum NodeKind: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// A `plaza node` process: rooms are placed on it.
    case roomServer = "room-server"
    /// A Jitsi Videobridge with a `plaza agent --kind jvb` beside it: conferences are placed on it.
    case jvb
    /// A Janus gateway with a `plaza agent --kind janus` beside it: conferences are placed on it.
    case janus
    /// A Jibri recorder with a `plaza agent --kind jibri` beside it: recordings are assigned to it, one at a time.
    case jibri
    /// Anything else that registers and reports like a node (a `custom` pool, `plaza agent --kind custom`).
    case custom

    public var description: String { rawValue }

    /// Whether conferences are placed on nodes of this kind (`media.bridgeKind`).
    public var isBridge: Bool { self == .jvb || self == .janus }

    /// Participants a node of this kind is sized for when its registration says nothing (`cluster.capacity`):
    /// a room server carries thousands of chat participants, a bridge hundreds of media streams, a recorder one
    /// recording.
    public var defaultCapacity: Int {
        switch self {
        case .roomServer: 5_000
        case .jvb, .janus, .custom: 500
        case .jibri: 1
        }
    }
}

/// A name in the fleet, typed by what it names (`NodeID`, `InstanceID`, `PoolName`), so that an instance id is
/// never passed where a pool name is expected. Encoded as its plain string everywhere (JSON, SQL, logs).
public struct FleetName<Names>: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible,
    ExpressibleByStringInterpolation
{
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// What `FleetName`s name. Never instantiated.
public enum NodeNames {}
/// What `FleetName`s name. Never instantiated.
public enum InstanceNames {}
/// What `FleetName`s name. Never instantiated.
public enum PoolNames {}

/// A node's name in the registry: unique in the fleet. An instance an autoscaler launched registers under its
/// instance id (`InstanceID.node`).
public typealias NodeID = FleetName<NodeNames>

/// An instance's id with its provider: a local process name, a script's id, an EC2 instance id.
public typealias InstanceID = FleetName<InstanceNames>

/// A pool's name in the pool file: letters, digits, `-` and `_`.
public typealias PoolName = FleetName<PoolNames>

extension FleetName where Names == InstanceNames {
    /// The node this instance registers as: room servers and agents register under their instance id, which is
    /// how the autoscaler finds an instance's reports.
    public var node: NodeID { NodeID(rawValue) }
}

extension FleetName where Names == NodeNames {
    /// The instance a node is, when an autoscaler launched it.
    public var instance: InstanceID { InstanceID(rawValue) }
}

/// A node's state for placement.
public enum NodeState: String, Sendable, Codable, CaseIterable {
    /// Takes new rooms (or conferences, or recordings).
    case serving
    /// Keeps its rooms and sockets, takes no new ones (scale-in, maintenance, shutdown).
    case draining
}
