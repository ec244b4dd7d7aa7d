/// A token bucket: `rate` tokens per second, holding at most `burst`.
///
/// Time is passed in (seconds on any monotonic clock), so the same code runs in the server and in tests.
public struct TokenBucket: Sendable {
    public let rate: Double
    public let burst: Double
    private var tokens: Double
    private var last: Double?

    public init(rate: Double, burst: Double) {
        precondition(rate > 0 && burst >= 1, "a bucket needs a positive rate and a burst of at least one")
        (self.rate, self.burst) = (rate, burst)
        self.tokens = burst
    }

    /// Takes one token if there is one. Returns false when the caller is over its rate.
    public mutating func take(now: Double) -> Bool {
        if let last {
            tokens = min(burst, tokens + max(0, now - last) * rate)
        }
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
