import PlazaCore

/// Reads an HTTP/1.1 request head as its bytes arrive, before the HTTP parser does, to hold it to Plaza's limits
/// (`limits.headerBytes`, `limits.headerCount`, `limits.urlBytes`) and to learn the little the connection guard
/// needs of it: the target, and `X-Forwarded-For` for a trusted proxy's connections. A head past a limit is
/// refused as soon as the limit is passed — 431 or 414 — without reading the rest.
struct RequestHeadScanner: Sendable {
    struct Limits: Sendable {
        /// Largest request head, request line and header fields together.
        var headerBytes: Int
        /// Most header fields.
        var headerCount: Int
        /// Longest request target (path and query).
        var urlBytes: Int
    }

    /// What the guard learns of a complete head.
    struct Head: Sendable, Equatable {
        var method: String
        /// The request target: path and query.
        var target: String
        /// The `X-Forwarded-For` header, when there is one.
        var forwardedFor: String?
        /// `Upgrade`, `Sec-WebSocket-Key` and `Sec-WebSocket-Version`, for answering a broken WebSocket handshake
        /// as RFC 6455 says rather than dropping it.
        var upgrade: String?
        var webSocketKey: String?
        var webSocketVersion: String?

        init(
            method: String, target: String, forwardedFor: String? = nil, upgrade: String? = nil, webSocketKey: String? = nil,
            webSocketVersion: String? = nil
        ) {
            (self.method, self.target, self.forwardedFor) = (method, target, forwardedFor)
            (self.upgrade, self.webSocketKey, self.webSocketVersion) = (upgrade, webSocketKey, webSocketVersion)
        }

        /// The target's path, without its query.
        var path: Substring { target.prefix { $0 != "?" } }
    }

    enum Outcome: Sendable, Equatable {
        /// The head is not complete yet: every byte given was read.
        case needMore
        /// The head ended `consumed` bytes into the chunk; what follows is the body or the next request.
        case complete(Head, consumed: Int)
        /// The head breaks a limit or is not a request head: answer `status` and close.
        case reject(status: Int, reason: String)
    }

    let limits: Limits
    private var bytes = 0
    private var fieldCount = 0
    private var line: [UInt8] = []
    private var requestLine: (method: String, target: String)?
    /// The fields of the head the guard reads, by lowercased name.
    private var fields: [String: String] = [:]
    private static let readFields = ["x-forwarded-for", "upgrade", "sec-websocket-key", "sec-websocket-version"]

    /// The longest header line kept whole (only `X-Forwarded-For` is read from it; a longer one is read as far
    /// as this).
    private static let keptLineBytes = 2_048

    init(limits: Limits) {
        self.limits = limits
    }

    /// Whether any byte of a head has arrived.
    var hasStarted: Bool { bytes > 0 }

    /// Forgets the head read, for the next request on the connection.
    mutating func reset() {
        (bytes, fieldCount, requestLine) = (0, 0, nil)
        fields.removeAll(keepingCapacity: true)
        line.removeAll(keepingCapacity: true)
    }

    /// Reads a chunk of the head.
    mutating func scan(_ chunk: UnsafeRawBufferPointer) -> Outcome {
        for (index, byte) in chunk.enumerated() {
            bytes += 1
            guard bytes <= limits.headerBytes else {
                return .reject(status: 431, reason: "the request head is larger than \(limits.headerBytes) bytes")
            }
            guard byte == UInt8(ascii: "\n") else {
                if requestLine == nil, line.count > limits.urlBytes + 32 {
                    return .reject(status: 414, reason: "the request target is longer than \(limits.urlBytes) bytes")
                }
                if line.count < Self.keptLineBytes { line.append(byte) }
                continue
            }
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            defer { line.removeAll(keepingCapacity: true) }
            guard let request = requestLine else {
                if line.isEmpty { continue }  // empty lines before the request line are allowed (RFC 9112 2.2)
                let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
                guard parts.count == 3 else { return .reject(status: 400, reason: "not an HTTP request line") }
                guard parts[1].count <= limits.urlBytes else {
                    return .reject(status: 414, reason: "the request target is longer than \(limits.urlBytes) bytes")
                }
                requestLine = (String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self))
                continue
            }
            guard !line.isEmpty else {
                let head = Head(
                    method: request.method, target: request.target, forwardedFor: fields["x-forwarded-for"],
                    upgrade: fields["upgrade"], webSocketKey: fields["sec-websocket-key"],
                    webSocketVersion: fields["sec-websocket-version"])
                return .complete(head, consumed: index + 1)
            }
            fieldCount += 1
            guard fieldCount <= limits.headerCount else {
                return .reject(status: 431, reason: "the request has more than \(limits.headerCount) header fields")
            }
            if let colon = line.firstIndex(of: UInt8(ascii: ":")), colon - line.startIndex <= 21 {
                let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
                if Self.readFields.contains(name) {
                    let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingWhitespace()
                    // Repeated fields are one list (RFC 9110 5.3).
                    fields[name] = fields[name].map { $0 + ", " + value } ?? value
                }
            }
        }
        return .needMore
    }
}
