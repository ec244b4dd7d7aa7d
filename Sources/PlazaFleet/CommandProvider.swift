public import PlazaFleetModel
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A pool's `command` provider settings: the operator's scripts, for clouds Plaza does not speak natively.
/// The contract is in docs/autoscaling.md.
public struct CommandProviderSettings: Codable, Sendable, Equatable {
    /// Launches the instance `PLAZA_INSTANCE_ID` unless it exists; exit 0 when it runs or is starting.
    public var launch: [String]
    /// Terminates `PLAZA_INSTANCE_ID`; exit 0 also when it is already gone.
    public var terminate: [String]
    /// Prints the pool's instances as JSON, `[{"id": "…"}, …]`.
    public var list: [String]
    /// Optional: protects `PLAZA_INSTANCE_ID` from the cloud's own scale-in, run as it starts serving.
    public var protect: [String]?
    /// Optional: run every period while `PLAZA_INSTANCE_ID` drains (to extend a termination timer).
    public var draining: [String]?
    /// Added to the autoscaler's environment for every script.
    public var environment: [String: String]
    /// Seconds a script may run before it is killed and the call fails.
    public var timeout: Double

    public init(
        launch: [String], terminate: [String], list: [String], protect: [String]? = nil, draining: [String]? = nil,
        environment: [String: String] = [:], timeout: Double = 120
    ) {
        (self.launch, self.terminate, self.list, self.protect) = (launch, terminate, list, protect)
        (self.draining, self.environment, self.timeout) = (draining, environment, timeout)
    }

    enum CodingKeys: String, CodingKey { case launch, terminate, list, protect, draining, environment, timeout }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            launch: try c.decode([String].self, forKey: .launch), terminate: try c.decode([String].self, forKey: .terminate),
            list: try c.decode([String].self, forKey: .list), protect: try c.decodeIfPresent([String].self, forKey: .protect),
            draining: try c.decodeIfPresent([String].self, forKey: .draining),
            environment: try c.decodeIfPresent([String: String].self, forKey: .environment) ?? [:],
            timeout: try c.decodeIfPresent(Double.self, forKey: .timeout) ?? 120)
    }
}

/// Instances through the operator's scripts. Each script gets `PLAZA_POOL`, `PLAZA_POOL_KIND`, `PLAZA_REGION`
/// and (but for `list`) `PLAZA_INSTANCE_ID` in its environment, and `{id}`, `{pool}`, `{region}` replaced in
/// its arguments; a non-zero exit fails the call with the script's standard error.
public struct CommandProvider: InstanceProvider {
    let settings: CommandProviderSettings
    let pool: PoolConfiguration

    public init(settings: CommandProviderSettings, pool: PoolConfiguration) {
        (self.settings, self.pool) = (settings, pool)
    }

    public func launch(_ request: LaunchRequest) async throws {
        _ = try await run(settings.launch, "launch", instance: request.id)
    }

    public func terminate(_ id: InstanceID) async throws {
        _ = try await run(settings.terminate, "terminate", instance: id)
    }

    public func list() async throws -> [ProviderInstance] {
        let output = try await run(settings.list, "list", instance: nil)
        do {
            return try JSONDecoder().decode([ProviderInstance].self, from: output)
        } catch {
            throw ProviderError("the list command printed no JSON array of {\"id\": …}: \(String(decoding: output.prefix(200), as: UTF8.self))")
        }
    }

    public func protect(_ id: InstanceID) async throws {
        guard let command = settings.protect else { return }
        _ = try await run(command, "protect", instance: id)
    }

    public func draining(_ id: InstanceID) async throws {
        guard let command = settings.draining else { return }
        _ = try await run(command, "draining", instance: id)
    }

    /// Runs one script to its end (or its timeout) and returns its standard output.
    private func run(_ argv: [String], _ name: String, instance: InstanceID?) async throws -> Data {
        var values = ["pool": pool.name.rawValue, "region": pool.region]
        values["id"] = instance?.rawValue
        var environment = ProcessInfo.processInfo.environment.merging(settings.environment) { $1 }
        environment["PLAZA_POOL"] = pool.name.rawValue
        environment["PLAZA_POOL_KIND"] = pool.kind.rawValue
        environment["PLAZA_REGION"] = pool.region
        environment["PLAZA_INSTANCE_ID"] = instance?.rawValue
        let result = try await ScriptRun.run(argv.map { substitute($0, values) }, environment: environment, timeout: settings.timeout)
        guard result.status == 0 else {
            let message = String(decoding: result.standardError.suffix(500), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw ProviderError("the \(name) command exited with \(result.status)\(message.isEmpty ? "" : ": \(message)")")
        }
        return result.standardOutput
    }
}

/// One run of an external program with its output captured in temporary files (a pipe would block a chatty
/// script once its buffer fills).
enum ScriptRun {
    struct Result {
        var status: Int32
        var standardOutput: Data
        var standardError: Data
    }

    static func run(_ argv: [String], environment: [String: String], timeout: Double) async throws -> Result {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-script-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let (outURL, errURL) = (folder.appendingPathComponent("out"), folder.appendingPathComponent("err"))
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0].contains("/") ? argv[0] : "/usr/bin/env")
        process.arguments = argv[0].contains("/") ? Array(argv.dropFirst()) : argv
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        do { try process.run() } catch { throw ProviderError("cannot run \(argv[0]): \(error.localizedDescription)") }
        /// A script past its time, or whose caller gave up, is killed and reaped: none is left running.
        func kill() {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let deadline = ContinuousClock.now + .seconds(timeout)
        while process.isRunning {
            if ContinuousClock.now > deadline {
                kill()
                throw ProviderError("\(argv[0]) did not finish within \(timeout) s")
            }
            do { try await Task.sleep(for: .milliseconds(20)) } catch {
                kill()
                throw error
            }
        }
        return Result(
            status: process.terminationStatus, standardOutput: (try? Data(contentsOf: outURL)) ?? Data(),
            standardError: (try? Data(contentsOf: errURL)) ?? Data())
    }
}
