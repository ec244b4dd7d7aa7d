import Foundation
import PlazaWebSocketClient
#if canImport(Glibc)
import Glibc
#endif

/// A real HAProxy (Debian's `haproxy`) in the foreground, from a configuration file in a temporary folder,
/// stopped by PID.
public final class HAProxyServer: Sendable {
    public let directory: String
    private let process: Process

    /// Checks `configuration` (`haproxy -c`), then starts it. The log (HAProxy logs to stdout) is `haproxy.log`
    /// in the folder.
    public static func start(configuration: String) throws -> HAProxyServer {
        guard let executable = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"].first(where: FileManager.default.isExecutableFile)
        else { throw TestFailure("HAProxy is not installed (apt-get install haproxy)") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-haproxy-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let file = directory + "/haproxy.cfg"
        try configuration.write(toFile: file, atomically: true, encoding: .utf8)
        let log = directory + "/haproxy.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)

        let check = Process()
        check.executableURL = URL(fileURLWithPath: executable)
        check.arguments = ["-c", "-q", "-f", file]
        check.standardOutput = FileHandle(forWritingAtPath: log)
        check.standardError = FileHandle(forWritingAtPath: log)
        try check.run()
        check.waitUntilExit()
        guard check.terminationStatus == 0 else {
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(atPath: directory)
            throw TestFailure("haproxy -c rejected the configuration: \(output)")
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        // -db: stay in the foreground, so the PID is HAProxy's own.
        process.arguments = ["-db", "-f", file]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = FileHandle(forWritingAtPath: log)
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
        return HAProxyServer(directory: directory, process: process)
    }

    private init(directory: String, process: Process) {
        (self.directory, self.process) = (directory, process)
    }

    /// What HAProxy logged so far (requests, health-check transitions).
    public var log: String { (try? String(contentsOfFile: directory + "/haproxy.log", encoding: .utf8)) ?? "" }

    public func stop() {
        PlazaTesting.stop(process)
        try? FileManager.default.removeItem(atPath: directory)
    }
}
