/// An area of a map with a rule of its own (docs/maps.md, "Zones"). A meeting zone puts everyone inside it in one
/// conference, whatever the distance between them.
public struct Zone: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case meeting
    }

    public let id: String
    public let name: String
    public let kind: Kind
    /// The outline, in map units: a rectangle's four corners or a polygon's points, in order.
    public let outline: [Position]

    public init(id: String, name: String, kind: Kind, outline: [Position]) {
        (self.id, self.name, self.kind, self.outline) = (id, name, kind, outline)
    }

    /// A rectangle from (`x`, `y`), `width` × `height`.
    public static func rectangle(id: String, name: String, kind: Kind, x: Double, y: Double, width: Double, height: Double) -> Zone {
        Zone(
            id: id, name: name, kind: kind,
            outline: [
                Position(x: x, y: y), Position(x: x + width, y: y), Position(x: x + width, y: y + height), Position(x: x, y: y + height),
            ])
    }

    /// Whether `point` is inside (points on the outline count as inside).
    public func contains(_ point: Position) -> Bool {
        if Geometry.onOutline(point, outline) { return true }
        return Geometry.strictlyInside(point, outline)
    }

    /// Whether the two zones share any area (touching along an edge is not overlapping).
    public func overlaps(_ other: Zone) -> Bool {
        let (a, b) = (outline, other.outline)
        for i in a.indices {
            for j in b.indices where Geometry.segmentsCross(a[i], a[(i + 1) % a.count], b[j], b[(j + 1) % b.count]) { return true }
        }
        if a.contains(where: { Geometry.strictlyInside($0, b) }) || b.contains(where: { Geometry.strictlyInside($0, a) }) { return true }
        // Same outline, or one inside the other with shared edges: an inner point of one inside the other.
        if let inner = Geometry.innerPoint(a), !Geometry.onOutline(inner, b), Geometry.strictlyInside(inner, b) { return true }
        if let inner = Geometry.innerPoint(b), !Geometry.onOutline(inner, a), Geometry.strictlyInside(inner, a) { return true }
        return false
    }

    /// The zone `point` is in, if any (zones do not overlap, so there is at most one).
    public static func zone(at point: Position, in zones: [Zone]) -> Zone? {
        zones.first { $0.contains(point) }
    }
}

/// Plane geometry of zones' outlines.
enum Geometry {
    /// Ray casting; points on the outline are not strictly inside.
    static func strictlyInside(_ p: Position, _ polygon: [Position]) -> Bool {
        guard polygon.count >= 3, !onOutline(p, polygon) else { return false }
        var inside = false
        var j = polygon.count - 1
        for i in polygon.indices {
            let (a, b) = (polygon[i], polygon[j])
            if (a.y > p.y) != (b.y > p.y), p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x { inside.toggle() }
            j = i
        }
        return inside
    }

    static func onOutline(_ p: Position, _ polygon: [Position]) -> Bool {
        for i in polygon.indices where onSegment(p, polygon[i], polygon[(i + 1) % polygon.count]) { return true }
        return false
    }

    static func cross(_ o: Position, _ a: Position, _ b: Position) -> Double {
        (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x)
    }

    static func onSegment(_ p: Position, _ a: Position, _ b: Position) -> Bool {
        abs(cross(a, b, p)) < 1e-9 && p.x >= min(a.x, b.x) - 1e-9 && p.x <= max(a.x, b.x) + 1e-9 && p.y >= min(a.y, b.y) - 1e-9
            && p.y <= max(a.y, b.y) + 1e-9
    }

    /// Whether the segments cross at a point inside both (touching or overlapping collinearly does not count).
    static func segmentsCross(_ a: Position, _ b: Position, _ c: Position, _ d: Position) -> Bool {
        let (d1, d2, d3, d4) = (cross(c, d, a), cross(c, d, b), cross(a, b, c), cross(a, b, d))
        return ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))
    }

    /// A point strictly inside `polygon`: the centroid when it is, otherwise a point just inside a corner.
    static func innerPoint(_ polygon: [Position]) -> Position? {
        guard polygon.count >= 3 else { return nil }
        let centroid = Position(
            x: polygon.map(\.x).reduce(0, +) / Double(polygon.count), y: polygon.map(\.y).reduce(0, +) / Double(polygon.count))
        if strictlyInside(centroid, polygon) { return centroid }
        for i in polygon.indices {
            let (previous, corner, next) = (polygon[(i + polygon.count - 1) % polygon.count], polygon[i], polygon[(i + 1) % polygon.count])
            let candidate = Position(x: (previous.x + corner.x + next.x) / 3, y: (previous.y + corner.y + next.y) / 3)
            if strictlyInside(candidate, polygon) { return candidate }
        }
        return nil
    }
}
