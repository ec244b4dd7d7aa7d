import Foundation
import PlazaFleet
import PlazaWebSocketClient

/// A real Janus (Debian's `janus`) on free loopback ports, in a temporary folder, configured as `plaza janus`
/// configures it (`JanusProcess`): the HTTP API at `/janus` and the Admin API at `/admin` for Plaza, the WebSocket
/// API for browsers, stored-token authentication, the VideoRoom plugin only. Stopped by PID. (Tests/Janus has the
/// Python twin.)
public final class JanusServer: Sendable {
    public let apiURL: String
    public let adminURL: String
    public let adminSecret: String
    /// The WebSocket API (`ws://127.0.0.1:<port>`).
    public let webSocketURL: String
    public let directory: String
    private let process: JanusProcess

    /// Starts Janus; `roomAdminKey` sets the VideoRoom plugin's `admin_key` (creating rooms then needs it), and
    /// `adminSecret` the Admin API's secret (a fresh one when nil: the bridges of a fleet share theirs).
    public static func start(roomAdminKey: String? = nil, adminSecret: String? = nil) async throws -> JanusServer {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/janus") else {
            throw TestFailure("Janus is not installed (apt-get install janus)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-janus-\(UUID().uuidString)").path
        var settings = JanusProcess.Settings(folder: directory, adminSecret: adminSecret ?? UUID().uuidString)
        settings.webSocketPort = try LoopbackPort.free()
        settings.roomAdminKey = roomAdminKey
        let process = try await JanusProcess.start(settings)
        return JanusServer(process: process)
    }

    private init(process: JanusProcess) {
        self.process = process
        (apiURL, adminURL) = (process.apiURL.absoluteString, process.adminURL.absoluteString)
        (adminSecret, webSocketURL, directory) = (process.settings.adminSecret, process.settings.webSocketURL, process.settings.folder)
    }

    public var log: String { (try? String(contentsOfFile: "\(directory)/janus.log", encoding: .utf8)) ?? "" }

    /// Stops Janus at once (SIGKILL, as a crash) and removes its folder.
    public func stop() {
        process.kill()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
