#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's open-file limit: every connection is a file, and a server left at a service's default soft
/// limit (1024 under systemd) runs out long before its machine does.
public enum OpenFiles {
    /// Files kept for everything but connections: the store, logs, the answers of the health endpoints.
    static let reserve = 128

    /// Raises the soft limit to the hard one; answers the limit now in force (and the one before).
    @discardableResult
    public static func raiseToHardLimit() -> (before: Int, now: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (0, 0) }
        let before = Int(limit.rlim_cur)
        guard limit.rlim_cur < limit.rlim_max else { return (before, before) }
        limit.rlim_cur = limit.rlim_max
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (before, before) }
        return (before, Int(limit.rlim_cur))
    }

    /// The soft limit in force.
    static var current: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return Int(clamping: limit.rlim_cur)
    }

    /// `limits.connections` when it is not set: the open-file limit less the reserve.
    public static var defaultConnectionLimit: Int { max(64, current - reserve) }
}
