public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The `plaza` executable the multi-process tests run: `PLAZA_BIN`, or the one built next to the test
/// bundle (`swift build --product plaza` before `swift test`, as `scripts/test` does).
public enum PlazaExecutable {
    public static func path() throws -> String {
        if let path = ProcessInfo.processInfo.environment["PLAZA_BIN"] { return path }
        let testBinary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: testBinary).deletingLastPathComponent()
        // Inside an .xctest bundle on macOS the binary sits a few folders down.
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("plaza").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        throw TestFailure("the plaza executable is not built: run `swift build --product plaza` first, or set PLAZA_BIN")
    }
}

/// A `plaza` child process without a port to wait on (`plaza autoscaler`, `plaza bench load`, `plaza fleet`):
/// its standard output and error go to a log file; stopped with SIGTERM (SIGKILL after 10 s).
public final class PlazaProcess: Sendable {
    private let process: Process
    public let logFile: String

    /// Starts `executable` (the built `plaza` when nil) with `arguments` in `directory`.
    public init(executable: String? = nil, arguments: [String], environment: [String: String], directory: URL) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executable ?? PlazaExecutable.path())
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        logFile = directory.appendingPathComponent("\(arguments.prefix(2).joined(separator: "-"))-\(UUID().uuidString.prefix(8)).log").path
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        let log = FileHandle(forWritingAtPath: logFile)
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
    }

    public var isRunning: Bool { process.isRunning }
    public var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    public func stop() { PlazaTesting.stop(process) }

    /// A crash: SIGKILL, then wait for the exit.
    public func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Runs `plaza arguments…` to its end; returns its exit status and output.
    public static func run(_ arguments: [String], environment: [String: String] = [:], directory: URL) async throws -> (status: Int32, output: String) {
        let child = try PlazaProcess(arguments: arguments, environment: environment, directory: directory)
        while child.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        return (child.process.terminationStatus, child.log)
    }
}
