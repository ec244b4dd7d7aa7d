// The space's map: the tile grid and objects of a map file (format 1, docs/maps.md), what blocks walking,
// sliding movement and click-to-walk path finding.
//
// Coordinates are map units; tile (c, r) covers x ∈ [c·tileSize, (c+1)·tileSize), y likewise. Avatars are
// circles around their feet. An object stands on its base point (x, y), the middle of the bottom edge of its
// footprint, which spans (x − w/2, y − h) to (x + w/2, y).

/** Default footprint (w × h, map units), solidity and flatness of each object kind the client knows. */
export const OBJECT_DEFAULTS = Object.freeze({
  tree: Object.freeze({ w: 24, h: 14, solid: true, flat: false }),
  bush: Object.freeze({ w: 40, h: 22, solid: true, flat: false }),
  table: Object.freeze({ w: 64, h: 36, solid: true, flat: false }),
  chair: Object.freeze({ w: 24, h: 20, solid: true, flat: false }),
  sofa: Object.freeze({ w: 96, h: 36, solid: true, flat: false }),
  plant: Object.freeze({ w: 24, h: 18, solid: true, flat: false }),
  lamp: Object.freeze({ w: 16, h: 12, solid: true, flat: false }),
  fountain: Object.freeze({ w: 128, h: 72, solid: true, flat: false }),
  bench: Object.freeze({ w: 80, h: 24, solid: true, flat: false }),
  bookshelf: Object.freeze({ w: 80, h: 20, solid: true, flat: false }),
  counter: Object.freeze({ w: 96, h: 32, solid: true, flat: false }),
  whiteboard: Object.freeze({ w: 96, h: 12, solid: true, flat: false }),
  rock: Object.freeze({ w: 36, h: 20, solid: true, flat: false }),
  rug: Object.freeze({ w: 128, h: 80, solid: false, flat: true }),
  flowers: Object.freeze({ w: 64, h: 32, solid: false, flat: true }),
});

/** Footprint of a kind the client does not know; it is drawn as a plain box. */
export const GENERIC_OBJECT = Object.freeze({ w: 32, h: 32, solid: true, flat: false });

const MAX_TILES_PER_SIDE = 1024;
const MAX_OBJECTS = 20_000;
// Per-radius navigation grids are cheap to rebuild; a few cover every avatar size in use.
const NAV_CACHE_SIZE = 4;
const MAX_SUBSTEPS = 4096;
const SQRT2 = Math.SQRT2;

// The 8 neighbours of a tile: column step, row step, cost. Bits of a tile's edge mask follow this order.
const DC = [1, -1, 0, 0, 1, 1, -1, -1];
const DR = [0, 0, 1, -1, 1, -1, 1, -1];
const COST = [1, 1, 1, 1, SQRT2, SQRT2, SQRT2, SQRT2];
const OPPOSITE = [1, 0, 3, 2, 7, 6, 5, 4];

function fail(message) {
  return new Error(`map: ${message}`);
}

const isFiniteNumber = (v) => typeof v === "number" && Number.isFinite(v);
const isPlainObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

function checkPoint(p, what) {
  if (!isPlainObject(p) || !isFiniteNumber(p.x) || !isFiniteNumber(p.y)) {
    throw fail(`${what} must be an object with finite numbers x and y`);
  }
}

/** Whether a circle (a point when `r` is 0) overlaps the half-open rectangle [x0, x1) × [y0, y1). */
function circleHitsRect(x, y, r, x0, y0, x1, y1) {
  if (r <= 0) return x >= x0 && x < x1 && y >= y0 && y < y1;
  const nx = x < x0 ? x0 : x > x1 ? x1 : x;
  const ny = y < y0 ? y0 : y > y1 ? y1 : y;
  const dx = x - nx;
  const dy = y - ny;
  return dx * dx + dy * dy < r * r;
}

/** Where an avatar of one radius can stand and walk, on the tile grid. */
class NavGrid {
  constructor(size) {
    /** 1 where the tile's centre is free. */
    this.walkable = new Uint8Array(size);
    /** Bit d set when the straight walk to neighbour d (DC/DR order) is free. */
    this.edges = new Uint8Array(size);
    /** Connected region of each walkable tile, −1 elsewhere. */
    this.component = new Int32Array(size).fill(-1);
  }
}

export class SpaceMap {
  #cell; // legend index of each tile, row-major
  #solid; // 1 where the tile blocks walking
  #buckets; // solid object footprints overlapping each tile: array of arrays (or undefined)
  #nav = new Map();
  // A* scratch space, reused between searches.
  #g = null;
  #parent = null;
  #seen = null;
  #closed = null;
  #generation = 0;
  #heapNode = new Int32Array(256);
  #heapF = new Float64Array(256);

  /**
   * Validates a parsed map file and builds the map.
   * @param {unknown} json
   * @returns {SpaceMap}
   * @throws {Error} naming the first thing that is wrong ("map: row 3 has 47 tiles, expected 48")
   */
  static fromJSON(json) {
    if (!isPlainObject(json)) throw fail("expected a JSON object");
    if (json.format === undefined) throw fail("format is missing (expected 1)");
    if (json.format !== 1) throw fail(`format ${JSON.stringify(json.format)} is not supported (expected 1)`);
    if (json.name !== undefined && typeof json.name !== "string") throw fail("name must be a string");
    const tileSize = json.tileSize;
    if (!isFiniteNumber(tileSize) || tileSize <= 0) throw fail("tileSize must be a number > 0");

    if (!isPlainObject(json.legend)) throw fail("legend must be an object of one-character keys");
    const legend = {};
    for (const [key, entry] of Object.entries(json.legend)) {
      if ([...key].length !== 1) throw fail(`legend key '${key}' must be one character`);
      if (!isPlainObject(entry)) throw fail(`legend '${key}' must be an object`);
      if (typeof entry.kind !== "string" || entry.kind === "") throw fail(`legend '${key}' needs a kind`);
      if (typeof entry.color !== "string" || entry.color === "") throw fail(`legend '${key}' needs a color`);
      if (entry.solid !== undefined && typeof entry.solid !== "boolean") {
        throw fail(`legend '${key}'.solid must be true or false`);
      }
      if (entry.height !== undefined && (!isFiniteNumber(entry.height) || entry.height < 0)) {
        throw fail(`legend '${key}'.height must be a number ≥ 0`);
      }
      legend[key] = Object.freeze({
        ...entry,
        kind: entry.kind,
        color: entry.color,
        solid: entry.solid === true,
        height: entry.height ?? 0,
      });
    }

    const tiles = json.tiles;
    if (!Array.isArray(tiles) || tiles.length === 0) throw fail("tiles must be a non-empty array of strings");
    if (tiles.length > MAX_TILES_PER_SIDE) throw fail(`tiles has ${tiles.length} rows, at most ${MAX_TILES_PER_SIDE}`);
    let cols = -1;
    for (let r = 0; r < tiles.length; r++) {
      if (typeof tiles[r] !== "string") throw fail(`row ${r} must be a string`);
      const row = [...tiles[r]];
      if (cols < 0) {
        cols = row.length;
        if (cols === 0) throw fail("row 0 is empty");
        if (cols > MAX_TILES_PER_SIDE) throw fail(`rows have ${cols} tiles, at most ${MAX_TILES_PER_SIDE}`);
      }
      if (row.length !== cols) throw fail(`row ${r} has ${row.length} tiles, expected ${cols}`);
      for (let c = 0; c < cols; c++) {
        if (!Object.hasOwn(legend, row[c])) {
          throw fail(`tile '${row[c]}' at row ${r}, column ${c} is not in the legend`);
        }
      }
    }
    const width = cols * tileSize;
    const height = tiles.length * tileSize;

    checkPoint(json.spawn, "spawn");
    const spawn = { x: json.spawn.x, y: json.spawn.y };
    if (!(spawn.x >= 0 && spawn.x < width && spawn.y >= 0 && spawn.y < height)) {
      throw fail(`spawn (${spawn.x}, ${spawn.y}) is outside the map (${width} × ${height})`);
    }

    const objects = [];
    if (json.objects !== undefined) {
      if (!Array.isArray(json.objects)) throw fail("objects must be an array");
      if (json.objects.length > MAX_OBJECTS) throw fail(`objects has ${json.objects.length} entries, at most ${MAX_OBJECTS}`);
      json.objects.forEach((o, i) => objects.push(normaliseObject(o, i)));
    }

    const zones = [];
    if (json.zones !== undefined) {
      if (!Array.isArray(json.zones)) throw fail("zones must be an array");
      json.zones.forEach((z, i) => zones.push(normaliseZone(z, i)));
    }

    const map = new SpaceMap({ name: json.name ?? "Untitled", tileSize, legend, tiles: tiles.slice(), spawn, objects, zones });
    if (map.isBlocked(spawn.x, spawn.y, 0)) throw fail(`spawn (${spawn.x}, ${spawn.y}) is inside a solid tile or object`);
    return map;
  }

  /** Use {@link SpaceMap.fromJSON}; this trusts its input. */
  constructor({ name, tileSize, legend, tiles, spawn, objects, zones = [] }) {
    this.name = name;
    this.tileSize = tileSize;
    this.legend = legend;
    this.tiles = tiles;
    this.cols = [...tiles[0]].length;
    this.rows = tiles.length;
    this.width = this.cols * tileSize;
    this.height = this.rows * tileSize;
    this.spawn = spawn;
    this.objects = objects;
    /** Meeting zones: `{id, name, kind, points: [{x, y}, …]}` (the server checked them: no overlaps, inside). */
    this.zones = zones;

    const keys = Object.keys(legend);
    const index = new Map(keys.map((k, i) => [k, i]));
    /** Legend entries by index, as stored in the tile grid. */
    this.legendList = keys.map((k) => legend[k]);
    const size = this.cols * this.rows;
    this.#cell = new Uint16Array(size);
    this.#solid = new Uint8Array(size);
    for (let r = 0; r < this.rows; r++) {
      const row = [...tiles[r]];
      for (let c = 0; c < this.cols; c++) {
        const i = r * this.cols + c;
        this.#cell[i] = index.get(row[c]);
        this.#solid[i] = this.legendList[this.#cell[i]].solid ? 1 : 0;
      }
    }

    this.#buckets = new Array(size);
    for (const o of objects) {
      if (!o.solid) continue;
      const { c0, r0, c1, r1 } = this.#tileRange(o.x - o.w / 2, o.y - o.h, o.x + o.w / 2, o.y);
      for (let r = r0; r <= r1; r++) {
        for (let c = c0; c <= c1; c++) (this.#buckets[r * this.cols + c] ??= []).push(o);
      }
    }
  }

  /** The legend entry of tile (c, r), or null outside the map. */
  tileAt(c, r) {
    if (c < 0 || r < 0 || c >= this.cols || r >= this.rows) return null;
    return this.legendList[this.#cell[r * this.cols + c]];
  }

  /** Whether tile (c, r) blocks walking; outside the map counts as solid. */
  isSolidTile(c, r) {
    if (c < 0 || r < 0 || c >= this.cols || r >= this.rows) return true;
    return this.#solid[r * this.cols + c] === 1;
  }

  /**
   * Whether a circle of `radius` at (x, y) leaves the map or overlaps a solid tile or solid object footprint.
   * Touching is not overlapping, so an avatar may stand flush against a wall.
   */
  isBlocked(x, y, radius = 0) {
    const r = radius > 0 ? radius : 0;
    const ts = this.tileSize;
    if (!(x >= r && y >= r && x + r <= this.width && y + r <= this.height && x < this.width && y < this.height)) {
      return true;
    }
    const c0 = Math.max(0, Math.floor((x - r) / ts));
    const r0 = Math.max(0, Math.floor((y - r) / ts));
    const c1 = Math.min(this.cols - 1, Math.floor((x + r) / ts));
    const r1 = Math.min(this.rows - 1, Math.floor((y + r) / ts));
    for (let tr = r0; tr <= r1; tr++) {
      for (let tc = c0; tc <= c1; tc++) {
        const i = tr * this.cols + tc;
        if (this.#solid[i] === 1 && circleHitsRect(x, y, r, tc * ts, tr * ts, (tc + 1) * ts, (tr + 1) * ts)) {
          return true;
        }
        const bucket = this.#buckets[i];
        if (bucket === undefined) continue;
        for (let k = 0; k < bucket.length; k++) {
          const o = bucket[k];
          if (circleHitsRect(x, y, r, o.x - o.w / 2, o.y - o.h, o.x + o.w / 2, o.y)) return true;
        }
      }
    }
    return false;
  }

  /**
   * Whether a circle of `radius` can travel the straight segment from `a` to `b` (both ends included),
   * sampled at steps of at most radius / 2.
   */
  lineOfSight(a, b, radius = 0) {
    const dx = b.x - a.x;
    const dy = b.y - a.y;
    const step = radius > 0 ? radius / 2 : 1;
    const n = Math.max(1, Math.ceil(Math.hypot(dx, dy) / step));
    if (!Number.isFinite(n)) return false;
    for (let i = 0; i <= n; i++) {
      const t = i / n;
      if (this.isBlocked(a.x + dx * t, a.y + dy * t, radius)) return false;
    }
    return true;
  }

  /**
   * Moves a circle of `radius` from `from` by (dx, dy), sliding along whatever blocks it: each sub-step (at
   * most radius / 2 long, so nothing thin is skipped) tries x, then y. A purely horizontal or vertical move
   * that catches a corner is nudged around it, so walking into a doorway slightly off-centre still goes in.
   * An avatar that is already blocked (e.g. placed inside an object) may move freely until it is out.
   * @returns {{x: number, y: number}}
   */
  moveWithCollision(from, dx, dy, radius = 0) {
    let x = from.x;
    let y = from.y;
    const length = Math.hypot(dx, dy);
    if (!(length > 0) || !Number.isFinite(length) || !Number.isFinite(x) || !Number.isFinite(y)) return { x, y };
    const maxStep = radius > 0 ? radius / 2 : 1;
    const steps = Math.min(MAX_SUBSTEPS, Math.ceil(length / maxStep));
    const sx = dx / steps;
    const sy = dy / steps;
    let stuck = this.isBlocked(x, y, radius);
    for (let i = 0; i < steps; i++) {
      const x0 = x;
      const y0 = y;
      if (sx !== 0) {
        if (stuck) {
          if (this.#inside(x + sx, y, radius)) x += sx;
        } else if (!this.isBlocked(x + sx, y, radius)) {
          x += sx;
        } else {
          const ny = sy === 0 ? this.#nudge(x, y, sx, 0, radius) : y;
          if (ny !== y) y = ny;
          else x += sx * this.#freeFraction(x, y, sx, 0, radius);
        }
      }
      if (sy !== 0) {
        if (stuck) {
          if (this.#inside(x, y + sy, radius)) y += sy;
        } else if (!this.isBlocked(x, y + sy, radius)) {
          y += sy;
        } else {
          const nx = sx === 0 ? this.#nudge(x, y, 0, sy, radius) : x;
          if (nx !== x) x = nx;
          else y += sy * this.#freeFraction(x, y, 0, sy, radius);
        }
      }
      if (x === x0 && y === y0) break;
      if (stuck) stuck = this.isBlocked(x, y, radius);
    }
    return { x, y };
  }

  /**
   * The nearest point to `point` where a circle of `radius` is free, or null when the map has none. Useful to
   * place an avatar whose position is blocked.
   * @returns {{x: number, y: number} | null}
   */
  nearestFreePoint(point, radius = 0) {
    if (!this.isBlocked(point.x, point.y, radius)) return { x: point.x, y: point.y };
    return this.#nearestReachable(point, radius, this.#navGrid(radius), -1);
  }

  /**
   * A walk for a circle of `radius` from `from` to `to`: waypoints after `from`, ending at `to` — or, when `to`
   * is blocked (a click on a wall, tree or pond), at the nearest free point around it that can be reached.
   * Each leg is a straight line the circle can walk. Null when `to` cannot be reached.
   * @returns {{x: number, y: number}[] | null}
   */
  findPath(from, to, radius = 0) {
    if (!isFiniteNumber(from?.x) || !isFiniteNumber(from?.y) || !isFiniteNumber(to?.x) || !isFiniteNumber(to?.y)) {
      return null;
    }
    const nav = this.#navGrid(radius);
    const start = this.#entryTile(from, radius, nav, -1, true);
    if (start < 0) return null;
    const region = nav.component[start];

    let goal = { x: to.x, y: to.y };
    if (this.isBlocked(goal.x, goal.y, radius)) {
      goal = this.#nearestReachable(goal, radius, nav, region);
      if (goal === null) return null;
    }
    if (this.lineOfSight(from, goal, radius)) return [goal];
    const end = this.#entryTile(goal, radius, nav, region, false);
    if (end < 0) return null;

    const tiles = this.#aStar(nav, start, end);
    if (tiles === null) return null;
    const points = [{ x: from.x, y: from.y }];
    for (const i of tiles) points.push(this.#centre(i));
    points.push(goal);
    return this.#stringPull(points, radius);
  }

  // ---------------------------------------------------------------------------------------------------------

  #tileRange(x0, y0, x1, y1) {
    const ts = this.tileSize;
    return {
      c0: Math.max(0, Math.floor(x0 / ts)),
      r0: Math.max(0, Math.floor(y0 / ts)),
      c1: Math.min(this.cols - 1, Math.ceil(x1 / ts) - 1),
      r1: Math.min(this.rows - 1, Math.ceil(y1 / ts) - 1),
    };
  }

  #centre(i) {
    const ts = this.tileSize;
    return { x: ((i % this.cols) + 0.5) * ts, y: (Math.floor(i / this.cols) + 0.5) * ts };
  }

  #inside(x, y, radius) {
    const r = radius > 0 ? radius : 0;
    return x >= r && y >= r && x + r <= this.width && y + r <= this.height && x < this.width && y < this.height;
  }

  /** How much of the blocked step (sx, sy) can be taken, so a walker stops flush against what blocks it. */
  #freeFraction(x, y, sx, sy, radius) {
    let lo = 0;
    let hi = 1;
    for (let k = 0; k < 5; k++) {
      const t = (lo + hi) / 2;
      if (this.isBlocked(x + sx * t, y + sy * t, radius)) hi = t;
      else lo = t;
    }
    return lo;
  }

  /**
   * The other coordinate after one nudge step around a corner that blocks a move of (sx, 0) or (0, sy), or
   * the same coordinate when no offset within one radius clears it (a flat wall) or both sides do equally.
   */
  #nudge(x, y, sx, sy, radius) {
    const step = Math.abs(sx + sy);
    const limit = Math.max(radius, step);
    for (let offset = step; offset <= limit + 1e-9; offset += step) {
      const ox = sx === 0 ? offset : 0;
      const oy = sy === 0 ? offset : 0;
      const minus = !this.isBlocked(x + sx - ox, y + sy - oy, radius);
      const plus = !this.isBlocked(x + sx + ox, y + sy + oy, radius);
      if (minus && plus) return sx === 0 ? x : y;
      const sign = minus ? -1 : plus ? 1 : 0;
      if (sign !== 0) {
        const nx = x + (sx === 0 ? sign * step : 0);
        const ny = y + (sy === 0 ? sign * step : 0);
        if (this.isBlocked(nx, ny, radius)) return sx === 0 ? x : y;
        return sx === 0 ? nx : ny;
      }
    }
    return sx === 0 ? x : y;
  }

  #navGrid(radius) {
    const key = radius > 0 ? radius : 0;
    let nav = this.#nav.get(key);
    if (nav !== undefined) {
      this.#nav.delete(key);
      this.#nav.set(key, nav); // most recently used last
      return nav;
    }
    if (this.#nav.size >= NAV_CACHE_SIZE) this.#nav.delete(this.#nav.keys().next().value);
    nav = this.#buildNavGrid(key);
    this.#nav.set(key, nav);
    return nav;
  }

  #buildNavGrid(radius) {
    const { cols, rows } = this;
    const size = cols * rows;
    const nav = new NavGrid(size);
    const ts = this.tileSize;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        nav.walkable[r * cols + c] = this.isBlocked((c + 0.5) * ts, (r + 0.5) * ts, radius) ? 0 : 1;
      }
    }
    // Edges: a straight walk between the two centres must be free; diagonals must not cut a corner.
    // Up to half a tile of radius, solid tiles cannot block a walk between two free centres (they keep their
    // distance), so the walk is sampled only when an object's footprint comes within reach of it.
    const sampleAll = radius > ts / 2;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        if (!nav.walkable[i]) continue;
        for (const d of [0, 2, 4, 5]) {
          const nc = c + DC[d];
          const nr = r + DR[d];
          if (nc < 0 || nr < 0 || nc >= cols || nr >= rows) continue;
          const j = nr * cols + nc;
          if (!nav.walkable[j]) continue;
          if (d >= 4 && !(nav.walkable[r * cols + nc] && nav.walkable[nr * cols + c])) continue;
          const ax = (c + 0.5) * ts;
          const ay = (r + 0.5) * ts;
          const bx = (nc + 0.5) * ts;
          const by = (nr + 0.5) * ts;
          if ((sampleAll || this.#objectWithin(ax, ay, bx, by, radius)) && !this.#walkFree(ax, ay, bx, by, radius)) {
            continue;
          }
          nav.edges[i] |= 1 << d;
          nav.edges[j] |= 1 << OPPOSITE[d];
        }
      }
    }
    // Connected regions, so an unreachable target is known without searching the whole map.
    const queue = new Int32Array(size);
    let region = 0;
    for (let s = 0; s < size; s++) {
      if (!nav.walkable[s] || nav.component[s] >= 0) continue;
      let head = 0;
      let tail = 0;
      queue[tail++] = s;
      nav.component[s] = region;
      while (head < tail) {
        const i = queue[head++];
        const mask = nav.edges[i];
        for (let d = 0; d < 8; d++) {
          if (!(mask & (1 << d))) continue;
          const j = i + DR[d] * cols + DC[d];
          if (nav.component[j] >= 0) continue;
          nav.component[j] = region;
          queue[tail++] = j;
        }
      }
      region++;
    }
    return nav;
  }

  /** Whether a solid object's footprint overlaps the box around segment a–b grown by `radius`. */
  #objectWithin(ax, ay, bx, by, radius) {
    const x0 = Math.min(ax, bx) - radius;
    const y0 = Math.min(ay, by) - radius;
    const x1 = Math.max(ax, bx) + radius;
    const y1 = Math.max(ay, by) + radius;
    const { c0, r0, c1, r1 } = this.#tileRange(x0, y0, x1, y1);
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) {
        const bucket = this.#buckets[r * this.cols + c];
        if (bucket === undefined) continue;
        for (const o of bucket) {
          if (o.x - o.w / 2 < x1 && o.x + o.w / 2 > x0 && o.y - o.h < y1 && o.y > y0) return true;
        }
      }
    }
    return false;
  }

  /** Whether a circle can walk from free point a to free point b (the ends are not sampled again). */
  #walkFree(ax, ay, bx, by, radius) {
    const dx = bx - ax;
    const dy = by - ay;
    const n = Math.max(1, Math.ceil(Math.hypot(dx, dy) / (radius > 0 ? radius / 2 : 1)));
    for (let k = 1; k < n; k++) {
      if (this.isBlocked(ax + (dx * k) / n, ay + (dy * k) / n, radius)) return false;
    }
    return true;
  }

  /**
   * The walkable tile (in `region`, unless −1) a walk to or from point `p` enters the grid by: the nearest
   * tile centre within two tiles that `p` can see. From a blocked start, the nearest walkable tile at all.
   */
  #entryTile(p, radius, nav, region, lenient) {
    const ts = this.tileSize;
    const pc = Math.floor(p.x / ts);
    const pr = Math.floor(p.y / ts);
    const candidates = [];
    for (let r = pr - 2; r <= pr + 2; r++) {
      for (let c = pc - 2; c <= pc + 2; c++) {
        if (c < 0 || r < 0 || c >= this.cols || r >= this.rows) continue;
        const i = r * this.cols + c;
        if (!nav.walkable[i] || (region >= 0 && nav.component[i] !== region)) continue;
        candidates.push({ i, d: Math.hypot((c + 0.5) * ts - p.x, (r + 0.5) * ts - p.y) });
      }
    }
    candidates.sort((u, v) => u.d - v.d);
    for (const { i } of candidates) if (this.lineOfSight(p, this.#centre(i), radius)) return i;
    if (lenient && candidates.length > 0 && this.isBlocked(p.x, p.y, radius)) return candidates[0].i;
    return -1;
  }

  /**
   * The free point nearest to blocked point `p` that lies on a straight, free line from a walkable tile
   * centre (in `region`, unless −1), searching outwards ring by ring.
   */
  #nearestReachable(p, radius, nav, region) {
    const ts = this.tileSize;
    const pc = Math.min(this.cols - 1, Math.max(0, Math.floor(p.x / ts)));
    const pr = Math.min(this.rows - 1, Math.max(0, Math.floor(p.y / ts)));
    const maxRing = Math.max(this.cols, this.rows);
    let best = null;
    let bestDistance = Infinity;
    for (let ring = 0; ring <= maxRing; ring++) {
      // Every tile of this ring is at least (ring − 1) tiles from p: stop when none can beat the best.
      if ((ring - 1) * ts > bestDistance) break;
      for (let r = pr - ring; r <= pr + ring; r++) {
        if (r < 0 || r >= this.rows) continue;
        const edge = r === pr - ring || r === pr + ring;
        for (let c = pc - ring; c <= pc + ring; c += edge || ring === 0 ? 1 : 2 * ring) {
          if (c < 0 || c >= this.cols) continue;
          const i = r * this.cols + c;
          if (!nav.walkable[i] || (region >= 0 && nav.component[i] !== region)) continue;
          const point = this.#approach(this.#centre(i), p, radius);
          const distance = Math.hypot(point.x - p.x, point.y - p.y);
          if (distance < bestDistance) {
            bestDistance = distance;
            best = point;
          }
        }
      }
    }
    return best;
  }

  /** The point closest to `target` on the segment from free point `from` that is walkable all the way. */
  #approach(from, target, radius) {
    const dx = target.x - from.x;
    const dy = target.y - from.y;
    const step = radius > 0 ? radius / 2 : 1;
    const n = Math.max(1, Math.ceil(Math.hypot(dx, dy) / step));
    let lo = 0; // fraction known free
    let hi = -1; // first fraction found blocked
    for (let k = 1; k <= n; k++) {
      const t = k / n;
      if (this.isBlocked(from.x + dx * t, from.y + dy * t, radius)) {
        hi = t;
        break;
      }
      lo = t;
    }
    if (hi > 0) {
      for (let k = 0; k < 6; k++) {
        const t = (lo + hi) / 2;
        if (this.isBlocked(from.x + dx * t, from.y + dy * t, radius)) hi = t;
        else lo = t;
      }
    }
    return { x: from.x + dx * lo, y: from.y + dy * lo };
  }

  /** A* over the navigation grid (octile distance, binary heap); the tiles from start to goal, or null. */
  #aStar(nav, start, goal) {
    const size = this.cols * this.rows;
    if (this.#g === null || this.#g.length !== size) {
      this.#g = new Float64Array(size);
      this.#parent = new Int32Array(size);
      this.#seen = new Uint32Array(size);
      this.#closed = new Uint32Array(size);
      this.#generation = 0;
    }
    if (++this.#generation === 0xffffffff) {
      this.#seen.fill(0);
      this.#closed.fill(0);
      this.#generation = 1;
    }
    const gen = this.#generation;
    const g = this.#g;
    const parent = this.#parent;
    const seen = this.#seen;
    const closed = this.#closed;
    const cols = this.cols;
    const gc = goal % cols;
    const gr = Math.floor(goal / cols);
    const heuristic = (i) => {
      const dx = Math.abs((i % cols) - gc);
      const dy = Math.abs(Math.floor(i / cols) - gr);
      return dx > dy ? dx + (SQRT2 - 1) * dy : dy + (SQRT2 - 1) * dx;
    };

    let heapSize = 0;
    const push = (node, f) => {
      if (heapSize === this.#heapNode.length) {
        const nodes = new Int32Array(heapSize * 2);
        nodes.set(this.#heapNode);
        const fs = new Float64Array(heapSize * 2);
        fs.set(this.#heapF);
        this.#heapNode = nodes;
        this.#heapF = fs;
      }
      const hn = this.#heapNode;
      const hf = this.#heapF;
      let k = heapSize++;
      while (k > 0) {
        const up = (k - 1) >> 1;
        if (hf[up] <= f) break;
        hn[k] = hn[up];
        hf[k] = hf[up];
        k = up;
      }
      hn[k] = node;
      hf[k] = f;
    };
    const pop = () => {
      const hn = this.#heapNode;
      const hf = this.#heapF;
      const top = hn[0];
      const lastNode = hn[--heapSize];
      const lastF = hf[heapSize];
      let k = 0;
      for (;;) {
        let child = 2 * k + 1;
        if (child >= heapSize) break;
        if (child + 1 < heapSize && hf[child + 1] < hf[child]) child++;
        if (hf[child] >= lastF) break;
        hn[k] = hn[child];
        hf[k] = hf[child];
        k = child;
      }
      hn[k] = lastNode;
      hf[k] = lastF;
      return top;
    };

    g[start] = 0;
    parent[start] = -1;
    seen[start] = gen;
    push(start, heuristic(start));
    while (heapSize > 0) {
      const i = pop();
      if (closed[i] === gen) continue; // a stale duplicate
      closed[i] = gen;
      if (i === goal) {
        const path = [];
        for (let k = goal; k !== -1; k = parent[k]) path.push(k);
        return path.reverse();
      }
      const mask = nav.edges[i];
      for (let d = 0; d < 8; d++) {
        if (!(mask & (1 << d))) continue;
        const j = i + DR[d] * cols + DC[d];
        if (closed[j] === gen) continue;
        const cost = g[i] + COST[d];
        if (seen[j] === gen && cost >= g[j]) continue;
        seen[j] = gen;
        g[j] = cost;
        parent[j] = i;
        push(j, cost + heuristic(j));
      }
    }
    return null;
  }

  /** Drops every waypoint the walker can skip by walking straight on; the first point (the start) goes too. */
  #stringPull(points, radius) {
    const out = [];
    let i = 0;
    while (i < points.length - 1) {
      let k = i + 1;
      while (k + 1 < points.length && this.lineOfSight(points[i], points[k + 1], radius)) k++;
      const p = points[k];
      const last = out.length > 0 ? out[out.length - 1] : points[0];
      if (p.x !== last.x || p.y !== last.y || k === points.length - 1) out.push(p);
      i = k;
    }
    return out;
  }
}

function normaliseObject(o, i) {
  const where = `objects[${i}]`;
  if (!isPlainObject(o)) throw fail(`${where} must be an object`);
  if (typeof o.kind !== "string" || o.kind === "") throw fail(`${where} needs a kind`);
  if (!isFiniteNumber(o.x) || !isFiniteNumber(o.y)) throw fail(`${where} (${o.kind}) needs finite numbers x and y`);
  for (const key of ["w", "h"]) {
    if (o[key] !== undefined && (!isFiniteNumber(o[key]) || o[key] <= 0)) {
      throw fail(`${where}.${key} (${o.kind}) must be a number > 0`);
    }
  }
  if (o.solid !== undefined && typeof o.solid !== "boolean") throw fail(`${where}.solid must be true or false`);
  if (o.color !== undefined && typeof o.color !== "string") throw fail(`${where}.color must be a string`);
  const defaults = Object.hasOwn(OBJECT_DEFAULTS, o.kind) ? OBJECT_DEFAULTS[o.kind] : GENERIC_OBJECT;
  return Object.freeze({
    ...o,
    kind: o.kind,
    x: o.x,
    y: o.y,
    w: o.w ?? defaults.w,
    h: o.h ?? defaults.h,
    solid: o.solid ?? defaults.solid,
    flat: defaults.flat,
    color: o.color ?? null,
  });
}

/** A zone of the map file as the client uses it: its outline as points (a rect becomes its four corners). */
function normaliseZone(z, i) {
  const where = `zones[${i}]`;
  if (!isPlainObject(z) || typeof z.id !== "string" || z.id === "") throw fail(`${where} needs an id`);
  if (typeof z.kind !== "string") throw fail(`${where} (${z.id}) needs a kind`);
  let points;
  if (isPlainObject(z.rect)) {
    const { x, y, width, height } = z.rect;
    if (![x, y, width, height].every(isFiniteNumber) || width <= 0 || height <= 0) throw fail(`${where}.rect must have x, y, width, height`);
    points = [{ x, y }, { x: x + width, y }, { x: x + width, y: y + height }, { x, y: y + height }];
  } else if (Array.isArray(z.polygon) && z.polygon.length >= 3) {
    points = z.polygon.map((p, j) => {
      if (!isPlainObject(p) || !isFiniteNumber(p.x) || !isFiniteNumber(p.y)) throw fail(`${where}.polygon[${j}] must be {x, y}`);
      return { x: p.x, y: p.y };
    });
  } else {
    throw fail(`${where} (${z.id}) needs a rect or a polygon`);
  }
  return Object.freeze({ id: z.id, name: typeof z.name === "string" ? z.name : z.id, kind: z.kind, points });
}
