/// When to renew a certificate: at two thirds of its lifetime, and after a failure sooner than that again, with
/// a backoff that grows and a jitter so that processes and retries do not line up. Pure: time and randomness are
/// passed in.
public enum RenewalSchedule {
    /// First retry after a failure, and the longest wait between retries (seconds).
    public static let firstRetry: Double = 60
    public static let longestRetry: Double = 6 * 3600

    /// When a certificate valid from `notBefore` to `notAfter` (Unix seconds) is due for renewal.
    public static func due(notBefore: Double, notAfter: Double) -> Double {
        notBefore + (notAfter - notBefore) * 2 / 3
    }

    /// When to try again after `failures` failed attempts in a row (1 for the first), at `now`: doubling from
    /// `firstRetry` up to `longestRetry`, ±20% by `jitter` in 0...1, and never after the certificate expires
    /// (`notAfter`, when there is one) less a minute.
    public static func retry(after failures: Int, now: Double, notAfter: Double?, jitter: Double) -> Double {
        let exponent = Double(min(max(failures - 1, 0), 30))
        let wait = min(firstRetry * pow2(exponent), longestRetry) * (0.8 + 0.4 * min(max(jitter, 0), 1))
        guard let notAfter else { return now + wait }
        return max(now + firstRetry / 2, min(now + wait, notAfter - 60))
    }

    private static func pow2(_ exponent: Double) -> Double {
        var value = 1.0
        for _ in 0..<Int(exponent) { value *= 2 }
        return value
    }
}
