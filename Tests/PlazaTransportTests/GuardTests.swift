import Testing
import PlazaProtocol
@testable import PlazaTransport

/// A client frame as RFC 6455 lays it out: masked unless told otherwise.
private func frame(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, masked: Bool = true, rsv: UInt8 = 0) -> [UInt8] {
    var bytes: [UInt8] = [(fin ? 0x80 : 0) | rsv << 4 | opcode]
    let maskBit: UInt8 = masked ? 0x80 : 0
    switch payload.count {
    case ..<126: bytes.append(maskBit | UInt8(payload.count))
    case ..<65536: bytes += [maskBit | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
    default: bytes += [maskBit | 127] + (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xFF) }
    }
    guard masked else { return bytes + payload }
    let key: [UInt8] = [0x12, 0x34, 0x56, 0x78]
    return bytes + key + payload.enumerated().map { $1 ^ key[$0 % 4] }
}

private func verdict(_ bytes: [UInt8], chunk: Int? = nil, maximum: Int = 1000) -> WebSocketFrameValidator.Verdict {
    var validator = WebSocketFrameValidator(maximumMessageBytes: maximum)
    var forwarded = 0
    let size = chunk ?? max(bytes.count, 1)
    for start in stride(from: 0, to: bytes.count, by: size) {
        let piece = Array(bytes[start..<min(start + size, bytes.count)])
        switch piece.withUnsafeBytes({ validator.consume($0) }) {
        case .forward(let count): forwarded += count
        case .fail(let count, let code, let reason): return .fail(forward: forwarded + count, code: code, reason: reason)
        }
    }
    return .forward(forwarded)
}

private func closeCode(_ verdict: WebSocketFrameValidator.Verdict) -> CloseCode? {
    if case .fail(_, let code, _) = verdict { return code }
    return nil
}

@Suite struct WebSocketFrameValidatorTests {
    @Test(arguments: [1, 3, 1000])
    func wellFormedFramesPassWholeInAnyChunking(chunk: Int) {
        let text = Array("héllo wörld".utf8)
        let bytes = frame(0x1, Array(text.prefix(4)), fin: false) + frame(0x9, [1, 2]) + frame(0x0, Array(text.dropFirst(4)))
            + frame(0x2, [0xFF, 0x00]) + frame(0x8, [0x03, 0xE8] + Array("bye".utf8))
        #expect(verdict(bytes, chunk: chunk) == .forward(bytes.count))
    }

    @Test func anUnmaskedFrameIsAProtocolError() {
        #expect(closeCode(verdict(frame(0x1, Array("hi".utf8), masked: false))) == .protocolError)
    }

    @Test func reservedBitsAndUnknownOpcodesAreProtocolErrors() {
        #expect(closeCode(verdict(frame(0x1, [0x41], rsv: 0b100))) == .protocolError)
        #expect(closeCode(verdict(frame(0x3, []))) == .protocolError)
        #expect(closeCode(verdict(frame(0xB, []))) == .protocolError)
    }

    @Test func controlFramesAreWholeAndShort() {
        #expect(closeCode(verdict(frame(0x9, [], fin: false))) == .protocolError)
        #expect(closeCode(verdict(frame(0x9, Array(repeating: 0, count: 126)))) == .protocolError)
        #expect(verdict(frame(0x9, Array(repeating: 0, count: 125))) == .forward(131))
    }

    @Test func fragmentsMustBeInOrder() {
        #expect(closeCode(verdict(frame(0x0, [0x41]))) == .protocolError)  // a continuation with nothing to continue
        #expect(closeCode(verdict(frame(0x1, [0x41], fin: false) + frame(0x1, [0x42]))) == .protocolError)
    }

    @Test func invalidUTF8IsRefusedWhereItIsFoundEvenAcrossFragments() {
        #expect(closeCode(verdict(frame(0x1, [0xC0, 0x80]))) == .invalidPayload)  // overlong
        #expect(closeCode(verdict(frame(0x1, [0xED, 0xA0, 0x80]))) == .invalidPayload)  // a surrogate
        let split = frame(0x1, [0xE2, 0x82], fin: false) + frame(0x0, [0xAC])  // "€" across two fragments
        #expect(verdict(split) == .forward(split.count))
        #expect(closeCode(verdict(frame(0x1, [0xE2, 0x82]))) == .invalidPayload)  // ends mid-character
        // The frames before the bad one are passed on.
        let good = frame(0x1, Array("ok".utf8))
        #expect(verdict(good + frame(0x1, [0xFF])) == .fail(forward: good.count, code: .invalidPayload, reason: "text that is not UTF-8"))
    }

    @Test func closeFramesCarryAValidCodeAndReason() {
        #expect(closeCode(verdict(frame(0x8, [0x03]))) == .protocolError)  // a one-byte payload
        #expect(closeCode(verdict(frame(0x8, [0x03, 0xED]))) == .protocolError)  // 1005 may not be sent
        #expect(closeCode(verdict(frame(0x8, [0x03, 0xE8, 0xFF]))) == .invalidPayload)
        #expect(verdict(frame(0x8, [0x0F, 0xA0])) == .forward(8))  // 4000: an application's code
    }

    @Test func nothingAfterTheClientsCloseIsPassedOn() {
        let close = frame(0x8, [0x03, 0xE8])
        #expect(verdict(close + frame(0x1, Array("late".utf8))) == .forward(close.count))
    }

    @Test func aMessageOverTheLimitIsTooBig() {
        #expect(closeCode(verdict(frame(0x1, Array(repeating: 0x41, count: 101)), maximum: 100)) == .messageTooBig)
        let fragments = frame(0x1, Array(repeating: 0x41, count: 60), fin: false) + frame(0x0, Array(repeating: 0x41, count: 60))
        #expect(closeCode(verdict(fragments, maximum: 100)) == .messageTooBig)
    }
}

@Suite struct UTF8ValidatorTests {
    @Test func agreesWithTheStandardLibraryOnEveryTwoByteSequence() {
        for first in 0...255 {
            for second in 0...255 {
                let bytes = [UInt8(first), UInt8(second)]
                let reference = String(validating: bytes, as: UTF8.self) != nil
                #expect(UTF8Validator.isValid(bytes) == reference, "\(bytes)")
            }
        }
    }

    @Test func refusesWhatRFC3629Forbids() {
        #expect(!UTF8Validator.isValid([0xF4, 0x90, 0x80, 0x80]))  // past U+10FFFF
        #expect(!UTF8Validator.isValid([0xE0, 0x80, 0x80]))  // overlong
        #expect(UTF8Validator.isValid(Array("👩‍👩‍👧 ok".utf8)))
    }
}

@Suite struct RequestHeadScannerTests {
    let limits = RequestHeadScanner.Limits(headerBytes: 1024, headerCount: 8, urlBytes: 256)

    private func scan(_ text: String, chunk: Int = 7) -> RequestHeadScanner.Outcome {
        var scanner = RequestHeadScanner(limits: limits)
        let bytes = Array(text.utf8)
        var offset = 0
        for start in stride(from: 0, to: bytes.count, by: chunk) {
            let piece = Array(bytes[start..<min(start + chunk, bytes.count)])
            let outcome = piece.withUnsafeBytes { scanner.scan($0) }
            if case .complete(let head, let consumed) = outcome { return .complete(head, consumed: offset + consumed) }
            if case .reject = outcome { return outcome }
            offset += piece.count
        }
        return .needMore
    }

    @Test func readsTheHeadAndWhatTheGuardNeeds() {
        let text = "GET /ws?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2\r\n\r\nbody"
        guard case .complete(let head, let consumed) = scan(text) else { Issue.record("not complete"); return }
        #expect(consumed == text.utf8.count - 4)
        #expect(head == .init(
            method: "GET", target: "/ws?x=1", forwardedFor: "10.0.0.1, 10.0.0.2", upgrade: "websocket", webSocketKey: "k",
            webSocketVersion: "13"))
        #expect(head.path == "/ws")
    }

    @Test func limitsAreAnsweredWithTheirStatus() {
        #expect(scan("GET /\(String(repeating: "a", count: 300)) HTTP/1.1\r\n\r\n") == .reject(status: 414, reason: "the request target is longer than 256 bytes"))
        let manyFields = (0..<9).map { "X-\($0): v\r\n" }.joined()
        guard case .reject(431, _) = scan("GET / HTTP/1.1\r\n\(manyFields)\r\n") else { Issue.record("no 431 for fields"); return }
        guard case .reject(431, _) = scan("GET / HTTP/1.1\r\nX: \(String(repeating: "v", count: 1100))\r\n\r\n") else {
            Issue.record("no 431 for bytes"); return
        }
        guard case .reject(400, _) = scan("\u{1}\u{2} garbage\r\n\r\n") else { Issue.record("no 400"); return }
    }

    @Test func aHalfHeadNeedsMore() {
        #expect(scan("GET / HTTP/1.1\r\nHost: a\r\n") == .needMore)
    }
}

@Suite struct ConnectionAdmissionTests {
    @Test func eachAddressIsHeldToItsLimitAndTheServerToItsTotal() {
        let admission = ConnectionAdmission(perAddress: 2, total: 3, trustedProxies: [])
        #expect(admission.admit("a") && admission.admit("a"))
        #expect(!admission.admit("a"))
        admission.release("a")
        #expect(admission.admit("a"))
        #expect(admission.open() && admission.open() && admission.open())
        #expect(!admission.open())  // counted all the same: the connection is open until it closes
        admission.close()
        #expect(!admission.open())
        admission.close()
        admission.close()
        #expect(admission.open())
    }

    @Test func onlyATrustedProxyNamesTheClient() {
        let admission = ConnectionAdmission(perAddress: 2, total: 10, trustedProxies: ["10.0.0.1", "10.0.0.2"])
        #expect(admission.client(forwardedFor: "203.0.113.9", peer: "198.51.100.1") == "198.51.100.1")
        #expect(admission.client(forwardedFor: "203.0.113.9, 10.0.0.2", peer: "10.0.0.1") == "203.0.113.9")
        #expect(admission.client(forwardedFor: "6.6.6.6, 203.0.113.9", peer: "10.0.0.1") == "203.0.113.9")
        #expect(admission.client(forwardedFor: nil, peer: "10.0.0.1") == "10.0.0.1")
    }
}

@Suite struct MemoryTrimTests {
    @Test func trimsAfterManyClosesAtMostEveryIntervalAndOnceMoreAfterABurst() {
        var trim = MemoryTrim()
        let start = ContinuousClock.now
        let steps: [(closed: Int, at: Duration, trims: Bool)] = [
            (10, .zero, false),
            (60, .zero, true),  // 70 closed
            (100, .seconds(1), false),  // too soon
            (0, .seconds(5), true),  // the burst's 100
            (3, .seconds(10), true),  // a trailing trim for what closed after the burst
            (3, .seconds(20), false),  // a few closes, no burst before them
            (0, .seconds(30), false),
        ]
        for step in steps {
            let trims = trim.shouldTrim(closed: step.closed, now: start + step.at)
            #expect(trims == step.trims, "after \(step.at)")
        }
    }
}

@Suite struct LeaseWatchTests {
    @Test func theDeadlineIsTheLeasesEndLessAMarginFromTheLastRenewalSent() {
        let start = ContinuousClock.now
        var watch = LeaseWatch(leaseTTL: .milliseconds(2_500), margin: .milliseconds(500), startedAt: start)
        #expect(!watch.isExpiring(at: start + .milliseconds(1_999)))
        #expect(watch.isExpiring(at: start + .milliseconds(2_000)))
        watch.renewed(sentAt: start + .seconds(1))
        #expect(!watch.isExpiring(at: start + .milliseconds(2_999)) && watch.isExpiring(at: start + .seconds(3)))
        watch.renewed(sentAt: start + .milliseconds(500))  // an older heartbeat answering late changes nothing
        #expect(watch.deadline == start + .seconds(3))
    }

    @Test func theMarginIsAtMostHalfTheLease() {
        let start = ContinuousClock.now
        let watch = LeaseWatch(leaseTTL: .seconds(2), margin: .seconds(5), startedAt: start)
        #expect(watch.deadline == start + .seconds(1))
    }

    @Test func roomsAreKeptOnlyWhenEveryPeerThatAnsweredCannotReachTheStore() {
        let down = PeerWitness.Answer.storeUnreachable
        #expect(PeerWitness.verdict([down, down], failedAt: 1_000) == .storeDownEverywhere)
        #expect(PeerWitness.verdict([down, .reachesStore(fleetResumedAt: nil)], failedAt: 1_000) == .storeReachableElsewhere)
        #expect(PeerWitness.verdict([], failedAt: 1_000) == .noAnswer)
        let watch = LeaseWatch(leaseTTL: .seconds(6), margin: .seconds(2), startedAt: .now)
        #expect(watch.decision(.storeDownEverywhere, fleetNow: 9_000, heartbeatTTL: .seconds(6)) == .keep)
        #expect(watch.decision(.storeReachableElsewhere, fleetNow: 9_000, heartbeatTTL: .seconds(6)) == .giveUp)
        #expect(watch.decision(.noAnswer, fleetNow: 9_000, heartbeatTTL: .seconds(6)) == .giveUp)
    }

    /// The store was down for everyone and is back: the peers reconnected before this node. The store keeps every
    /// placement for a heartbeat TTL after the first heartbeat back, and so does the node, less its margin.
    @Test func afterAFleetWideSilenceTheRoomsStayForTheStoresGrace() {
        let back = PeerWitness.Answer.reachesStore(fleetResumedAt: 20_000)
        #expect(PeerWitness.verdict([back, .storeUnreachable], failedAt: 1_000) == .fleetResumed(at: 20_000))
        // A resumption older than this node's first failure is not this outage's: the node alone is cut off.
        #expect(PeerWitness.verdict([back], failedAt: 21_000) == .storeReachableElsewhere)
        // A peer that reaches the store without a resumption after the failure says the same.
        #expect(PeerWitness.verdict([back, .reachesStore(fleetResumedAt: nil)], failedAt: 1_000) == .storeReachableElsewhere)
        let watch = LeaseWatch(leaseTTL: .seconds(6), margin: .seconds(2), startedAt: .now)
        #expect(watch.decision(.fleetResumed(at: 20_000), fleetNow: 23_999, heartbeatTTL: .seconds(6)) == .keep)
        #expect(watch.decision(.fleetResumed(at: 20_000), fleetNow: 24_000, heartbeatTTL: .seconds(6)) == .giveUp)
    }
}
