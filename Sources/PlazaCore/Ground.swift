import Foundation

/// Where an avatar may stand on a map: inside the map, off solid tiles and clear of solid objects' footprints
/// (docs/maps.md, "Walking and collisions"). Used to place arrivals, not to police movement: clients walk.
public struct Ground: Sendable {
    /// A solid rectangle, in map units.
    public struct Box: Sendable, Equatable {
        public var minX: Double, minY: Double, maxX: Double, maxY: Double

        public init(minX: Double, minY: Double, maxX: Double, maxY: Double) {
            (self.minX, self.minY, self.maxX, self.maxY) = (minX, minY, maxX, maxY)
        }
    }

    let tileSize: Double
    let columns: Int
    let rows: Int
    /// Row-major: whether each tile blocks walking.
    let solidTiles: [Bool]
    let solidObjects: [Box]

    public init(tileSize: Double, columns: Int, rows: Int, solidTiles: [Bool], solidObjects: [Box]) {
        precondition(solidTiles.count == columns * rows, "one flag per tile")
        (self.tileSize, self.columns, self.rows, self.solidTiles, self.solidObjects) = (tileSize, columns, rows, solidTiles, solidObjects)
    }

    /// Whether a circle of `radius` at `point` stays inside the map and overlaps nothing solid. Touching is not
    /// overlapping.
    public func isFree(_ point: Position, radius: Double) -> Bool {
        let (mapWidth, mapHeight) = (Double(columns) * tileSize, Double(rows) * tileSize)
        guard point.x - radius >= 0, point.y - radius >= 0, point.x + radius <= mapWidth, point.y + radius <= mapHeight else {
            return false
        }
        let c0 = max(0, Int(((point.x - radius) / tileSize).rounded(.down)))
        let c1 = min(columns - 1, Int(((point.x + radius) / tileSize).rounded(.down)))
        let r0 = max(0, Int(((point.y - radius) / tileSize).rounded(.down)))
        let r1 = min(rows - 1, Int(((point.y + radius) / tileSize).rounded(.down)))
        if c0 <= c1, r0 <= r1 {
            for row in r0...r1 {
                for column in c0...c1 where solidTiles[row * columns + column] {
                    let tile = Box(
                        minX: Double(column) * tileSize, minY: Double(row) * tileSize, maxX: Double(column + 1) * tileSize,
                        maxY: Double(row + 1) * tileSize)
                    if Self.circle(point, radius, overlaps: tile) { return false }
                }
            }
        }
        return !solidObjects.contains { Self.circle(point, radius, overlaps: $0) }
    }

    private static func circle(_ center: Position, _ radius: Double, overlaps box: Box) -> Bool {
        let nearestX = min(max(center.x, box.minX), box.maxX)
        let nearestY = min(max(center.y, box.minY), box.maxY)
        let (dx, dy) = (center.x - nearestX, center.y - nearestY)
        return dx * dx + dy * dy < radius * radius
    }
}

/// Where newcomers appear: the spawn point, or, when someone already stands there, the nearest free spot around
/// it, so that arrivals are spread out instead of drawn on top of each other.
public struct Arrivals: Sendable {
    /// An avatar's radius, map units (docs/maps.md).
    public static let avatarRadius: Double = 12
    /// Distance kept between arrivals' centres: two avatars and a little room.
    public static let spacing: Double = 32
    /// Rings of candidate spots tried around the spawn point before giving up and using it anyway.
    public static let rings = 8

    public var spawn: Position
    /// The map's free ground; nil places arrivals without regard to walls and objects.
    public var ground: Ground?

    public init(spawn: Position, ground: Ground? = nil) {
        (self.spawn, self.ground) = (spawn, ground)
    }

    /// The first candidate — the spawn point, then rings around it, nearest first — on free ground and at least
    /// `spacing` from everyone in `present`.
    public func spot(present: some Sequence<Position>) -> Position {
        let reach = Double(Self.rings + 1) * Self.spacing
        let near = present.filter { abs($0.x - spawn.x) <= reach && abs($0.y - spawn.y) <= reach }
        func fits(_ point: Position) -> Bool {
            if let ground, !ground.isFree(point, radius: Self.avatarRadius) { return false }
            return near.allSatisfy { other in
                let (dx, dy) = (other.x - point.x, other.y - point.y)
                return dx * dx + dy * dy >= Self.spacing * Self.spacing
            }
        }
        for candidate in Self.candidates(around: spawn) where fits(candidate) { return candidate }
        return spawn
    }

    /// The spawn point, then for each ring k (radius k × spacing) 6k spots evenly spaced, starting due east.
    static func candidates(around spawn: Position) -> [Position] {
        var points = [Position(x: spawn.x, y: spawn.y)]
        for ring in 1...rings {
            let count = 6 * ring
            let radius = Double(ring) * spacing
            for step in 0..<count {
                let angle = 2 * Double.pi * Double(step) / Double(count)
                points.append(Position(x: (spawn.x + radius * cos(angle)).rounded(), y: (spawn.y + radius * sin(angle)).rounded()))
            }
        }
        return points
    }
}
