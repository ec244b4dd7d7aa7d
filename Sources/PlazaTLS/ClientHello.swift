/// The two fields of a TLS ClientHello that choose a certificate before the handshake: the server name (SNI)
/// and the offered application protocols (ALPN). Read from the first bytes of a connection, without consuming
/// them; only while an ACME TLS-ALPN-01 challenge is pending (its validator offers `acme-tls/1`).
public struct ClientHello: Sendable, Equatable {
    public var serverName: String?
    public var protocols: [String]

    /// What the bytes so far say.
    public enum Reading: Sendable, Equatable {
        case hello(ClientHello)
        /// A ClientHello that has not arrived whole yet.
        case incomplete
        /// Not a TLS ClientHello.
        case invalid
    }

    /// Largest ClientHello read: beyond it the connection is handed on unread.
    public static let maximumBytes = 16_384

    /// Parses `bytes`, the start of a connection: handshake records (type 22), whose payloads together carry the
    /// ClientHello (handshake type 1).
    public static func read(_ bytes: some Collection<UInt8>) -> Reading {
        let bytes = Array(bytes)
        var handshake: [UInt8] = []
        var offset = 0
        // Reassemble the handshake message from as many records as it takes.
        while true {
            guard bytes.count >= offset + 5 else { return bytes.count > maximumBytes ? .invalid : .incomplete }
            guard bytes[offset] == 22, bytes[offset + 1] == 3 else { return .invalid }
            let length = Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
            guard length > 0, length <= 16_384 + 2_048 else { return .invalid }
            guard bytes.count >= offset + 5 + length else { return .incomplete }
            handshake += bytes[(offset + 5)..<(offset + 5 + length)]
            offset += 5 + length
            if handshake.count >= 4 {
                guard handshake[0] == 1 else { return .invalid }
                let messageLength = Int(handshake[1]) << 16 | Int(handshake[2]) << 8 | Int(handshake[3])
                guard messageLength <= maximumBytes else { return .invalid }
                if handshake.count >= 4 + messageLength {
                    return parse(Array(handshake[4..<(4 + messageLength)])).map(Reading.hello) ?? .invalid
                }
            }
            if offset > maximumBytes { return .invalid }
        }
    }

    /// The ClientHello body: version, random, session id, cipher suites, compression methods, extensions.
    static func parse(_ body: [UInt8]) -> ClientHello? {
        var reader = Reader(bytes: body)
        guard reader.skip(2 + 32), let sessionID = reader.length(1), reader.skip(sessionID),
            let suites = reader.length(2), reader.skip(suites), let compression = reader.length(1), reader.skip(compression)
        else { return nil }
        var hello = ClientHello(serverName: nil, protocols: [])
        guard !reader.atEnd else { return hello }  // no extensions
        guard let extensionsLength = reader.length(2), var extensions = reader.take(extensionsLength) else { return nil }
        while !extensions.atEnd {
            guard let type = extensions.length(2), let length = extensions.length(2), var data = extensions.take(length) else { return nil }
            switch type {
            case 0:  // server_name
                guard let listLength = data.length(2), var list = data.take(listLength) else { return nil }
                while !list.atEnd {
                    // HostName is 1…255 bytes in practice (RFC 6066 allows more; no DNS name is longer).
                    guard let nameType = list.length(1), let nameLength = list.length(2), (1...255).contains(nameLength),
                        let name = list.take(nameLength)
                    else { return nil }
                    if nameType == 0, hello.serverName == nil { hello.serverName = String(decoding: name.remaining, as: UTF8.self) }
                }
            case 16:  // application_layer_protocol_negotiation
                guard let listLength = data.length(2), var list = data.take(listLength) else { return nil }
                while !list.atEnd {
                    // ProtocolName is 1…255 bytes (RFC 7301): an empty one makes the hello malformed.
                    guard let nameLength = list.length(1), nameLength > 0, let name = list.take(nameLength) else { return nil }
                    hello.protocols.append(String(decoding: name.remaining, as: UTF8.self))
                }
            default:
                break
            }
        }
        return hello
    }

    /// Bounds-checked reading of big-endian lengths and byte runs.
    struct Reader {
        var bytes: ArraySlice<UInt8>

        init(bytes: [UInt8]) { self.bytes = bytes[...] }
        init(slice: ArraySlice<UInt8>) { self.bytes = slice }

        var atEnd: Bool { bytes.isEmpty }
        var remaining: ArraySlice<UInt8> { bytes }

        mutating func skip(_ count: Int) -> Bool {
            guard bytes.count >= count else { return false }
            bytes = bytes.dropFirst(count)
            return true
        }

        /// A big-endian unsigned integer of `size` bytes.
        mutating func length(_ size: Int) -> Int? {
            guard bytes.count >= size else { return nil }
            let value = bytes.prefix(size).reduce(0) { $0 << 8 | Int($1) }
            bytes = bytes.dropFirst(size)
            return value
        }

        mutating func take(_ count: Int) -> Reader? {
            guard bytes.count >= count else { return nil }
            let taken = Reader(slice: bytes.prefix(count))
            bytes = bytes.dropFirst(count)
            return taken
        }
    }
}
