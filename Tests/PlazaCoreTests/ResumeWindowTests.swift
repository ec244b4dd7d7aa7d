import Testing
import PlazaCore

@Suite struct ResumeWindowTests {
    @Test func recoversExactlyWhatWasMissedInOrder() {
        var w = ResumeWindow<Int64>(capacity: 3, lastOffset: 0)
        for offset in 1...5 { w.append(offset: Int64(offset), payload: Int64(offset)) }
        guard case .recovered(let missed) = w.recover(since: 3) else { Issue.record("should recover"); return }
        #expect(missed == [4, 5])
        guard case .recovered(let none) = w.recover(since: 5) else { Issue.record("up to date"); return }
        #expect(none.isEmpty)
        guard case .recovered(let edge) = w.recover(since: 2) else { Issue.record("window edge"); return }
        #expect(edge == [3, 4, 5])
    }

    @Test func tooFarBehindOrAheadIsNotRecoverable() {
        var w = ResumeWindow<Int64>(capacity: 3, lastOffset: 10)
        for offset in 11...15 { w.append(offset: Int64(offset), payload: Int64(offset)) }
        if case .recovered = w.recover(since: 11) { Issue.record("offset 12 fell out of the window") }
        if case .recovered = w.recover(since: 99) { Issue.record("a future offset is not recoverable") }
        let empty = ResumeWindow<Int64>(capacity: 0, lastOffset: 7)
        if case .recovered = empty.recover(since: 6) { Issue.record("a zero window recovers nothing") }
    }
}

@Suite struct TokenBucketTests {
    @Test func allowsTheBurstThenTheRate() {
        var bucket = TokenBucket(rate: 10, burst: 3)
        var taken = 0
        for _ in 0..<3 where bucket.take(now: 0) { taken += 1 }
        #expect(taken == 3)
        let fourth = bucket.take(now: 0)
        let tooSoon = bucket.take(now: 0.05)
        let refilled = bucket.take(now: 0.11)
        #expect(!fourth && !tooSoon && refilled)
        var afterPause = 0
        for _ in 0..<5 where bucket.take(now: 10) { afterPause += 1 }
        #expect(afterPause == 3, "refill caps at the burst")
    }
}

@Suite struct NameTests {
    @Test func roomNamesAreValidatedAtTheirEdges() {
        #expect(RoomName("a") != nil)
        #expect(RoomName(String(repeating: "x", count: 64)) != nil)
        #expect(RoomName(String(repeating: "x", count: 65)) == nil)
        #expect(RoomName("") == nil)
        #expect(RoomName(".hidden") == nil)
        #expect(RoomName("a b") == nil)
        #expect(RoomName("café") == nil)
        #expect(RoomName("team-1_x.y") != nil)
    }

    @Test func displayNamesAreTrimmedAndBounded() {
        #expect(DisplayName.validate("  Ann ") == "Ann")
        #expect(DisplayName.validate("   ") == nil)
        #expect(DisplayName.validate("a\u{7}b") == nil)
        #expect(DisplayName.validate(String(repeating: "é", count: 64)) != nil)
        #expect(DisplayName.validate(String(repeating: "é", count: 65)) == nil)
        #expect(DisplayName.validate("Rene\u{301}") == "Ren\u{E9}", "NFC")
        #expect(DisplayName.check("") == .failure(.missing))
        #expect(DisplayName.check("\u{202E}evil") == .failure(.hiddenCharacters), "a right-to-left override")
        #expect(DisplayName.check("An\u{200B}n") == .failure(.hiddenCharacters), "a zero-width space")
        #expect(DisplayName.check("\u{200B}\u{200B}") == .failure(.hiddenCharacters))
        #expect(DisplayName.check("\u{301}\u{301}") == .failure(.invisible), "combining marks alone")
        #expect(DisplayName.validate("👨\u{200D}👩\u{200D}👧") != nil, "a joiner between emoji joins them")
        #expect(DisplayName.validate("مريم") == "مريم", "right-to-left letters are names like any other")
    }
}
