import Foundation

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
