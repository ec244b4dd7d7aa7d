import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the room domain reads the time. Passed in rather than read from the system inside the code that
/// decides, so that tests and `plaza simulate` run the same code on a manual clock.
public protocol RoomClock: Sendable {
    /// A monotonic reading, from an arbitrary origin: for durations (idle rooms, latencies).
    var now: Duration { get }
    /// Milliseconds since the Unix epoch: for what users see (a chat message's timestamp).
    var wallMilliseconds: Int64 { get }
}

/// The system's clocks: `ContinuousClock` for durations, the real-time clock for timestamps.
public struct SystemClock: RoomClock {
    private static let origin = ContinuousClock.now

    public init() {}

    public var now: Duration { ContinuousClock.now - Self.origin }

    public var wallMilliseconds: Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}

/// A clock that moves only when told to: tests, and simulations that replay days in seconds.
public final class ManualClock: RoomClock {
    private let reading: Mutex<(now: Duration, wall: Int64)>

    /// Starts at `now` on the monotonic scale and `wallMilliseconds` on the wall clock.
    public init(now: Duration = .zero, wallMilliseconds: Int64 = 1_700_000_000_000) {
        reading = Mutex((now, wallMilliseconds))
    }

    public var now: Duration { reading.withLock { $0.now } }
    public var wallMilliseconds: Int64 { reading.withLock { $0.wall } }

    /// Moves both clocks forward by `duration`.
    public func advance(by duration: Duration) {
        reading.withLock {
            $0.now += duration
            $0.wall += duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        }
    }
}

extension Duration {
    /// The duration in whole milliseconds: the store's unit for leases and TTLs.
    public var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }

    /// A duration from seconds as configuration gives them (`cluster.leaseTTL` 6 → 6 s).
    public static func seconds(fromConfiguration seconds: Double) -> Duration { .milliseconds(Int64(seconds * 1000)) }
}
