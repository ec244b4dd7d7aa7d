import CAllocator

/// When to give memory freed by closed connections back to the system. Pure: time is passed in.
///
/// glibc's allocator keeps freed memory in its arenas for reuse: after a storm of slow consumers whose queues
/// were dropped, a server's resident size would otherwise stay near its peak (measured: 130 MB against an 85 MB
/// baseline after 500 stalled clients; 70 MB with a trim). `malloc_trim` returns the free pages, but it walks
/// every arena, so it runs only after many connections have closed, at most every few seconds, and once more
/// after a burst for what its last connections freed.
struct MemoryTrim {
    /// Connections closed since the last trim before another is worth its walk.
    static let closesWorthATrim = 64
    /// The least time between two trims.
    static let interval: Duration = .seconds(5)

    private var closesSinceTrim = 0
    private var lastTrim: ContinuousClock.Instant?
    /// Whether the last trim followed a burst, so what closed after it gets a trim of its own however few.
    private var trailing = false

    /// Counts the connections closed since the last call, and says whether to trim now.
    mutating func shouldTrim(closed: Int, now: ContinuousClock.Instant) -> Bool {
        closesSinceTrim += closed
        guard closesSinceTrim > 0, lastTrim.map({ now - $0 >= Self.interval }) ?? true else { return false }
        guard closesSinceTrim >= Self.closesWorthATrim || trailing else { return false }
        trailing = closesSinceTrim >= Self.closesWorthATrim
        closesSinceTrim = 0
        lastTrim = now
        return true
    }

    /// Returns the allocator's free pages to the system (glibc's `malloc_trim`; nothing elsewhere).
    static func trim() {
        _ = c_allocator_trim()
    }
}
