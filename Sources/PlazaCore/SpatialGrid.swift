/// A point in a space, in map units (the web client uses pixels). `dir` is the avatar's facing, free-form.
public struct Position: Sendable, Equatable {
    public var x: Double
    public var y: Double
    public var dir: String?

    public init(x: Double, y: Double, dir: String? = nil) {
        (self.x, self.y, self.dir) = (x, y, dir)
    }
}

/// A square cell of the spatial grid.
public struct GridCell: Hashable, Sendable {
    public var x: Int32
    public var y: Int32
    public init(x: Int32, y: Int32) {
        (self.x, self.y) = (x, y)
    }
}

/// The geometry of interest management: square cells of `cellSize` map units, and an area of interest of
/// every cell within `radius` cells (Chebyshev distance) of the viewer's cell, so a `(2r+1)²` block.
///
/// Interest is decided per cell, not per distance, so that a tick's moves can be encoded once per cell and the
/// same bytes shared by every viewer whose area covers that cell.
public struct GridGeometry: Sendable, Equatable {
    public var cellSize: Double
    public var radius: Int32

    public init(cellSize: Double, radius: Int32) {
        precondition(cellSize > 0 && radius >= 0)
        (self.cellSize, self.radius) = (cellSize, radius)
    }

    public func cell(for position: Position) -> GridCell {
        GridCell(x: Self.index(position.x / cellSize), y: Self.index(position.y / cellSize))
    }

    private static func index(_ value: Double) -> Int32 {
        let floored = value.rounded(.down)
        return Int32(clamping: Int64(max(min(floored, Double(Int32.max)), Double(Int32.min))))
    }

    /// Whether a viewer in `viewer` sees avatars in `target`.
    public func sees(from viewer: GridCell, _ target: GridCell) -> Bool {
        abs(Int64(viewer.x) - Int64(target.x)) <= Int64(radius) && abs(Int64(viewer.y) - Int64(target.y)) <= Int64(radius)
    }

    /// The cells a viewer in `center` sees; by symmetry also the cells whose viewers see `center`.
    public func interestCells(around center: GridCell) -> [GridCell] {
        var cells: [GridCell] = []
        cells.reserveCapacity(Int((2 * radius + 1) * (2 * radius + 1)))
        for dy in -radius...radius {
            for dx in -radius...radius {
                let (x, ox) = center.x.addingReportingOverflow(dx)
                let (y, oy) = center.y.addingReportingOverflow(dy)
                if !ox && !oy { cells.append(GridCell(x: x, y: y)) }
            }
        }
        return cells
    }
}

/// Who occupies which cell.
public struct SpatialGrid: Sendable {
    public let geometry: GridGeometry
    private var occupants: [GridCell: Set<ParticipantID>] = [:]

    public init(geometry: GridGeometry) {
        self.geometry = geometry
    }

    public mutating func insert(_ id: ParticipantID, at cell: GridCell) {
        occupants[cell, default: []].insert(id)
    }

    public mutating func remove(_ id: ParticipantID, from cell: GridCell) {
        guard var set = occupants[cell] else { return }
        set.remove(id)
        occupants[cell] = set.isEmpty ? nil : set
    }

    public func occupants(of cell: GridCell) -> Set<ParticipantID> {
        occupants[cell] ?? []
    }

    /// Everyone in the area of interest around `cell`.
    public func occupants(around cell: GridCell) -> [ParticipantID] {
        var result: [ParticipantID] = []
        for neighbour in geometry.interestCells(around: cell) {
            if let set = occupants[neighbour] { result.append(contentsOf: set) }
        }
        return result
    }
}
