public import Foundation
import PlazaHTTPClient
import PlazaWebSocketClient
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A Janus (Debian's `janus`) run by Plaza with configuration it writes: the VideoRoom plugin only, stored-token
/// authentication, the WebSocket transport for browsers, and the HTTP API and Admin API on loopback ports for
/// Plaza alone. What `plaza janus` runs beside its agent, and what a `janus` pool of `plaza serve --pools` launches.
public final class JanusProcess: Sendable {
    /// How to run it.
    public struct Settings: Sendable, Equatable {
        /// The `janus` program.
        public var executable = "/usr/bin/janus"
        /// Where Debian keeps the plugins and transports (`/usr/lib/<multiarch>/janus`); found when nil.
        public var libraryFolder: String?
        /// The folder its configuration files go to (created, and removed when it stops).
        public var folder: String
        /// The WebSocket API for browsers: the interface and port it listens on (`wss` when `certificate` is set).
        public var webSocketHost = "127.0.0.1"
        public var webSocketPort = 8188
        /// A PEM certificate chain and key for `wss` (Plaza's own certificate for the same name serves).
        public var certificate: String?
        public var key: String?
        /// Ports of the HTTP API (on loopback, for the agent) and the Admin API; nil picks free ones.
        public var apiPort: Int?
        public var adminPort: Int?
        /// The interface of the Admin API: loopback, unless room servers on other machines drive this Janus (then a
        /// private network's address).
        public var adminHost = "127.0.0.1"
        /// The Admin API's `admin_secret` (`media.janusAdminSecret`).
        public var adminSecret: String
        /// The VideoRoom plugin's `admin_key` (`media.janusRoomAdminKey`): only holders create rooms.
        public var roomAdminKey: String?
        /// The UDP ports media may use, `"first-last"`.
        public var rtpPorts = "20000-20399"
        /// Interfaces or address prefixes ICE may gather candidates on (`ice_enforce_list`); all when nil.
        public var iceInterfaces: String?
        /// The public address to announce behind a 1:1 NAT (`nat_1_1_mapping`, as on most cloud VMs).
        public var publicIP: String?
        /// Seconds a browser's session lives without a keep-alive.
        public var sessionTimeout = 30

        public init(folder: String, adminSecret: String) {
            (self.folder, self.adminSecret) = (folder, adminSecret)
        }

        /// The configuration files, by name, for Janus's plugins and transports in `library`.
        public func files(library: String, apiPort: Int, adminPort: Int) -> [String: String] {
            func modules(_ kind: String) -> [String] {
                ((try? FileManager.default.contentsOfDirectory(atPath: "\(library)/\(kind)")) ?? []).filter { $0.hasSuffix(".so") }.sorted()
            }
            func quoted(_ text: String) -> String {
                "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
            }
            let transports = ["libjanus_http.so", "libjanus_websockets.so"]
            var nat = ["ignore_mdns = true", "ice_tcp = false"]
            if let iceInterfaces { nat.append("ice_enforce_list = \(quoted(iceInterfaces))") }
            if let publicIP { nat.append("nat_1_1_mapping = \(quoted(publicIP))") }
            let webSocket =
                certificate == nil
                ? "ws = true ws_port = \(webSocketPort) ws_ip = \(quoted(webSocketHost)) wss = false"
                : "ws = false wss = true wss_port = \(webSocketPort) wss_ip = \(quoted(webSocketHost))"
            var certificates = ""
            if let certificate, let key { certificates = "cert_pem = \(quoted(certificate)) cert_key = \(quoted(key))" }
            return [
                "janus.jcfg": """
                    general: {
                        configs_folder = \(quoted(folder))
                        plugins_folder = \(quoted(library + "/plugins"))
                        transports_folder = \(quoted(library + "/transports"))
                        events_folder = \(quoted(library + "/events"))
                        loggers_folder = \(quoted(library + "/loggers"))
                        log_to_stdout = true
                        debug_level = 4
                        server_name = "plaza-bridge"
                        token_auth = true
                        admin_secret = \(quoted(adminSecret))
                        session_timeout = \(sessionTimeout)
                        reclaim_session_timeout = 0
                    }
                    media: { rtp_port_range = \(quoted(rtpPorts)) }
                    nat: { \(nat.joined(separator: " ")) }
                    plugins: { disable = \(quoted(modules("plugins").filter { $0 != "libjanus_videoroom.so" }.joined(separator: ","))) }
                    transports: { disable = \(quoted(modules("transports").filter { !transports.contains($0) }.joined(separator: ","))) }
                    loggers: { disable = \(quoted(modules("loggers").joined(separator: ","))) }
                    events: { broadcast = false disable = \(quoted(modules("events").joined(separator: ","))) }

                    """,
                "janus.transport.http.jcfg": """
                    general: { json = "compact" base_path = "/janus" http = true port = \(apiPort) ip = "127.0.0.1" https = false }
                    admin: { admin_base_path = "/admin" admin_http = true admin_port = \(adminPort) admin_ip = \(quoted(adminHost)) admin_https = false }

                    """,
                "janus.transport.websockets.jcfg": """
                    general: { json = "compact" \(webSocket) ws_logging = "err,warn" }
                    admin: { admin_ws = false admin_wss = false }
                    certificates: { \(certificates) }

                    """,
                "janus.plugin.videoroom.jcfg": roomAdminKey.map { "general: { admin_key = \(quoted($0)) }\n" } ?? "general: { }\n",
            ]
        }

        /// The WebSocket API's address on this machine (`ws://127.0.0.1:8188`; `wss://` with a certificate).
        public var webSocketURL: String { "\(certificate == nil ? "ws" : "wss")://\(JanusProcess.reachable(webSocketHost)):\(webSocketPort)" }
    }

    public let settings: Settings
    /// `http://127.0.0.1:<port>/janus` (for the agent) and the Admin API's `http://<adminHost>:<port>/admin`.
    public let apiURL: URL
    public let adminURL: URL
    public let pid: Int32
    private let reaped = Mutex(false)

    /// Writes the configuration, starts Janus and waits (up to `timeout`) until both APIs answer `info`.
    public static func start(_ settings: Settings, timeout: Duration = .seconds(20)) async throws -> JanusProcess {
        guard FileManager.default.isExecutableFile(atPath: settings.executable) else {
            throw ProviderError("\(settings.executable) is not an executable: install Janus (apt-get install janus) or set janus.executable")
        }
        let library = try settings.libraryFolder ?? Self.libraryFolder()
        let (apiPort, adminPort) = (try settings.apiPort ?? LoopbackPort.free(), try settings.adminPort ?? LoopbackPort.free())
        try Self.ownFolder(settings.folder)
        for (name, text) in settings.files(library: library, apiPort: apiPort, adminPort: adminPort) {
            // The main file holds the admin secret.
            let path = "\(settings.folder)/\(name)"
            try? FileManager.default.removeItem(atPath: path)
            guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw ProviderError("cannot write \(path)")
            }
        }
        let log = "\(settings.folder)/janus.log"
        let pid: Int32
        do {
            pid = try LocalProvider.spawn(
                settings.executable, ["--config", "\(settings.folder)/janus.jcfg", "--configs-folder", settings.folder, "--disable-colors"],
                environment: Self.environment(ProcessInfo.processInfo.environment), log: log, newSession: false)
        } catch {
            Self.removeConfiguration(settings.folder)
            throw error
        }
        let janus = JanusProcess(
            settings: settings, apiURL: URL(string: "http://127.0.0.1:\(apiPort)/janus")!,
            adminURL: URL(string: "http://\(Self.reachable(settings.adminHost)):\(adminPort)/admin")!, pid: pid)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, janus.isRunning {
            let api = try? await HTTPCall(.GET, janus.apiURL.absoluteString + "/info", timeout: .seconds(1)).send()
            let admin = try? await HTTPCall(.GET, janus.adminURL.absoluteString + "/info", timeout: .seconds(1)).send()
            if api?.status == 200, admin?.status == 200 { return janus }
            do {
                try await Task.sleep(for: .milliseconds(100))
            } catch {
                // Cancelled while waiting: nothing is left running, nor the admin secret on disk. Stopped in a task
                // of its own, whose waits the cancellation does not cut short.
                await Task { await janus.stop(timeout: .seconds(2)) }.value
                throw error
            }
        }
        let tail = (try? String(contentsOfFile: log, encoding: .utf8)).map { String($0.suffix(2_000)) } ?? ""
        await janus.stop(timeout: .seconds(2))
        throw ProviderError("Janus did not start within \(timeout) (log \(log)):\n\(tail)")
    }

    private init(settings: Settings, apiURL: URL, adminURL: URL, pid: Int32) {
        (self.settings, self.apiURL, self.adminURL, self.pid) = (settings, apiURL, adminURL, pid)
    }

    /// What Janus inherits of this process's environment: not Plaza's `PLAZA_*` secrets, which it has no use for.
    static func environment(_ inherited: [String: String]) -> [String: String] {
        inherited.filter { !$0.key.hasPrefix("PLAZA_") }
    }

    /// The address this machine reaches a listener on `host` at, as a URL's host: loopback for a wildcard, an IPv6
    /// address in brackets.
    static func reachable(_ host: String) -> String {
        let host = isWildcard(host) ? "127.0.0.1" : host
        return host.contains(":") ? "[\(host)]" : host
    }

    /// Whether `host` is a wildcard address (every interface), which no client can connect to.
    public static func isWildcard(_ host: String) -> Bool { host == "0.0.0.0" || host == "::" }

    /// Alive and not a zombie (reaped here: Janus is this process's child).
    public var isRunning: Bool {
        reaped.withLock { reaped in
            guard !reaped else { return false }
            var status: Int32 = 0
            // Once reaped, its pid may go to another process: never asked about again.
            reaped = waitpid(pid, &status, WNOHANG) != 0
            return !reaped
        }
    }

    /// Waits until Janus exits (polling), or the task is cancelled.
    public func exited() async {
        while isRunning {
            do { try await Task.sleep(for: .milliseconds(200)) } catch { return }
        }
    }

    /// SIGTERM, then SIGKILL after `timeout`; then its configuration folder (which holds the admin secret) goes.
    public func stop(timeout: Duration = .seconds(10)) async {
        if isRunning {
            Glibc.kill(pid, SIGTERM)
            let deadline = ContinuousClock.now + timeout
            while isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
            if isRunning {
                Glibc.kill(pid, SIGKILL)
                while isRunning { try? await Task.sleep(for: .milliseconds(20)) }
            }
        }
        Self.removeConfiguration(settings.folder)
    }

    static let configurationFiles = ["janus.jcfg", "janus.transport.http.jcfg", "janus.transport.websockets.jcfg", "janus.plugin.videoroom.jcfg"]

    /// Removes the configuration files (which hold the admin secret) from `folder`.
    static func removeConfiguration(_ folder: String) {
        for name in configurationFiles { try? FileManager.default.removeItem(atPath: "\(folder)/\(name)") }
    }

    /// Makes `folder` this user's alone (0700), or checks that it is: Janus reads its plugins' paths and the admin
    /// secret from files there, so a folder someone else can write to would let them run code as Plaza.
    static func ownFolder(_ folder: String) throws {
        // Made if missing (an existing one is fine here), then checked whoever made it: a folder another user
        // created meanwhile, or a symbolic link in its place, is refused.
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var status = stat()
        guard lstat(folder, &status) == 0, status.st_mode & S_IFMT == S_IFDIR, status.st_uid == geteuid(), status.st_mode & 0o022 == 0 else {
            throw ProviderError("\(folder) belongs to another user or others may write to it: remove it, or set janus.folder")
        }
    }

    /// SIGKILL, waiting until it is gone: what a crash looks like to the fleet.
    public func kill() {
        reaped.withLock { reaped in
            guard !reaped else { return }
            Glibc.kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            reaped = true
        }
    }

    /// Where Debian keeps Janus's plugins and transports (`/usr/lib/<multiarch>/janus`).
    public static func libraryFolder() throws -> String {
        let lib = "/usr/lib"
        let candidates = ((try? FileManager.default.contentsOfDirectory(atPath: lib)) ?? []).map { "\(lib)/\($0)/janus" } + ["/usr/lib/janus"]
        guard let folder = candidates.first(where: { FileManager.default.fileExists(atPath: "\($0)/plugins/libjanus_videoroom.so") }) else {
            throw ProviderError("Janus's VideoRoom plugin was not found under /usr/lib/*/janus (apt-get install janus)")
        }
        return folder
    }
}
