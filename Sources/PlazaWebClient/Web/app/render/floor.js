// The floor: tiles with their textures, water with its shore, the shadows walls cast and flat objects (rugs,
// flower beds), painted once into an offscreen canvas that each frame copies from. Also what each frame draws on
// the ground before anything that stands up: glints on the water, your proximity range and the path you walk.
// Separate from the rest because nothing here is ever in front of anything: it is all under the depth order.

import { TAU, fillCircle, fillEllipse, hash, random } from "./helpers.js";
import { zoomFor } from "./camera.js";
import { paintWallShadow } from "./walls.js";
import { paintObject } from "./objects.js";

/** The floor canvas stays under these, whatever the devicePixelRatio (phones cap canvas memory). */
const FLOOR_MAX_PIXELS = 8_000_000;
const FLOOR_MAX_SIDE = 4096;
const PATH_DASH = [1, 9];
const RANGE_DASH = [8, 8];
const NO_DASH = [];

/** Scale of the floor canvas (device px per map unit): sharp at the current zoom, within the memory caps. */
export function floorScale(map, cssWidth, dpr) {
  const zoom = zoomFor(cssWidth);
  const wanted = Math.max(1, dpr * zoom);
  const limit = Math.min(
    FLOOR_MAX_SIDE / Math.max(map.width, map.height),
    Math.sqrt(FLOOR_MAX_PIXELS / (map.width * map.height)),
  );
  return Math.max(0.25, Math.min(wanted, limit));
}

/**
 * Paints the whole floor into a new canvas at `scale`: tiles, the shadows of walls, meeting zones' tint, then flat
 * objects (rugs, flower beds) in the order the map lists them, and the zones' outlines on top.
 * @param {Document} doc
 * @param {import("../map.js").SpaceMap} map
 * @param {number} scale device px per map unit
 * @param {(color: string, t: number) => string} tone
 * @param {object[]} flatObjects drawables of the flat objects (see objectDrawables)
 * @returns {HTMLCanvasElement}
 */
export function renderFloor(doc, map, scale, tone, flatObjects) {
  const canvas = doc.createElement("canvas");
  canvas.width = Math.max(1, Math.ceil(map.width * scale));
  canvas.height = Math.max(1, Math.ceil(map.height * scale));
  const ctx = canvas.getContext("2d");
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  const ts = map.tileSize;
  for (let r = 0; r < map.rows; r++) {
    for (let c = 0; c < map.cols; c++) paintTile(ctx, map, c, r, ts, tone);
  }
  for (let r = 0; r < map.rows; r++) {
    for (let c = 0; c < map.cols; c++) paintWallShadow(ctx, map, c, r, ts);
  }
  for (const zone of map.zones) paintZoneArea(ctx, zone);
  for (let i = 0; i < flatObjects.length; i++) paintObject(ctx, flatObjects[i], 0);
  for (const zone of map.zones) paintZoneOutline(ctx, zone, ts);
  return canvas;
}

/** A zone's outline as a path. */
function zonePath(ctx, zone) {
  ctx.beginPath();
  zone.points.forEach((p, i) => (i === 0 ? ctx.moveTo(p.x, p.y) : ctx.lineTo(p.x, p.y)));
  ctx.closePath();
}

/** A meeting zone's floor: a light tint, so people see where the conference reaches. */
function paintZoneArea(ctx, zone) {
  ctx.save();
  zonePath(ctx, zone);
  ctx.fillStyle = "rgba(120, 96, 210, 0.10)";
  ctx.fill();
  ctx.restore();
}

/** A meeting zone's edge, dashed. */
function paintZoneOutline(ctx, zone, ts) {
  ctx.save();
  zonePath(ctx, zone);
  ctx.setLineDash([ts * 0.3, ts * 0.2]);
  ctx.lineWidth = Math.max(1.5, ts * 0.07);
  ctx.strokeStyle = "rgba(96, 72, 190, 0.75)";
  ctx.stroke();
  ctx.restore();
}

/**
 * Each meeting zone's name, in screen space over everything (a sign, not part of the floor: furniture would hide
 * it), just inside the zone's top-left corner. Call with the transform at CSS pixels.
 */
export function drawZoneLabels(ctx, map, cam) {
  if (map.zones.length === 0) return;
  ctx.save();
  ctx.font = "600 12px system-ui, sans-serif";
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  for (const zone of map.zones) {
    const left = Math.min(...zone.points.map((p) => p.x));
    const top = Math.min(...zone.points.map((p) => p.y));
    const x = (left - cam.x) * cam.zoom + 8;
    const y = (top - cam.y) * cam.zoom + 16;
    const label = `🎙 ${zone.name}`;
    const width = ctx.measureText(label).width + 12;
    ctx.fillStyle = "rgba(255, 255, 255, 0.88)";
    ctx.beginPath();
    ctx.roundRect(x, y - 10, width, 20, 10);
    ctx.fill();
    ctx.fillStyle = "rgba(72, 52, 160, 0.95)";
    ctx.fillText(label, x + 6, y + 1);
  }
  ctx.restore();
}

/** One tile of the floor: its colour and the texture of its kind (unknown kinds are plain colour). */
function paintTile(ctx, map, c, r, ts, tone) {
  const tile = map.tileAt(c, r);
  const x = c * ts;
  const y = r * ts;
  const color = tile.color;
  const rand = random(hash(`${c},${r}`));
  ctx.fillStyle = tile.solid && tile.height > 0 ? tone(color, -0.3) : color;
  ctx.fillRect(x, y, ts, ts);
  const u = ts / 32; // textures are designed for 32-unit tiles
  switch (tile.kind) {
    case "grass": {
      ctx.strokeStyle = tone(color, -0.12);
      ctx.lineWidth = 1.2 * u;
      ctx.beginPath();
      for (let i = 0; i < 6; i++) {
        const bx = x + rand() * ts;
        const by = y + 4 * u + rand() * (ts - 4 * u);
        ctx.moveTo(bx, by);
        ctx.lineTo(bx + (rand() - 0.5) * 3 * u, by - 4 * u);
      }
      ctx.stroke();
      ctx.fillStyle = tone(color, 0.1);
      for (let i = 0; i < 3; i++) ctx.fillRect(x + rand() * ts, y + rand() * ts, 2 * u, 2 * u);
      if (rand() < 0.08) fillCircle(ctx, x + 6 * u + rand() * 20 * u, y + 6 * u + rand() * 20 * u, 1.6 * u, "#fff6e8");
      break;
    }
    case "path":
    case "sand": {
      const pebbles = tile.kind === "sand" ? 7 : 4;
      for (let i = 0; i < pebbles; i++) {
        const px = x + 3 * u + rand() * (ts - 6 * u);
        const py = y + 3 * u + rand() * (ts - 6 * u);
        const size = (tile.kind === "sand" ? 0.8 : 1.4) * u + rand() * 1.4 * u;
        fillEllipse(ctx, px, py, size * 1.3, size, tone(color, rand() < 0.5 ? -0.12 : 0.14));
      }
      break;
    }
    case "stone": {
      ctx.fillStyle = tone(color, -0.09);
      const half = ts / 2;
      ctx.fillRect(x, y, ts, u);
      ctx.fillRect(x, y + half, ts, u);
      const shift = r % 2 === 0 ? 0 : half / 2;
      ctx.fillRect(x + shift + half / 2, y, u, half);
      ctx.fillRect(x + ((shift + half) % ts) + half / 2, y + half, u, half);
      ctx.fillStyle = tone(color, 0.1);
      ctx.fillRect(x + 2 * u + rand() * 20 * u, y + 3 * u + rand() * 20 * u, 3 * u, 2 * u);
      break;
    }
    case "wood": {
      const plank = ts / 4;
      ctx.fillStyle = tone(color, -0.13);
      for (let i = 0; i < 4; i++) {
        const py = y + i * plank;
        ctx.fillRect(x, py + plank - u, ts, u);
        // Long planks: a joint in only some rows of each tile, staggered.
        if ((c * 7 + r * 13 + i * 5) % 3 === 0) ctx.fillRect(x + ((c + i * 3) % 4) * plank, py, u, plank);
      }
      ctx.fillStyle = tone(color, 0.08);
      ctx.fillRect(x + rand() * 20 * u, y + Math.floor(rand() * 4) * plank + 2 * u, 8 * u, u);
      break;
    }
    case "tile": {
      const half = ts / 2;
      ctx.fillStyle = tone(color, -0.07);
      ctx.fillRect(x, y, half, half);
      ctx.fillRect(x + half, y + half, half, half);
      ctx.fillStyle = tone(color, -0.15);
      ctx.fillRect(x, y, ts, 0.6 * u);
      ctx.fillRect(x, y, 0.6 * u, ts);
      break;
    }
    case "carpet": {
      ctx.fillStyle = tone(color, -0.07);
      for (let i = 0; i < 4; i++) {
        for (let j = 0; j < 4; j++) ctx.fillRect(x + (i * 8 + (j % 2) * 4 + 2) * u, y + (j * 8 + 3) * u, 1.5 * u, 1.5 * u);
      }
      break;
    }
    case "water":
      paintWater(ctx, map, c, r, ts, color, rand, tone);
      break;
    case "floor": {
      ctx.fillStyle = tone(color, -0.06);
      ctx.fillRect(x, y + ts - u, ts, u);
      ctx.fillRect(x + ((r % 2) * ts) / 2, y, u, ts);
      break;
    }
    default:
      break;
  }
}

/** Water with rounded outer corners, a lighter rim along the shore and a few ripples. */
function paintWater(ctx, map, c, r, ts, color, rand, tone) {
  const isWater = (cc, rr) => {
    const t = map.tileAt(cc, rr);
    return t === null || t.kind === "water";
  };
  const x = c * ts;
  const y = r * ts;
  const rim = tone(color, 0.22);
  const rad = ts * 0.4;
  const n = isWater(c, r - 1);
  const s = isWater(c, r + 1);
  const w = isWater(c - 1, r);
  const e = isWater(c + 1, r);
  ctx.fillStyle = rim;
  const band = ts * 0.1;
  if (!n) ctx.fillRect(x, y, ts, band);
  if (!s) ctx.fillRect(x, y + ts - band, ts, band);
  if (!w) ctx.fillRect(x, y, band, ts);
  if (!e) ctx.fillRect(x + ts - band, y, band, ts);
  // Outer corners: cover with the shore, then draw a quarter disc of water with its rim.
  const corners = [
    [!n && !w, x, y, -1, -1, c - 1, r, Math.PI],
    [!n && !e, x + ts, y, 1, -1, c + 1, r, 1.5 * Math.PI],
    [!s && !w, x, y + ts, -1, 1, c - 1, r, 0.5 * Math.PI],
    [!s && !e, x + ts, y + ts, 1, 1, c + 1, r, 0],
  ];
  const quarter = (ox, oy, radius, start, style) => {
    ctx.fillStyle = style;
    ctx.beginPath();
    ctx.moveTo(ox, oy);
    ctx.arc(ox, oy, radius, start, start + Math.PI / 2);
    ctx.closePath();
    ctx.fill();
  };
  for (const [round, cx, cy, dx, dy, nc, nr, start] of corners) {
    if (!round) continue;
    const shore = map.tileAt(nc, nr);
    ctx.fillStyle = shore ? shore.color : color;
    ctx.fillRect(dx < 0 ? cx : cx - rad, dy < 0 ? cy : cy - rad, rad, rad);
    const ox = cx - dx * rad;
    const oy = cy - dy * rad;
    quarter(ox, oy, rad, start, rim);
    quarter(ox, oy, rad - band, start, color);
  }
  ctx.strokeStyle = tone(color, 0.35);
  ctx.lineWidth = ts / 24;
  ctx.lineCap = "round";
  ctx.beginPath();
  for (let i = 0; i < 2; i++) {
    const wx = x + ts * (0.2 + rand() * 0.5);
    const wy = y + ts * (0.25 + rand() * 0.55);
    ctx.moveTo(wx, wy);
    ctx.quadraticCurveTo(wx + ts * 0.1, wy - ts * 0.08, wx + ts * 0.2, wy);
  }
  ctx.stroke();
}

/** Columns and rows of the water tiles, flat (c, r, c, r, …), for glints. */
export function waterTiles(map) {
  const water = [];
  for (let r = 0; r < map.rows; r++) {
    for (let c = 0; c < map.cols; c++) if (map.tileAt(c, r).kind === "water") water.push(c, r);
  }
  return water;
}

/** Copies the part of the floor canvas the camera sees; `floorScale` is the scale it was painted at. */
export function drawFloor(ctx, floor, floorScale, map, cam) {
  const x0 = Math.max(0, cam.x);
  const y0 = Math.max(0, cam.y);
  const x1 = Math.min(map.width, cam.x + cam.width);
  const y1 = Math.min(map.height, cam.y + cam.height);
  if (x1 <= x0 || y1 <= y0 || floor === null) return;
  const s = floorScale;
  ctx.drawImage(floor, x0 * s, y0 * s, (x1 - x0) * s, (y1 - y0) * s, x0, y0, x1 - x0, y1 - y0);
}

/** Glints that come and go on the water tiles in view (`water` from waterTiles). */
export function drawWaterGlints(ctx, water, ts, cam, now) {
  if (water.length === 0) return;
  ctx.fillStyle = "#ffffff";
  for (let i = 0; i < water.length; i += 2) {
    const x = water[i] * ts;
    const y = water[i + 1] * ts;
    if (x + ts < cam.x || x > cam.x + cam.width || y + ts < cam.y || y > cam.y + cam.height) continue;
    const phase = ((water[i] * 7 + water[i + 1] * 13) % 17) * 0.37;
    const a = Math.sin(now / 700 + phase);
    if (a <= 0.2) continue;
    ctx.globalAlpha = (a - 0.2) * 0.55;
    const gx = x + ts * (0.15 + ((water[i] * 5 + water[i + 1] * 3) % 7) * 0.09);
    const gy = y + ts * (0.2 + ((water[i] * 3 + water[i + 1] * 11) % 5) * 0.14);
    ctx.fillRect(gx, gy, ts * 0.22, ts * 0.05);
  }
  ctx.globalAlpha = 1;
}

/** The proximity range around your avatar: whoever stands inside it is in a call with you. */
export function drawRange(ctx, self, radius) {
  ctx.beginPath();
  ctx.arc(self.x, self.y, radius, 0, TAU);
  ctx.fillStyle = "rgba(255, 255, 255, 0.07)";
  ctx.fill();
  ctx.setLineDash(RANGE_DASH);
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = "rgba(255, 255, 255, 0.4)";
  ctx.stroke();
  ctx.setLineDash(NO_DASH);
}

/** Where a click sent you: a dotted line from your avatar along the path, and a pulsing ring at its end. */
export function drawPath(ctx, self, path, now) {
  ctx.beginPath();
  ctx.moveTo(self.x, self.y);
  for (let i = 0; i < path.length; i++) ctx.lineTo(path[i].x, path[i].y);
  ctx.setLineDash(PATH_DASH);
  ctx.lineDashOffset = -now / 60;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.lineWidth = 3.5;
  ctx.strokeStyle = "rgba(255, 255, 255, 0.8)";
  ctx.stroke();
  ctx.setLineDash(NO_DASH);
  ctx.lineDashOffset = 0;
  const end = path[path.length - 1];
  const pulse = (Math.sin(now / 180) + 1) * 1.5;
  ctx.beginPath();
  ctx.ellipse(end.x, end.y, 9 + pulse, 4.5 + pulse / 2, 0, 0, TAU);
  ctx.lineWidth = 2;
  ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
  ctx.stroke();
  fillEllipse(ctx, end.x, end.y, 3, 1.6, "rgba(255, 255, 255, 0.9)");
}
