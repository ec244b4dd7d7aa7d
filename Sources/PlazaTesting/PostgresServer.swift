import Foundation
import PlazaWebSocketClient
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A throwaway PostgreSQL server for tests: `initdb` in a temporary folder, `postgres` on a free loopback port,
/// stopped by PID when the test process exits. Needs Debian's `postgresql` package (its binaries live in
/// `/usr/lib/postgresql/<version>/bin`); as root, the server runs as the `postgres` user, since PostgreSQL
/// refuses to run as root.
public final class PostgresServer: Sendable {
    public let port: Int
    private let directory: String
    private let binaries: String

    /// One server per test process, started on first use.
    public static func shared() throws -> PostgresServer {
        try sharedServer.withLock { server in
            if let server { return server }
            let started = try PostgresServer.start()
            server = started
            atexit { PostgresServer.stopShared() }
            return started
        }
    }

    private static let sharedServer = Mutex<PostgresServer?>(nil)

    private static func stopShared() {
        sharedServer.withLock { $0?.stop() }
    }

    /// A new, empty database on this server; returns its URL.
    public func createDatabase() throws -> String {
        let name = "plaza_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))"
        try Self.run(binaries + "/createdb", ["-h", "127.0.0.1", "-p", "\(port)", "-U", "plaza", name])
        return "postgres://plaza@127.0.0.1:\(port)/\(name)"
    }

    /// A server of its own, for a test that stops, pauses or restarts it (`shutDown`, `pause`, `startAgain`);
    /// `stop()` it at the end.
    public static func dedicated() throws -> PostgresServer { try start() }

    static func start() throws -> PostgresServer {
        let binaries = try locateBinaries()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-pg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let asRoot = geteuid() == 0
        if asRoot {
            try FileManager.default.setAttributes([.ownerAccountName: "postgres"], ofItemAtPath: directory)
        }
        let data = directory + "/data"
        try run(
            binaries + "/initdb", ["-D", data, "-U", "plaza", "--auth=trust", "-E", "UTF8", "--no-sync"], asPostgres: asRoot)
        let instance = PostgresServer(port: try LoopbackPort.free(), directory: directory, binaries: binaries)
        do {
            try instance.launch()
        } catch {
            instance.stop()
            throw error
        }
        return instance
    }

    /// Starts the postmaster on the server's folder and port, and waits until it accepts connections.
    private func launch() throws {
        let asRoot = geteuid() == 0
        let server = Process()
        server.executableURL = URL(fileURLWithPath: asRoot ? "/usr/sbin/runuser" : binaries + "/postgres")
        let arguments = [
            "-D", directory + "/data", "-h", "127.0.0.1", "-p", "\(port)", "-k", directory, "-c", "fsync=off",
            "-c", "max_connections=300", "-c", "log_min_messages=warning",
        ]
        server.arguments = asRoot ? ["-u", "postgres", "--", binaries + "/postgres"] + arguments : arguments
        server.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        server.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try server.run()
        let deadline = Date().addingTimeInterval(30)
        while (try? Self.run(binaries + "/pg_isready", ["-q", "-h", "127.0.0.1", "-p", "\(port)"])) == nil {
            guard Date() < deadline, server.isRunning else { throw TestFailure("PostgreSQL did not start on port \(port)") }
            usleep(100_000)
        }
    }

    /// The postmaster's PID, from `postmaster.pid`.
    private var postmaster: pid_t? {
        guard let pidFile = try? String(contentsOfFile: directory + "/data/postmaster.pid", encoding: .utf8),
            let line = pidFile.split(separator: "\n").first
        else { return nil }
        return pid_t(line)
    }

    /// Stops the server as an operator would (fast shutdown: connections are closed), keeping its data.
    public func shutDown() {
        guard let pid = postmaster else { return }
        kill(pid, SIGINT)
        for _ in 0..<200 where kill(pid, 0) == 0 { usleep(50_000) }
    }

    /// Starts the server again after `shutDown`, on the same port, with its data.
    public func startAgain() throws { try launch() }

    /// Freezes every process of the server (SIGSTOP): connections stay open and nothing answers, as with a
    /// server that hangs.
    public func pause() { signalAll(SIGSTOP) }

    /// Lets a paused server go on (SIGCONT).
    public func resume() { signalAll(SIGCONT) }

    /// Sends `signal` to the postmaster and its children (their PIDs from /proc).
    private func signalAll(_ signal: Int32) {
        guard let parent = postmaster else { return }
        // The postmaster first: a stopped postmaster forks no backend that the scan below could miss.
        kill(parent, signal)
        var pids: [pid_t] = []
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") {
            for entry in entries {
                guard let pid = pid_t(entry),
                    let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                    let close = stat.lastIndex(of: ")")
                else { continue }
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                if fields.count > 1, pid_t(fields[1]) == parent { pids.append(pid) }
            }
        }
        for pid in pids { kill(pid, signal) }
    }

    private init(port: Int, directory: String, binaries: String) {
        (self.port, self.directory, self.binaries) = (port, directory, binaries)
    }

    /// Stops the postmaster by the PID in its `postmaster.pid` (fast shutdown) and removes its folder.
    public func stop() {
        resume()  // a paused server would not hear the shutdown
        shutDown()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func locateBinaries() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
            let bin = "\(root)/\(version)/bin"
            if FileManager.default.isExecutableFile(atPath: bin + "/postgres") { return bin }
        }
        throw TestFailure("PostgreSQL is not installed (apt-get install postgresql)")
    }

    @discardableResult
    private static func run(_ executable: String, _ arguments: [String], asPostgres: Bool = false) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: asPostgres ? "/usr/sbin/runuser" : executable)
        process.arguments = asPostgres ? ["-u", "postgres", "--", executable] + arguments : arguments
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestFailure(
                "\(executable) failed (\(process.terminationStatus)): \(String(decoding: output, as: UTF8.self))")
        }
        return process.terminationStatus
    }
}
