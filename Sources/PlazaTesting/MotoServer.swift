import Foundation
import PlazaHTTPClient
import PlazaWebSocketClient

/// moto's standalone server (PyPI `moto[server]`): EC2 Auto Scaling and CloudWatch Query APIs on a free
/// loopback port, routed by the service of each request's signature. Started with `python3 -m moto.server`
/// and stopped by PID.
public final class MotoServer: Sendable {
    public let port: Int
    private let process: Process
    private let log: String

    public static func start() async throws -> MotoServer {
        let port = try LoopbackPort.free()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-moto-\(UUID().uuidString).log").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", String(port)]
        process.standardOutput = FileHandle(forWritingAtPath: log)
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
        let server = MotoServer(port: port, process: process, log: log)
        for _ in 0..<300 {
            if let answer = try? await HTTPCall(.GET, server.url + "/moto-api/", timeout: .seconds(2)).send(), answer.status == 200 {
                return server
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        server.stop()
        throw TestFailure("moto did not start (pip install 'moto[server]'): \(output.suffix(1_000))")
    }

    private init(port: Int, process: Process, log: String) {
        (self.port, self.process, self.log) = (port, process, log)
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    public func stop() {
        PlazaTesting.stop(process)
        try? FileManager.default.removeItem(atPath: log)
    }
}
