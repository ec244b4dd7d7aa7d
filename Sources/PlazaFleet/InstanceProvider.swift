public import PlazaFleetModel
import Foundation

/// The one interface between the autoscaler and whatever runs instances: processes on this machine, an
/// operator's scripts, a cloud's auto scaling group. Every call is idempotent: the reconcile loop repeats calls
/// after a crash or a failed pass, and that must never make a second instance.
public protocol InstanceProvider: Sendable {
    /// Makes sure an instance with this id runs: launches it unless it already does.
    func launch(_ request: LaunchRequest) async throws
    /// Makes sure the instance is gone (nothing happens for an unknown id).
    func terminate(_ id: InstanceID) async throws
    /// The instances the provider runs for this pool (running or starting).
    func list() async throws -> [ProviderInstance]
    /// Protects an instance from the provider's own scale-in, so that a cloud group never picks a victim
    /// itself: called when an instance starts serving. Plaza alone chooses what scales in, and drains it first.
    func protect(_ id: InstanceID) async throws
    /// Called every period while an instance drains, so a provider that terminates on a timer (a lifecycle hook)
    /// extends it.
    func draining(_ id: InstanceID) async throws
    /// Whether the provider names its instances itself (an auto scaling group's instance ids): the autoscaler
    /// then records a placeholder per launch and gives it the id of the next new instance the provider lists.
    var choosesIDs: Bool { get }
    /// The pool's statistics of this period (`Sum(idle)` and so on), for a provider that publishes them.
    func publish(_ statistics: [String: Double]) async throws
}

extension InstanceProvider {
    public var choosesIDs: Bool { false }
    public func publish(_ statistics: [String: Double]) async throws {}
}

/// What the autoscaler asks for: an id it chose (and recorded before asking). The provider knows its pool.
public struct LaunchRequest: Sendable, Equatable {
    public var id: InstanceID
    /// Instances the pool has once this one runs: what a provider that counts rather than names (an auto
    /// scaling group's desired capacity) sets, so that asking twice launches nothing twice.
    public var capacity: Int

    public init(id: InstanceID, capacity: Int) {
        (self.id, self.capacity) = (id, capacity)
    }
}

/// One instance a provider lists.
public struct ProviderInstance: Sendable, Equatable, Codable {
    public var id: InstanceID
    public init(id: InstanceID) { self.id = id }
}

/// A provider call that failed (a script's exit status, an API's answer): recorded in the activity, retried next
/// pass.
public struct ProviderError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A pool's `provider` object: `type` and that provider's settings.
public enum ProviderSettings: Codable, Sendable, Equatable {
    case local(LocalProviderSettings)
    case command(CommandProviderSettings)
    case aws(AWSProviderSettings)

    enum CodingKeys: String, CodingKey { case type }

    public init(from decoder: any Decoder) throws {
        let type = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .type)
        switch type {
        case "local": self = .local(try LocalProviderSettings(from: decoder))
        case "command": self = .command(try CommandProviderSettings(from: decoder))
        case "aws": self = .aws(try AWSProviderSettings(from: decoder))
        default:
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "unknown provider type '\(type)' (local, command, aws)"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .local(let settings):
            try container.encode("local", forKey: .type)
            try settings.encode(to: encoder)
        case .command(let settings):
            try container.encode("command", forKey: .type)
            try settings.encode(to: encoder)
        case .aws(let settings):
            try container.encode("aws", forKey: .type)
            try settings.encode(to: encoder)
        }
    }

    func validate(kind: NodeKind, at: String) throws(PoolFileError) {
        switch self {
        case .local(let settings):
            if settings.arguments == nil, LocalProviderSettings.defaultArguments(kind).isEmpty {
                throw PoolFileError("\(at): a local provider for a \(kind.rawValue) pool needs 'arguments' (what to run)")
            }
            guard settings.stopTimeout > 0 else { throw PoolFileError("\(at): provider.stopTimeout must be > 0") }
        case .command(let settings):
            for (name, argv) in [("launch", settings.launch), ("terminate", settings.terminate), ("list", settings.list)] where argv.isEmpty {
                throw PoolFileError("\(at): the command provider needs a non-empty '\(name)' command")
            }
            guard settings.timeout > 0 else { throw PoolFileError("\(at): provider.timeout must be > 0") }
        case .aws(let settings):
            guard !settings.autoScalingGroup.isEmpty, !settings.region.isEmpty else {
                throw PoolFileError("\(at): the aws provider needs 'autoScalingGroup' and 'region'")
            }
        }
    }
}

/// `{placeholder}` substitution in provider arguments.
func substitute(_ argument: String, _ values: [String: String]) -> String {
    var result = argument
    for (key, value) in values { result = result.replacingOccurrences(of: "{\(key)}", with: value) }
    return result
}
