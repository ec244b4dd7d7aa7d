import Foundation
import PlazaHTTPClient
import PlazaWebSocketClient

/// A real Janus (Debian's `janus`) on free loopback ports, in a temporary folder with configuration of its own:
/// the HTTP transport (the Janus API at `/janus`, the Admin API at `/admin`), stored-token authentication, the
/// VideoRoom plugin only. Stopped by PID. (Tests/Janus has the Python twin, with the WebSocket transport.)
public final class JanusServer: Sendable {
    public let apiURL: String
    public let adminURL: String
    public let adminSecret: String
    public let directory: String
    private let process: Process

    /// Starts Janus; `roomAdminKey` sets the VideoRoom plugin's `admin_key` (creating rooms then needs it), and
    /// `adminSecret` the Admin API's secret (a fresh one when nil: the bridges of a fleet share theirs).
    public static func start(roomAdminKey: String? = nil, adminSecret: String? = nil) async throws -> JanusServer {
        guard let executable = ["/usr/bin/janus", "/usr/local/bin/janus"].first(where: FileManager.default.isExecutableFile) else {
            throw TestFailure("Janus is not installed (apt-get install janus)")
        }
        let library = try Self.libraryFolder()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-janus-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let (apiPort, adminPort) = (try LoopbackPort.free(), try LoopbackPort.free())
        let adminSecret = adminSecret ?? UUID().uuidString
        func modules(_ kind: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "\(library)/\(kind)")) ?? []).filter { $0.hasSuffix(".so") }.sorted()
        }
        func quoted(_ text: String) -> String { "\"\(text)\"" }
        let files: [String: String] = [
            "janus.jcfg": """
                general: {
                    configs_folder = \(quoted(directory))
                    plugins_folder = \(quoted(library + "/plugins"))
                    transports_folder = \(quoted(library + "/transports"))
                    events_folder = \(quoted(library + "/events"))
                    loggers_folder = \(quoted(library + "/loggers"))
                    log_to_stdout = false
                    log_to_file = \(quoted(directory + "/janus.log"))
                    debug_level = 4
                    interface = "127.0.0.1"
                    token_auth = true
                    admin_secret = \(quoted(adminSecret))
                }
                nat: { ignore_mdns = true }
                plugins: { disable = \(quoted(modules("plugins").filter { $0 != "libjanus_videoroom.so" }.joined(separator: ","))) }
                transports: { disable = \(quoted(modules("transports").filter { $0 != "libjanus_http.so" }.joined(separator: ","))) }
                loggers: { disable = \(quoted(modules("loggers").joined(separator: ","))) }
                events: { broadcast = false disable = \(quoted(modules("events").joined(separator: ","))) }
                """,
            "janus.transport.http.jcfg": """
                general: { json = "compact" base_path = "/janus" http = true port = \(apiPort) ip = "127.0.0.1" https = false }
                admin: { admin_base_path = "/admin" admin_http = true admin_port = \(adminPort) admin_ip = "127.0.0.1" admin_https = false }
                """,
            "janus.plugin.videoroom.jcfg": roomAdminKey.map { "general: { admin_key = \(quoted($0)) }\n" } ?? "general: { }\n",
        ]
        for (name, text) in files { try text.write(toFile: "\(directory)/\(name)", atomically: true, encoding: .utf8) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--config", "\(directory)/janus.jcfg", "--configs-folder", directory, "--disable-colors"]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        _ = FileManager.default.createFile(atPath: directory + "/janus.out", contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: directory + "/janus.out")
        process.standardError = process.standardOutput
        try process.run()
        let server = JanusServer(
            apiURL: "http://127.0.0.1:\(apiPort)/janus", adminURL: "http://127.0.0.1:\(adminPort)/admin", adminSecret: adminSecret,
            directory: directory, process: process)
        for _ in 0..<200 {
            let info = try? await HTTPCall(.GET, server.apiURL + "/info", timeout: .seconds(1)).send()
            if info?.status == 200, (try? await HTTPCall(.GET, server.adminURL + "/info", timeout: .seconds(1)).send())?.status == 200 {
                return server
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let log = server.log
        server.stop()
        throw TestFailure("Janus did not start:\n\(log.suffix(3_000))")
    }

    private init(apiURL: String, adminURL: String, adminSecret: String, directory: String, process: Process) {
        (self.apiURL, self.adminURL, self.adminSecret, self.directory, self.process) = (apiURL, adminURL, adminSecret, directory, process)
    }

    public var log: String {
        ["janus.out", "janus.log"].map { (try? String(contentsOfFile: "\(directory)/\($0)", encoding: .utf8)) ?? "" }.joined(separator: "\n")
    }

    /// Stops Janus (SIGKILL) and removes its folder. Not SIGTERM: a child of the test process inherits the signal
    /// mask of the thread that spawned it, where SIGTERM is blocked, so Janus would not hear it.
    public func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        PlazaTesting.stop(process)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Where Debian keeps Janus's plugins and transports (`/usr/lib/<multiarch>/janus`).
    static func libraryFolder() throws -> String {
        let lib = "/usr/lib"
        let candidates = ((try? FileManager.default.contentsOfDirectory(atPath: lib)) ?? []).map { "\(lib)/\($0)/janus" } + ["/usr/lib/janus"]
        guard let folder = candidates.first(where: { FileManager.default.fileExists(atPath: "\($0)/plugins/libjanus_videoroom.so") }) else {
            throw TestFailure("Janus's plugins were not found (apt-get install janus)")
        }
        return folder
    }
}
