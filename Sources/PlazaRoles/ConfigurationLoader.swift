public import Configuration
import Foundation
import SystemPackage

/// The one configuration reader of every subcommand: flags first, then `PLAZA_*` environment variables
/// (`limits.frameBytes` is `PLAZA_LIMITS_FRAME_BYTES`), then the JSON file (`--config`, or `PLAZA_CONFIG`), then
/// each key's default.
public enum ConfigurationLoader {
    /// `flags` by key (a nil value: the flag was not given).
    public static func reader(flags: [String: ConfigContent?], file: String?) async throws -> ConfigReader {
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for case let (key, value?) in flags {
            values[AbsoluteConfigKey(key.split(separator: ".").map(String.init))] = .init(value, isSecret: false)
        }
        let environment = ProcessInfo.processInfo.environment
        var prefixed: [String: String] = [:]
        for (name, value) in environment where name.hasPrefix("PLAZA_") && name != "PLAZA_CONFIG" {
            prefixed[String(name.dropFirst("PLAZA_".count))] = value
        }
        var providers: [any ConfigProvider] = [
            InMemoryProvider(name: "flags", values: values),
            EnvironmentVariablesProvider(environmentVariables: prefixed),
        ]
        if let path = file ?? environment["PLAZA_CONFIG"] {
            providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(path)))
        }
        return ConfigReader(providers: providers)
    }
}
