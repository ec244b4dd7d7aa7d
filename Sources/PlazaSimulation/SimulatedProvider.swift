public import PlazaFleet
public import PlazaFleetModel
import Synchronization

/// The cloud of a simulation: it runs what the autoscaler launches from the simulated moment of the launch until
/// it is terminated, and tells the simulation what happened since it last asked. Its machines start (launch and
/// boot delays) in the simulation, which registers them when they are ready.
public final class SimulatedProvider: InstanceProvider {
    /// A launch or a termination at a simulated time (milliseconds since the Unix epoch).
    public struct Change: Sendable, Equatable {
        public var id: InstanceID
        public var at: Int64
        public var launched: Bool
    }

    private let clock: @Sendable () -> Int64
    private let state = Mutex<(running: Set<InstanceID>, changes: [Change])>(([], []))

    public init(clock: @escaping @Sendable () -> Int64) { self.clock = clock }

    public func launch(_ request: LaunchRequest) async throws {
        let now = clock()
        state.withLock {
            if $0.running.insert(request.id).inserted { $0.changes.append(Change(id: request.id, at: now, launched: true)) }
        }
    }

    public func terminate(_ id: InstanceID) async throws {
        let now = clock()
        state.withLock {
            if $0.running.remove(id) != nil { $0.changes.append(Change(id: id, at: now, launched: false)) }
        }
    }

    public func list() async throws -> [ProviderInstance] {
        state.withLock { $0.running.sorted().map { ProviderInstance(id: $0) } }
    }

    public func protect(_ id: InstanceID) async throws {}
    public func draining(_ id: InstanceID) async throws {}

    /// The launches and terminations since the last call, in order.
    public func takeChanges() -> [Change] {
        state.withLock { state in
            defer { state.changes.removeAll() }
            return state.changes
        }
    }

    public var running: Int { state.withLock { $0.running.count } }
}
