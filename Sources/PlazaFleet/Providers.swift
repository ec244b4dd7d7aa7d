import PlazaFleetModel
public import Foundation

/// The provider a pool's settings name.
public enum Providers {
    /// `stateDirectory` holds the local provider's pid files and logs (a folder per pool); `store` is the URL
    /// the local provider hands room servers as `{store}`, and `environment` what it adds to this process's
    /// environment for them (before the pool's own `environment`).
    public static func make(
        for pool: PoolConfiguration, stateDirectory: URL, store: String, environment: [String: String] = [:]
    ) throws -> any InstanceProvider {
        switch pool.provider {
        case .local(let settings):
            LocalProvider(
                settings: settings, pool: pool, directory: stateDirectory.appendingPathComponent(pool.name.rawValue), store: store,
                environment: environment)
        case .command(let settings):
            CommandProvider(settings: settings, pool: pool)
        case .aws(let settings):
            try AWSProvider(
                settings: settings,
                credentials: SignatureV4.Credentials.fromEnvironment().orThrow(
                    ProviderError("the aws provider of pool '\(pool.name)' needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")))
        }
    }
}

extension Optional {
    func orThrow(_ error: @autoclosure () -> any Error) throws -> Wrapped {
        guard let self else { throw error() }
        return self
    }
}
