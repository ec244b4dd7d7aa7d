import Foundation

/// The browser client shipped with Plaza: plain HTML, CSS and JavaScript modules under `Web/`, with no build
/// step, served as they are by every role (`web.root` points elsewhere to serve another copy). The built-in map
/// is `Web/maps/default.json`.
public enum WebClientFiles {
    /// The folder of the shipped client.
    public static var root: String {
        Bundle.module.resourceURL!.appendingPathComponent("Web", isDirectory: true).path
    }

    /// The built-in map (docs/maps.md), used when `space.map` names none.
    public static var defaultMap: String { root + "/maps/default.json" }
}
