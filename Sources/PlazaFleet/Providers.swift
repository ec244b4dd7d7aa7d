public import Foundation

/// The provider a pool's settings name.
public enum Providers {
    /// `stateDirectory` holds the local provider's pid files and logs (a folder per pool); `store` is the URL
    /// the local provider hands room servers as `{store}`.
    public static func make(for pool: PoolConfiguration, stateDirectory: URL, store: String) -> any InstanceProvider {
        switch pool.provider {
        case .local(let settings):
            LocalProvider(settings: settings, kind: pool.kind, directory: stateDirectory.appendingPathComponent(pool.name), store: store)
        case .command(let settings):
            CommandProvider(settings: settings, pool: pool.name, region: pool.region, kind: pool.kind)
        }
    }
}
