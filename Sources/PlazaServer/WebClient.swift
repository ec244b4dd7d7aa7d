import Hummingbird
import Logging
public import PlazaCore
import PlazaProtocol
import Foundation

/// The browser client: static files served from `web.root` with no build step, and `/r/{room}` links that
/// open the lobby for a room.
struct WebClient {
    /// The folder of the client shipped with Plaza (a resource of this module).
    static var bundledRoot: String {
        Bundle.module.resourceURL!.appendingPathComponent("Web", isDirectory: true).path
    }

    let root: String

    /// Files from `root`; modules are revalidated on every load (ETag) so an upgrade reaches browsers at once.
    func fileMiddleware(logger: Logger) -> FileMiddleware<PlazaRequestContext, LocalFileSystem> {
        FileMiddleware(
            root, cacheControl: .init([(MediaType(type: .any), [.noCache])]), searchForIndexHtml: true, logger: logger)
    }

    func register(on router: Router<PlazaRequestContext>) {
        let fileIO = FileIO()
        let index = root + "/index.html"
        router.get("/r/:room") { _, context in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache"],
                body: try await fileIO.loadFile(path: index, context: context))
        }
    }
}

/// The space every room of this node uses: the map the client draws (and walks on) and the proximity rules
/// for audio and video, served as `GET /api/v1/space`.
public struct SpaceDescription: Sendable {
    /// Where an avatar appears when it joins (the map's `spawn`).
    public let spawn: Position
    /// The whole `GET /api/v1/space` body, encoded once.
    let body: [UInt8]

    /// The fields of the map format the server checks; the client reads the rest (docs/maps.md).
    private struct MapFile: Decodable {
        struct Point: Decodable { var x: Double; var y: Double }
        struct Tile: Decodable { var kind: String?; var color: String?; var solid: Bool?; var height: Double? }
        struct Object: Decodable { var kind: String; var x: Double; var y: Double; var w: Double?; var h: Double? }
        var format: Int
        var tileSize: Double
        var spawn: Point
        var legend: [String: Tile]
        var tiles: [String]
        var objects: [Object]?
    }

    /// Reads and checks the map at `space.map` (or the built-in one), so a broken map fails at startup with
    /// the reason rather than as a blank page.
    public static func load(_ configuration: PlazaConfiguration) throws(ConfigurationError) -> SpaceDescription {
        let path = configuration.space.map ?? WebClient.bundledRoot + "/maps/default.json"
        func fail(_ message: String) -> ConfigurationError { ConfigurationError(key: "space.map", message: "\(path): \(message)") }
        guard let data = FileManager.default.contents(atPath: path) else { throw fail("cannot read the file") }
        let map: MapFile
        do { map = try JSONDecoder().decode(MapFile.self, from: data) } catch { throw fail("not a Plaza map: \(error)") }
        guard map.format == 1 else { throw fail("format \(map.format) is not supported (expected 1)") }
        guard map.tileSize > 0 else { throw fail("tileSize must be > 0") }
        guard let width = map.tiles.first?.count, width > 0 else { throw fail("tiles must have at least one row") }
        guard width <= 1024, map.tiles.count <= 1024 else { throw fail("a map has at most 1024 tiles per side") }
        guard (map.objects?.count ?? 0) <= 20_000 else { throw fail("a map has at most 20000 objects") }
        for key in map.legend.keys where key.count != 1 { throw fail("legend key '\(key)' must be one character") }
        for (row, line) in map.tiles.enumerated() {
            guard line.count == width else { throw fail("row \(row) has \(line.count) tiles, expected \(width)") }
            for character in line where map.legend[String(character)] == nil {
                throw fail("tile '\(character)' in row \(row) is not in the legend")
            }
        }
        let size = (x: Double(width) * map.tileSize, y: Double(map.tiles.count) * map.tileSize)
        guard (0..<size.x).contains(map.spawn.x), (0..<size.y).contains(map.spawn.y) else {
            throw fail("spawn (\(map.spawn.x), \(map.spawn.y)) is outside the map")
        }
        let column = Int(map.spawn.x / map.tileSize), row = Int(map.spawn.y / map.tileSize)
        let spawnTile = map.tiles[row][map.tiles[row].index(map.tiles[row].startIndex, offsetBy: column)]
        guard map.legend[String(spawnTile)]?.solid != true else { throw fail("spawn is on a solid tile") }

        let space = configuration.space
        var w = JSONWriter(capacity: data.count + 256)
        w.raw("{\"map\":")
        w.raw(Array(data.trimmingTrailingWhitespace))
        w.raw(",\"proximity\":{\"radius\":")
        w.number(space.proximityRadius)
        w.raw(",\"maxPeers\":")
        w.int(Int64(space.maxPeers))
        w.raw("},\"cellSize\":")
        w.number(space.cellSize)
        w.raw(",\"interestRadius\":")
        w.int(Int64(space.interestRadius))
        w.raw(",\"tickHz\":")
        w.number(space.tickHz)
        w.raw("}")
        return SpaceDescription(spawn: Position(x: map.spawn.x, y: map.spawn.y), body: w.bytes)
    }
}

extension Data {
    fileprivate var trimmingTrailingWhitespace: Data {
        var end = endIndex
        while end > startIndex, [0x20, 0x0A, 0x0D, 0x09].contains(self[index(before: end)]) { end = index(before: end) }
        return self[startIndex..<end]
    }
}
