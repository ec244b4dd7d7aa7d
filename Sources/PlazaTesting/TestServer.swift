// The test harness, shipped as a target: Plaza's roles started in-process on free loopback ports, real WebSocket
// and HTTP clients, and throwaway PostgreSQL, Prometheus, HAProxy and moto servers from the machine's packages.

public import PlazaRoles
public import PlazaTransport
public import PlazaDirectory
public import PlazaStore
public import PlazaProtocol
import PlazaCore
import Logging
import ServiceLifecycle
import NIOCore
import Foundation
import PlazaWebSocketClient

/// A real Plaza node on a free loopback port, in this process, with its own data directory.
///
/// `start` returns once the server listens; `stop` shuts it down gracefully (as SIGTERM would) and closes
/// the store, so a test can start a new server on the same data directory to check what survived.
public final class TestServer: Sendable {
    public let port: Int
    /// The role started: its room server or directory, and its store.
    public let launch: Launch
    public let dataDirectory: String
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    public var host: String { "127.0.0.1" }
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Starts a server. `configure` adjusts the defaults (port 0 and a fresh temporary data directory are set
    /// first); pass `dataDirectory` to reuse one.
    public static func start(
        dataDirectory: String? = nil, configure: (inout PlazaConfiguration) -> Void = { _ in }
    ) async throws -> TestServer {
        try await start(role: .standalone, dataDirectory: dataDirectory, configure: configure)
    }

    /// Starts a directory (`plaza directory`) of the fleet sharing the store at `fleetStore`.
    public static func startDirectory(
        fleetStore: String, configure: (inout PlazaConfiguration) -> Void = { _ in }
    ) async throws -> TestServer {
        try await start(role: .directory(store: fleetStore), dataDirectory: nil, configure: configure)
    }

    private enum Role {
        case standalone
        case node(id: String, store: String)
        case directory(store: String)
    }

    /// The secret every fleet node started by the tests shares.
    public static let fleetSecret = String(repeating: "fleet-secret-", count: 4)

    /// Starts a fleet node (`plaza node`) named `nodeID` on the shared store at `fleetStore`.
    public static func startNode(
        _ nodeID: String, fleetStore: String, configure: (inout PlazaConfiguration) -> Void = { _ in }
    ) async throws -> TestServer {
        try await start(role: .node(id: nodeID, store: fleetStore), dataDirectory: nil, configure: configure)
    }

    private static func start(
        role: Role, dataDirectory: String?, configure: (inout PlazaConfiguration) -> Void
    ) async throws -> TestServer {
        var configuration = PlazaConfiguration()
        configuration.http.host = "127.0.0.1"
        configuration.http.port = 0
        switch role {
        case .standalone: break
        case .node(let id, let store):
            // A node registers its address before it listens, so it needs its port up front.
            configuration.http.port = try LoopbackPort.free()
            configuration.http.publicURL = "http://127.0.0.1:\(configuration.http.port)"
            configuration.store = store
            configuration.roomServer.nodeID = id
            configuration.auth.secret = fleetSecret
        case .directory(let store):
            configuration.store = store
            configuration.auth.secret = fleetSecret
        }
        configuration.dataDirectory = dataDirectory ?? Self.temporaryDirectory()
        // Protocol tests reason about grid cells from the origin, whatever the map's spawn.
        configuration.space.spawn = Position(x: 0, y: 0)
        configure(&configuration)
        try configuration.validate()
        var logger = Logger(label: "plaza-test")
        logger.logLevel = ProcessInfo.processInfo.environment["PLAZA_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .error
        let launch = switch role {
        case .standalone: try await Roles.serve(configuration, logger: logger)
        case .node: try await Roles.node(configuration, logger: logger)
        case .directory: try await Roles.directory(configuration, logger: logger)
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let group = launch.serviceGroup(signals: [], logger: logger) { channel in
            continuation.yield(channel.localAddress?.port ?? 0)
            continuation.finish()
        }
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestFailure("the server did not start") }
        return TestServer(port: port, launch: launch, dataDirectory: configuration.dataDirectory, group: group, task: task)
    }

    private init(port: Int, launch: Launch, dataDirectory: String, group: ServiceGroup, task: Task<Void, any Error>) {
        (self.port, self.launch, self.dataDirectory, self.group) = (port, launch, dataDirectory, group)
        self.task = task
    }

    /// Graceful shutdown: connections are closed with 1001 after flushing, then the store is closed.
    public func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
        try await launch.store.close()
    }

    /// The room server this test server runs (a `start` or `startNode` one).
    public var roomServer: RoomServer { launch.roomServer! }

    /// The directory this test server runs (a `startDirectory` one).
    public var directory: DirectoryServer { launch.directory! }

    /// The store the server opened: its chat history, and on a fleet the registry and placements.
    public var store: any SharedStore { launch.store }

    public static func temporaryDirectory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-test-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    // MARK: HTTP

    /// A request's answer (the harness's `HTTPResult`).
    public typealias HTTPResult = PlazaTesting.HTTPResult

    public func request(_ method: String, _ path: String, body: String? = nil, bearer: String? = nil) async throws -> HTTPResult {
        try await HTTP.request(method, baseURL + path, body: body, bearer: bearer)
    }

    /// The result of a successful join.
    public struct Ticket: Sendable {
        public var token: String
        public var participant: String
        public var url: String
    }

    /// Joins `room` as a guest (or with an external `bearer` token) and returns the ticket.
    public func join(_ room: String, name: String = "Tester", bearer: String? = nil) async throws -> Ticket {
        let result = try await request("POST", "/api/v1/join", body: #"{"room":"\#(room)","name":"\#(name)"}"#, bearer: bearer)
        guard result.status == 200, let token = result.json["token"]?.stringValue,
            let participant = result.json["participant"]?.stringValue, let url = result.json["url"]?.stringValue
        else { throw TestFailure("join failed: \(result.status) \(result.text)") }
        return Ticket(token: token, participant: participant, url: url)
    }

    /// A connected WebSocket client that has not said hello.
    public func connect(receiveBufferBytes: Int? = nil) async throws -> TestClient {
        try await TestClient.connect(host: host, port: port, receiveBufferBytes: receiveBufferBytes)
    }

    /// Joins `room`, connects and says hello; returns the client after its `welcome`.
    public func enter(_ room: String, name: String = "Tester", since: Int64? = nil) async throws -> (TestClient, JSONValue) {
        let ticket = try await join(room, name: name)
        let client = try await connect()
        let welcome = try await client.hello(ticket.token, since: since)
        return (client, welcome)
    }
}

/// A test's own failure, with a message.
public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
