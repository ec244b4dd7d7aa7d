import Testing
import Foundation
import PlazaTesting
import PlazaBench

/// A start that cannot succeed closes what it opened and says why in one line.
@Suite struct StartupTests {
    @Test func aBusyPortIsNamedInOneLine() async throws {
        let first = try await BenchServer.start(executable: try PlazaExecutable.path(), environment: [:])
        defer { first.stop() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-busy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let second = try await PlazaProcess.run(
            ["serve", "--port", "\(first.port)", "--data-dir", folder.appendingPathComponent("data").path, "--log-level", "error"],
            directory: folder)
        #expect(second.status == 1)
        let lines = second.output.split(separator: "\n")
        #expect(lines.last == "Error: port \(first.port) is in use; pick another with --port (key server.port)", "\(second.output)")
        #expect(!second.output.contains("Fatal error") && !second.output.contains("SQLiteConnection"), "\(second.output)")
    }
}
