public import PlazaCore
public import Foundation

/// A map file (docs/maps.md), read and validated at startup: a broken map fails with its reason and the key
/// that names it (`space.map`), rather than as a blank page in the browser.
///
/// The server checks the fields it relies on (the grid of tiles, the legend, the spawn point, the limits that
/// keep a map's size bounded); the browser reads the rest.
public struct MapFile: Sendable {
    /// Where an avatar appears when it joins (the map's `spawn`).
    public let spawn: Position
    /// The file's JSON, as served to clients inside `GET /api/v1/space`.
    public let json: [UInt8]
    /// Where avatars can stand: arrivals are spread over it.
    public let ground: Ground
    /// The map's zones (meeting zones), checked: inside the map, of a known kind, none overlapping another.
    public let zones: [Zone]

    /// The fields of the map format the server checks.
    private struct Decoded: Decodable {
        struct Point: Decodable { var x: Double; var y: Double }
        struct Tile: Decodable { var kind: String?; var color: String?; var solid: Bool?; var height: Double? }
        struct Object: Decodable { var kind: String; var x: Double; var y: Double; var w: Double?; var h: Double?; var solid: Bool? }
        struct Rect: Decodable { var x: Double; var y: Double; var width: Double; var height: Double }
        struct ZoneEntry: Decodable { var id: String; var name: String?; var kind: String; var rect: Rect?; var polygon: [Point]? }
        var format: Int
        var tileSize: Double
        var spawn: Point
        var legend: [String: Tile]
        var tiles: [String]
        var objects: [Object]?
        var zones: [ZoneEntry]?
    }

    /// Most tiles per side, and most objects, a map may have.
    public static let maximumSide = 1024
    public static let maximumObjects = 20_000
    /// Most zones a map may have, and most points in a zone's polygon.
    public static let maximumZones = 256
    public static let maximumZonePoints = 64

    /// Reads and checks the map at `path`.
    public static func load(path: String) throws(ConfigurationError) -> MapFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(key: "space.map", message: "\(path): cannot read the file")
        }
        return try parse(data, path: path)
    }

    /// Checks the map file `data` (read from `path`, which errors name).
    public static func parse(_ data: Data, path: String) throws(ConfigurationError) -> MapFile {
        func fail(_ message: String) -> ConfigurationError { ConfigurationError(key: "space.map", message: "\(path): \(message)") }
        let map: Decoded
        do { map = try JSONDecoder().decode(Decoded.self, from: data) } catch { throw fail("not a Plaza map: \(error)") }
        guard map.format == 1 else { throw fail("format \(map.format) is not supported (expected 1)") }
        guard map.tileSize > 0 else { throw fail("tileSize must be > 0") }
        guard let width = map.tiles.first?.count, width > 0 else { throw fail("tiles must have at least one row") }
        guard width <= maximumSide, map.tiles.count <= maximumSide else {
            throw fail("a map has at most \(maximumSide) tiles per side")
        }
        guard (map.objects?.count ?? 0) <= maximumObjects else { throw fail("a map has at most \(maximumObjects) objects") }
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
        var json = Array(data)
        while let last = json.last, [0x20, 0x0A, 0x0D, 0x09].contains(last) { json.removeLast() }
        let solidTiles = map.tiles.flatMap { row in row.map { map.legend[String($0)]?.solid == true } }
        let solidObjects: [Ground.Box] = (map.objects ?? []).compactMap { object in
            let kind = objectKinds[object.kind] ?? genericObject
            guard object.solid ?? kind.solid else { return nil }
            let (w, h) = (object.w ?? kind.w, object.h ?? kind.h)
            return Ground.Box(minX: object.x - w / 2, minY: object.y - h, maxX: object.x + w / 2, maxY: object.y)
        }
        let ground = Ground(tileSize: map.tileSize, columns: width, rows: map.tiles.count, solidTiles: solidTiles, solidObjects: solidObjects)
        let zones = try checkedZones(map.zones ?? [], size: size, fail: fail)
        return MapFile(spawn: Position(x: map.spawn.x, y: map.spawn.y), json: json, ground: ground, zones: zones)
    }

    /// The zones of a map of `size`, or the first thing wrong with them, naming the zone.
    private static func checkedZones(
        _ entries: [Decoded.ZoneEntry], size: (x: Double, y: Double), fail: (String) -> ConfigurationError
    ) throws(ConfigurationError) -> [Zone] {
        guard entries.count <= maximumZones else { throw fail("a map has at most \(maximumZones) zones") }
        var zones: [Zone] = []
        for entry in entries {
            guard !entry.id.isEmpty, entry.id.utf8.count <= 64 else { throw fail("a zone's id must be 1–64 characters") }
            guard !zones.contains(where: { $0.id == entry.id }) else { throw fail("zone '\(entry.id)': another zone has this id") }
            guard let kind = Zone.Kind(rawValue: entry.kind) else {
                let known = Zone.Kind.allCases.map(\.rawValue).joined(separator: ", ")
                throw fail("zone '\(entry.id)': unknown kind '\(entry.kind)' (known: \(known))")
            }
            let name = entry.name ?? entry.id
            let zone: Zone
            switch (entry.rect, entry.polygon) {
            case (let rect?, nil):
                guard rect.width > 0, rect.height > 0 else { throw fail("zone '\(entry.id)': rect needs a width and height > 0") }
                zone = .rectangle(id: entry.id, name: name, kind: kind, x: rect.x, y: rect.y, width: rect.width, height: rect.height)
            case (nil, let points?):
                guard (3...maximumZonePoints).contains(points.count) else {
                    throw fail("zone '\(entry.id)': a polygon has 3 to \(maximumZonePoints) points")
                }
                zone = Zone(id: entry.id, name: name, kind: kind, outline: points.map { Position(x: $0.x, y: $0.y) })
            default:
                throw fail("zone '\(entry.id)': give either rect or polygon")
            }
            guard zone.outline.allSatisfy({ (0...size.x).contains($0.x) && (0...size.y).contains($0.y) }) else {
                throw fail("zone '\(entry.id)': outside the map")
            }
            if let other = zones.first(where: { $0.overlaps(zone) }) {
                throw fail("zones '\(other.id)' and '\(entry.id)' overlap")
            }
            zones.append(zone)
        }
        return zones
    }

    /// Each object kind's default footprint and solidity, as the map format defines them (docs/maps.md,
    /// "Objects"); any other kind is a 32 × 32 solid box.
    static let objectKinds: [String: (w: Double, h: Double, solid: Bool)] = [
        "tree": (24, 14, true), "bush": (40, 22, true), "table": (64, 36, true), "chair": (24, 20, true),
        "sofa": (96, 36, true), "plant": (24, 18, true), "lamp": (16, 12, true), "fountain": (128, 72, true),
        "bench": (80, 24, true), "bookshelf": (80, 20, true), "counter": (96, 32, true), "whiteboard": (96, 12, true),
        "rock": (36, 20, true), "rug": (128, 80, false), "flowers": (64, 32, false),
    ]
    static let genericObject: (w: Double, h: Double, solid: Bool) = (32, 32, true)
}
