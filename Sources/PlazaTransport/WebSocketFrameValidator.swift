import PlazaProtocol

/// RFC 6455 as a server enforces it on what a client sends, checked on the raw bytes before any frame reaches
/// the WebSocket library: every client frame masked, no reserved bits (Plaza negotiates no extension), known
/// opcodes, control frames whole and at most 125 bytes, fragments in order, text that is UTF-8 (checked as it
/// arrives, across fragments), close frames with a valid code and a UTF-8 reason, and no message larger than
/// `limits.frameBytes`. A violation answers with the RFC's close code (1002, 1007 or 1009); nothing after it, and
/// nothing after the client's own close frame, is passed on.
///
/// A pure state machine over bytes: the connection guard feeds it each chunk the socket delivers and carries out
/// the verdict. It keeps a few bytes of state, never a message.
struct WebSocketFrameValidator: Sendable {
    /// What to do with a chunk of client bytes.
    enum Verdict: Equatable, Sendable {
        /// Pass the first `count` bytes on; drop the rest (the client already closed).
        case forward(Int)
        /// The client broke the protocol: pass on the first `forward` bytes (the frames before the faulty one),
        /// then close with `code`.
        case fail(forward: Int, code: CloseCode, reason: String)
    }

    private struct Frame {
        var opcode: UInt8
        var final: Bool
        var remaining: UInt64
        var mask: (UInt8, UInt8, UInt8, UInt8)
        var maskOffset = 0
        var isControl: Bool { opcode >= 0x8 }
    }

    /// Largest message (the sum of its fragments), in bytes.
    let maximumMessageBytes: Int
    private var header: [UInt8] = []
    private var headerLength = 2
    private var frame: Frame?
    /// The data message in progress (after a non-final text or binary frame): whether it is text, and its size.
    private var message: (isText: Bool, bytes: UInt64)?
    private var utf8 = UTF8Validator()
    /// The close frame's payload, gathered to check its code and reason.
    private var closePayload: [UInt8] = []
    private var clientClosed = false

    init(maximumMessageBytes: Int) {
        self.maximumMessageBytes = maximumMessageBytes
        header.reserveCapacity(14)
    }

    private static let opcodes: Set<UInt8> = [0x0, 0x1, 0x2, 0x8, 0x9, 0xA]

    /// Consumes one chunk of bytes from the client.
    mutating func consume(_ bytes: UnsafeRawBufferPointer) -> Verdict {
        guard !clientClosed else { return .forward(0) }
        var index = 0
        // Where the frame being read began in this chunk: what precedes it may be passed on if it fails.
        var frameStart = header.isEmpty && frame == nil ? 0 : -1
        func fail(_ code: CloseCode, _ reason: String) -> Verdict { .fail(forward: max(frameStart, 0), code: code, reason: reason) }
        while index < bytes.count {
            if var current = frame {
                let count = Int(min(current.remaining, UInt64(bytes.count - index)))
                if current.opcode == 0x8 || (current.opcode == 0x1 || (current.opcode == 0x0 && message?.isText == true)) {
                    let isClose = current.opcode == 0x8
                    for offset in 0..<count {
                        let byte = bytes[index + offset] ^ Self.maskByte(current.mask, current.maskOffset + offset)
                        if isClose {
                            closePayload.append(byte)
                        } else if !utf8.feed(byte) {
                            return fail(.invalidPayload, "text that is not UTF-8")
                        }
                    }
                }
                current.maskOffset += count
                current.remaining -= UInt64(count)
                index += count
                frame = current
                if current.remaining == 0, let verdict = frameEnded(at: index, frameStart: frameStart) { return verdict }
                if frame == nil { frameStart = index }
                continue
            }
            let byte = bytes[index]
            header.append(byte)
            index += 1
            switch header.count {
            case 1:
                let opcode = byte & 0x0F, final = byte & 0x80 != 0
                guard byte & 0x70 == 0 else { return fail(.protocolError, "reserved bits set") }
                guard Self.opcodes.contains(opcode) else { return fail(.protocolError, "unknown opcode") }
                if opcode >= 0x8 {
                    guard final else { return fail(.protocolError, "fragmented control frame") }
                } else if opcode == 0x0 {
                    guard message != nil else { return fail(.protocolError, "continuation without a message") }
                } else if message != nil {
                    return fail(.protocolError, "a new message before the previous one ended")
                }
            case 2:
                guard byte & 0x80 != 0 else { return fail(.protocolError, "unmasked client frame") }
                let length = byte & 0x7F
                if header[0] & 0x0F >= 0x8, length > 125 { return fail(.protocolError, "control frame over 125 bytes") }
                headerLength = 2 + (length == 126 ? 2 : length == 127 ? 8 : 0) + 4
            default:
                break
            }
            guard header.count == headerLength else { continue }
            let opcode = header[0] & 0x0F
            var length = UInt64(header[1] & 0x7F)
            if length == 126 {
                length = UInt64(header[2]) << 8 | UInt64(header[3])
            } else if length == 127 {
                length = header[2..<10].reduce(0) { $0 << 8 | UInt64($1) }
                guard length >> 63 == 0 else { return fail(.protocolError, "payload length with its top bit set") }
            }
            let m = header[(headerLength - 4)...]
            let mask = (m[m.startIndex], m[m.startIndex + 1], m[m.startIndex + 2], m[m.startIndex + 3])
            if opcode < 0x8 {
                let total = (message?.bytes ?? 0) + length
                guard total <= UInt64(maximumMessageBytes) else {
                    return fail(.messageTooBig, "a message larger than \(maximumMessageBytes) bytes")
                }
                if opcode != 0x0 { message = (isText: opcode == 0x1, bytes: 0) }
                message?.bytes = total
            }
            frame = Frame(opcode: opcode, final: header[0] & 0x80 != 0, remaining: length, mask: mask)
            (header, headerLength) = ([], 2)
            if length == 0, let verdict = frameEnded(at: index, frameStart: frameStart) { return verdict }
            if frame == nil { frameStart = index }
        }
        return .forward(bytes.count)
    }

    /// The current frame's payload is complete. Answers a verdict when the frame ends the exchange (a faulty
    /// message, or the client's close).
    private mutating func frameEnded(at index: Int, frameStart: Int) -> Verdict? {
        guard let ended = frame else { return nil }
        frame = nil
        switch ended.opcode {
        case 0x8:
            defer { closePayload.removeAll() }
            if closePayload.count == 1 {
                return .fail(forward: max(frameStart, 0), code: .protocolError, reason: "a close frame of one byte")
            }
            if closePayload.count >= 2 {
                let code = UInt16(closePayload[0]) << 8 | UInt16(closePayload[1])
                guard Self.isValidCloseCode(code) else {
                    return .fail(forward: max(frameStart, 0), code: .protocolError, reason: "close code \(code) is not allowed")
                }
                guard UTF8Validator.isValid(closePayload.dropFirst(2)) else {
                    return .fail(forward: max(frameStart, 0), code: .invalidPayload, reason: "a close reason that is not UTF-8")
                }
            }
            clientClosed = true
            return .forward(index)
        case 0x0, 0x1, 0x2:
            guard ended.final else { return nil }
            let wasText = message?.isText == true
            message = nil
            defer { utf8 = UTF8Validator() }
            if wasText, !utf8.isComplete {
                return .fail(forward: max(frameStart, 0), code: .invalidPayload, reason: "text that is not UTF-8")
            }
            return nil
        default:
            return nil
        }
    }

    private static func maskByte(_ mask: (UInt8, UInt8, UInt8, UInt8), _ offset: Int) -> UInt8 {
        switch offset & 3 {
        case 0: mask.0
        case 1: mask.1
        case 2: mask.2
        default: mask.3
        }
    }

    /// Close codes a client may send (RFC 6455 7.4 and the IANA registry): 1004–1006 and 1015 are never sent on
    /// the wire, 1016–2999 are reserved, 3000–4999 belong to libraries and applications.
    static func isValidCloseCode(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: true
        default: false
        }
    }
}
