public import Foundation
import PlazaAuth
import PlazaCore
import PlazaTLS

/// What `plaza secrets` writes: the secrets a production setup needs, as a configuration file for `--config`
/// (`plaza.json`) and an environment file for compose (`plaza.env`), both mode 0600.
public struct ProductionSecrets: Sendable, Equatable {
    /// What the secrets are for: one `plaza serve`, or a fleet on PostgreSQL.
    public enum Setup: String, Sendable, CaseIterable {
        case serve, fleet
    }

    /// `auth.secret`: signs room tokens.
    public var tokenSecret: String
    /// `auth.adminToken`: the admin API's bearer token.
    public var adminToken: String
    /// `turn.secret`: shared with the TURN server.
    public var turnSecret: String
    /// The fleet's PostgreSQL password (a fleet only).
    public var postgresPassword: String?

    /// Fresh random secrets for `setup`.
    public static func generate(for setup: Setup) -> ProductionSecrets {
        ProductionSecrets(
            tokenSecret: randomSecret(), adminToken: randomSecret(), turnSecret: randomSecret(),
            postgresPassword: setup == .fleet ? randomSecret() : nil)
    }

    /// The fleet's store URL, for a PostgreSQL on this machine with a `plaza` user and database.
    public var storeURL: String? { postgresPassword.map { "postgres://plaza:\($0)@127.0.0.1:5432/plaza" } }

    /// `plaza.json`.
    public var configuration: [String: Any] {
        var file: [String: Any] = [
            "auth": ["secret": tokenSecret, "adminToken": adminToken],
            "turn": ["secret": turnSecret],
        ]
        file["store"] = storeURL
        return file
    }

    /// `plaza.env`: the same, as `PLAZA_*` variables (and `POSTGRES_PASSWORD` for the database's own image).
    public var environment: [(String, String)] {
        var lines = [("PLAZA_AUTH_SECRET", tokenSecret), ("PLAZA_AUTH_ADMIN_TOKEN", adminToken), ("PLAZA_TURN_SECRET", turnSecret)]
        if let postgresPassword, let storeURL {
            lines += [("POSTGRES_PASSWORD", postgresPassword), ("PLAZA_STORE", storeURL)]
        }
        return lines
    }
}

/// The files `plaza secrets` manages in one folder.
public struct SecretsFolder: Sendable {
    public let configurationFile: URL
    public let environmentFile: URL
    /// Previous token secrets a rotation keeps: enough for tokens to outlive a rotation or two in a row.
    public static let keptPreviousSecrets = 3

    public init(_ directory: String) {
        let folder = URL(fileURLWithPath: directory, isDirectory: true).standardizedFileURL
        configurationFile = folder.appendingPathComponent("plaza.json")
        environmentFile = folder.appendingPathComponent("plaza.env")
    }

    public enum Failure: Error, CustomStringConvertible {
        case exists([URL])
        case missing(URL)
        case unreadable(URL, String)

        public var description: String {
            switch self {
            case .exists(let files):
                "\(files.map(\.path).joined(separator: " and ")) already exist\(files.count == 1 ? "s" : ""): nothing was written "
                    + "(--force replaces them; `plaza secrets rotate` rotates the token secret and keeps the rest)"
            case .missing(let file): "\(file.path) does not exist: run `plaza secrets` first"
            case .unreadable(let file, let why): "\(file.path): \(why)"
            }
        }
    }

    /// Writes `secrets`, refusing to replace either file unless `force`.
    public func write(_ secrets: ProductionSecrets, force: Bool) throws {
        let existing = [configurationFile, environmentFile].filter { FileManager.default.fileExists(atPath: $0.path) }
        guard force || existing.isEmpty else { throw Failure.exists(existing) }
        try PrivateFile.write(try Self.encode(secrets.configuration), to: configurationFile)
        try PrivateFile.write(Data(Self.environmentText(secrets.environment, keeping: []).utf8), to: environmentFile)
    }

    /// Replaces the token secret in both files, keeping the old one in `auth.previousSecrets` (newest first, at
    /// most `keptPreviousSecrets`). Returns the new secret's key id.
    public func rotate() throws -> (keyID: String, previous: Int) {
        guard FileManager.default.fileExists(atPath: configurationFile.path) else { throw Failure.missing(configurationFile) }
        guard let data = FileManager.default.contents(atPath: configurationFile.path),
            var file = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else { throw Failure.unreadable(configurationFile, "not a JSON object") }
        var auth = file["auth"] as? [String: Any] ?? [:]
        guard let current = auth["secret"] as? String else {
            throw Failure.unreadable(configurationFile, "has no auth.secret to rotate")
        }
        let earlier = (auth["previousSecrets"] as? [String] ?? []).filter { $0 != current }
        let previous = Array(([current] + earlier).prefix(Self.keptPreviousSecrets))
        let secret = randomSecret()
        auth["secret"] = secret
        auth["previousSecrets"] = previous
        file["auth"] = auth
        try PrivateFile.write(try Self.encode(file), to: configurationFile)
        if let text = try? String(contentsOf: environmentFile, encoding: .utf8) {
            let replaced = [("PLAZA_AUTH_SECRET", secret), ("PLAZA_AUTH_PREVIOUS_SECRETS", previous.joined(separator: ","))]
            let kept = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            try PrivateFile.write(Data(Self.environmentText(replaced, keeping: kept).utf8), to: environmentFile)
        }
        return (keyID: TokenAuthority.keyID(of: secret), previous: previous.count)
    }

    /// `variables` as `NAME=value` lines, after the lines of `existing` that set none of them.
    static func environmentText(_ variables: [(String, String)], keeping existing: [String]) -> String {
        let names = Set(variables.map { $0.0 + "=" })
        let kept = existing.filter { line in !names.contains { line.hasPrefix($0) } }
        var lines = kept
        while lines.last?.isEmpty == true { lines.removeLast() }
        lines += variables.map { "\($0.0)=\($0.1)" }
        return lines.joined(separator: "\n") + "\n"
    }

    static func encode(_ object: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) + Data("\n".utf8)
    }
}
