/// A configuration value that cannot work, with the key that holds it, so a typo fails at startup with its
/// name rather than at 3 a.m.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var key: String
    public var message: String

    public init(key: String, message: String) {
        (self.key, self.message) = (key, message)
    }

    public var description: String { "configuration key '\(key)' \(message)" }

    /// Throws when `ok` is false: `key` `rule` ("must be ≥ 1").
    public static func require(_ ok: Bool, _ key: String, _ rule: String) throws(ConfigurationError) {
        if !ok { throw ConfigurationError(key: key, message: rule) }
    }
}
