import Foundation

/// Milliseconds since the Unix epoch: the time unit of the fleet's store, its leases and its reports.
///
/// Only composition roots and services read it; decisions take the time as a parameter.
public func wallClockMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
