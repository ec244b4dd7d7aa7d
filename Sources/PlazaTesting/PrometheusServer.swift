import Foundation
import PlazaHTTPClient
import PlazaWebSocketClient
#if canImport(Glibc)
import Glibc
#endif

/// A real Prometheus (Debian's `prometheus`) on a free loopback port, started from a configuration file in a
/// temporary folder and stopped by PID.
public final class PrometheusServer: Sendable {
    public let port: Int
    public let directory: String
    private let process: Process

    /// Starts `prometheus` with `configuration` (YAML text) written as `prometheus.yml` in a new folder, after
    /// `prepare` has put any other files (service-discovery targets) in that folder.
    public static func start(configuration: String, prepare: (String) throws -> Void = { _ in }) throws -> PrometheusServer {
        guard let executable = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"].first(where: FileManager.default.isExecutableFile)
        else { throw TestFailure("Prometheus is not installed (apt-get install prometheus)") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-prom-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try configuration.write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
        try prepare(directory)
        let port = try LoopbackPort.free()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/data",
            "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
        ]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        _ = FileManager.default.createFile(atPath: directory + "/prometheus.log", contents: nil)
        process.standardError = FileHandle(forWritingAtPath: directory + "/prometheus.log")
        try process.run()
        return PrometheusServer(port: port, directory: directory, process: process)
    }

    private init(port: Int, directory: String, process: Process) {
        (self.port, self.directory, self.process) = (port, directory, process)
    }

    /// The result of an instant query (`/api/v1/query`), as the JSON `data.result` array; empty until the
    /// series exists.
    public func query(_ expression: String) async throws -> [[String: Any]] {
        var components = URLComponents(string: "http://127.0.0.1:\(port)/api/v1/query")!
        components.queryItems = [URLQueryItem(name: "query", value: expression)]
        guard let data = try? await HTTPCall(.GET, components.url!.absoluteString).send().body else { return [] }
        let body = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        return (body?["data"] as? [String: Any])?["result"] as? [[String: Any]] ?? []
    }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s) and removes its folder.
    public func stop() {
        PlazaTesting.stop(process)
        try? FileManager.default.removeItem(atPath: directory)
    }
}
