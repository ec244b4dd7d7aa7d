public import PlazaProtocol
public import PlazaWebSocketClient
import NIOCore
import NIOPosix
import Synchronization
public import Foundation

/// A WebSocket client that speaks Plaza's JSON frames, for tests: it splits each message into its
/// `\n`-separated frames and keeps them, in order, until the test takes them.
public final class TestClient: Sendable {
    /// What the client has received: a frame or the close.
    public enum Event: Sendable {
        case frame(JSONValue)
        case closed(UInt16?)
    }

    private struct Inbox {
        var events: [Event] = []
        var messages = 0
    }

    private final class Box: Sendable { let inbox = Mutex(Inbox()) }

    public let connection: WebSocketConnection
    private let box: Box

    private init(connection: WebSocketConnection, box: Box) {
        (self.connection, self.box) = (connection, box)
    }

    /// Connects to `ws://host:port/path`.
    public static func connect(
        host: String, port: Int, path: String = "/ws", receiveBufferBytes: Int? = nil, subprotocol: String? = nil
    ) async throws -> TestClient {
        let box = Box()
        let connection = try await WebSocketConnection.connect(
            host: host, port: port, path: path, group: clientGroup, receiveBufferBytes: receiveBufferBytes, subprotocol: subprotocol,
            callbacks: .init(
                onMessage: { buffer in
                    let frames = buffer.readableBytesView.split(separator: UInt8(ascii: "\n"))
                    let decoded = frames.map { bytes in
                        JSONValue.parse(Data(bytes)) ?? .string(String(decoding: bytes, as: UTF8.self))
                    }
                    box.inbox.withLock { inbox in
                        inbox.messages += 1
                        inbox.events.append(contentsOf: decoded.map(Event.frame))
                    }
                },
                onClose: { code in box.inbox.withLock { $0.events.append(.closed(code)) } }
            ))
        return TestClient(connection: connection, box: box)
    }

    /// Connects to a `ws://` URL, such as the one join answers with.
    public static func connect(url: String, subprotocol: String? = nil) async throws -> TestClient {
        guard let components = URLComponents(string: url), components.scheme == "ws", let host = components.host,
            let port = components.port
        else { throw TestFailure("not a ws://host:port URL: \(url)") }
        return try await connect(host: host, port: port, path: components.path.isEmpty ? "/" : components.path, subprotocol: subprotocol)
    }

    /// Sends raw text (one WebSocket message).
    public func send(_ text: String) { connection.send(text) }

    /// Sends `hello` and returns the `welcome`; throws if an error or close comes first.
    @discardableResult
    public func hello(_ token: String, since: Int64? = nil, audio: Bool? = nil, video: Bool? = nil) async throws -> JSONValue {
        var fields = [#""type":"hello""#, #""token":"\#(token)""#]
        if let since { fields.append(#""since":\#(since)"#) }
        if let audio { fields.append(#""audio":\#(audio)"#) }
        if let video { fields.append(#""video":\#(video)"#) }
        send("{" + fields.joined(separator: ",") + "}")
        let frame = try await next()
        guard frame["type"]?.stringValue == "welcome" else { throw TestFailure("expected welcome, got \(frame)") }
        return frame
    }

    /// The next frame, whatever its type.
    public func next(timeout: Double = 5) async throws -> JSONValue {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let event: Event? = box.inbox.withLock { $0.events.isEmpty ? nil : $0.events.removeFirst() }
            switch event {
            case .frame(let frame)?: return frame
            case .closed(let code)?:
                box.inbox.withLock { $0.events.insert(.closed(code), at: 0) }
                throw TestFailure("connection closed (\(code.map(String.init) ?? "no code")) while waiting for a frame")
            case nil:
                if Date() > deadline { throw TestFailure("no frame within \(timeout) s") }
                try await Task.sleep(for: .milliseconds(2))
            }
        }
    }

    /// The next frame of `type`, skipping others.
    public func next(_ type: String, timeout: Double = 5) async throws -> JSONValue {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let frame = try await next(timeout: max(0.01, deadline.timeIntervalSinceNow))
            if frame["type"]?.stringValue == type { return frame }
        }
    }

    /// Every frame that arrives within `seconds` (after those already received).
    public func collect(for seconds: Double) async throws -> [JSONValue] {
        try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
        return drain()
    }

    /// The frames received so far and not yet taken.
    public func drain() -> [JSONValue] {
        box.inbox.withLock { inbox in
            var frames: [JSONValue] = []
            var rest: [Event] = []
            for event in inbox.events {
                if case .frame(let f) = event { frames.append(f) } else { rest.append(event) }
            }
            inbox.events = rest
            return frames
        }
    }

    /// Waits for the server to close the connection; returns its close code.
    public func closeCode(timeout: Double = 10) async throws -> UInt16? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let code: UInt16?? = box.inbox.withLock { inbox in
                for event in inbox.events { if case .closed(let code) = event { return .some(code) } }
                return nil
            }
            if let code { return code }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw TestFailure("the connection was not closed within \(timeout) s")
    }

    /// WebSocket messages received so far (each may carry several frames).
    public var messageCount: Int { box.inbox.withLock { $0.messages } }

    public func close() { connection.close() }
}

/// Test clients run on their own event loop, so a test's slow parsing never stalls the server's loops.
private let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)

extension JSONValue {
    /// Parses JSON text (faster than the `Codable` path, which tries each shape in turn).
    public static func parse(_ data: Data) -> JSONValue? {
        guard let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else { return nil }
        return convert(object)
    }

    private static func convert(_ any: Any) -> JSONValue {
        switch any {
        case let dictionary as [String: Any]: .object(dictionary.map { ($0.key, convert($0.value)) })
        case let array as [Any]: .array(array.map(convert))
        case let string as String: .string(string)
        case let bool as Bool where type(of: any) == Bool.self: .bool(bool)
        case let number as NSNumber:
            String(cString: number.objCType) == "c" ? .bool(number.boolValue) : .number(number.doubleValue)
        default: .null
        }
    }

    /// The member as an integer, if it is a number.
    public func int(_ key: String) -> Int64? {
        if case .number(let n)? = self[key] { return Int64(n) }
        return nil
    }

    public func bool(_ key: String) -> Bool? {
        if case .bool(let b)? = self[key] { return b }
        return nil
    }

    public func array(_ key: String) -> [JSONValue] {
        if case .array(let items)? = self[key] { return items }
        return []
    }

    public func string(_ key: String) -> String? { self[key]?.stringValue }
}
