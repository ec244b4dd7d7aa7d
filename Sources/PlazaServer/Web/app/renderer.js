// Draws the space on a canvas: the floor, walls, furniture and avatars in a 3/4 top-down view, all
// procedural (no images, no fonts from elsewhere).
//
// The flat floor (tiles, rugs, flower beds) is painted once into an offscreen canvas. Everything that stands
// up — walls, furniture, trees, avatars — is sorted by its base y (the line where it touches the ground) and
// drawn back to front, so whatever is further south hides what is behind it. Names and emotes are drawn last,
// in screen space, so they stay readable at any zoom and are never hidden.

const TAU = Math.PI * 2;
/** Canvases narrower than this (CSS px) are phones: zoom out so more of the map fits. */
const PHONE_WIDTH = 700;
const PHONE_ZOOM = 0.75;
const BACKGROUND = "#1e1b2b";
const LABEL_FONT = '600 12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const EMOJI_FONT = '18px "Apple Color Emoji", "Segoe UI Emoji", "Noto Color Emoji", system-ui, sans-serif';
const LABEL_HEIGHT = 18;
const LABEL_MAX_CHARS = 24;
const BADGE = 14;
/** Top of an avatar's head above its feet, map units. */
const AVATAR_TOP = 42;
/** How far an avatar's drawing (with its label and emote) can reach from its feet, map units. */
const AVATAR_REACH = { side: 140, up: 160, down: 12 };
const EMOTE_FADE_MS = 500;
/** The floor canvas stays under these, whatever the devicePixelRatio (phones cap canvas memory). */
const FLOOR_MAX_PIXELS = 8_000_000;
const FLOOR_MAX_SIDE = 4096;
const PATH_DASH = [1, 9];
const RANGE_DASH = [8, 8];
const NO_DASH = [];
const FLOWER_COLORS = ["#f4a3c0", "#f7d06b", "#c3a6ee", "#ffffff", "#ef8f8f", "#9fd3f0"];
const BOOK_COLORS = ["#c97b63", "#6d9dc5", "#e3b35a", "#8fb9a8", "#b48ac0", "#e59c8c", "#f1e3c6"];

/** Default colour of each object kind; an object's `color` replaces it. */
const OBJECT_COLORS = {
  tree: "#6fae62",
  bush: "#6aa864",
  table: "#c89f74",
  chair: "#d9a066",
  sofa: "#e59c8c",
  plant: "#d0825e",
  lamp: "#f6e3b4",
  fountain: "#d4cbbd",
  bench: "#b7835a",
  bookshelf: "#9b6b4a",
  counter: "#b98b5e",
  whiteboard: "#a9adb8",
  rock: "#a8a4b3",
  rug: "#c97b63",
  flowers: null,
};
const GENERIC_COLOR = "#b8a9c9";

/** How far each kind's drawing rises above its footprint and spreads beside it (for culling), map units. */
const OBJECT_REACH = {
  tree: [110, 50],
  bush: [44, 8],
  table: [30, 4],
  chair: [40, 4],
  sofa: [40, 6],
  plant: [52, 16],
  lamp: [100, 48],
  fountain: [90, 8],
  bench: [34, 4],
  bookshelf: [76, 4],
  counter: [64, 4],
  whiteboard: [72, 4],
  rock: [16, 6],
};
const GENERIC_REACH = [44, 4];

// ---- small helpers ------------------------------------------------------------------------------------------

/** FNV-1a: a stable 32-bit hash, so an id always gets the same colour. */
function hash(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** An avatar's colour, also used for its dot in the people list. */
export function avatarHue(id) {
  return hash(String(id)) % 360;
}

/** A small deterministic random generator (mulberry32), for textures that look the same on every load. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function roundRect(ctx, x, y, w, h, r) {
  const rr = Math.max(0, Math.min(r, w / 2, h / 2));
  ctx.moveTo(x + rr, y);
  ctx.arcTo(x + w, y, x + w, y + h, rr);
  ctx.arcTo(x + w, y + h, x, y + h, rr);
  ctx.arcTo(x, y + h, x, y, rr);
  ctx.arcTo(x, y, x + w, y, rr);
  ctx.closePath();
}

function fillRoundRect(ctx, x, y, w, h, r, style) {
  ctx.fillStyle = style;
  ctx.beginPath();
  roundRect(ctx, x, y, w, h, r);
  ctx.fill();
}

function fillEllipse(ctx, x, y, rx, ry, style) {
  ctx.fillStyle = style;
  ctx.beginPath();
  ctx.ellipse(x, y, rx, ry, 0, 0, TAU);
  ctx.fill();
}

function fillCircle(ctx, x, y, r, style) {
  ctx.fillStyle = style;
  ctx.beginPath();
  ctx.arc(x, y, r, 0, TAU);
  ctx.fill();
}

function shadow(ctx, x, y, rx, ry) {
  fillEllipse(ctx, x, y, rx, ry, "rgba(40, 28, 60, 0.18)");
}

/** A raised box: the footprint's top face lifted by `height`, and a front face down to the ground. */
function box(ctx, x0, y0, w, h, height, top, front) {
  ctx.fillStyle = top;
  ctx.fillRect(x0, y0 - height, w, h);
  ctx.fillStyle = front;
  ctx.fillRect(x0, y0 + h - height, w, height);
}

/** Left (or top) edge of the view along one axis: centred on `centre`, kept inside the map, or the map centred. */
function cameraAxis(centre, view, size) {
  return size <= view ? (size - view) / 2 : Math.min(Math.max(centre - view / 2, 0), size - view);
}

function compareDrawables(a, b) {
  return a.y - b.y || a.x - b.x || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

// ---- the renderer -------------------------------------------------------------------------------------------

export class Renderer {
  /** Last frame's camera: top-left corner in map units, zoom (CSS px per map unit), view size in map units. */
  camera = { x: 0, y: 0, zoom: 1, width: 0, height: 0 };
  /** CSS size of the canvas and the device pixel ratio, as of the last {@link Renderer#resize}. */
  cssWidth = 0;
  cssHeight = 0;
  dpr = 1;

  #ctx;
  #colorCache = new Map();
  #statics = []; // walls and standing objects, sorted back to front
  #water = []; // centres of water tiles, for glints
  #floor = null;
  #floorScale = 0;
  #order = [];
  #probeOrder = [];
  #probeCamera = { x: 0, y: 0, zoom: 1, width: 0, height: 0 };
  #avatarPool = [];
  #avatarStyles = new Map();
  #labels = new Map();
  #motion = new Map();
  #frame = 0;
  #glow = null;

  /**
   * @param {HTMLCanvasElement} canvas sized by CSS; the backing store follows it (see resize)
   * @param {import("./map.js").SpaceMap} map
   */
  constructor(canvas, map) {
    this.canvas = canvas;
    this.map = map;
    this.#ctx = canvas.getContext("2d");
    this.#buildStatics();
    this.resize();
  }

  /**
   * Matches the backing store to the canvas's CSS size and the device pixel ratio, so drawing is crisp on
   * HiDPI screens. Call it when the window or the canvas's layout changes.
   */
  resize() {
    const dpr = Math.max(0.5, Math.min(4, globalThis.devicePixelRatio || 1));
    const width = this.canvas.clientWidth;
    const height = this.canvas.clientHeight;
    const backingWidth = Math.max(1, Math.round(width * dpr));
    const backingHeight = Math.max(1, Math.round(height * dpr));
    if (this.canvas.width !== backingWidth) this.canvas.width = backingWidth;
    if (this.canvas.height !== backingHeight) this.canvas.height = backingHeight;
    this.cssWidth = width;
    this.cssHeight = height;
    this.dpr = dpr;
    const scale = this.#wantedFloorScale();
    if (scale !== this.#floorScale) this.#renderFloor(scale);
  }

  /**
   * Draws one frame.
   * @param {{now: number, self?: object|null, avatars?: Iterable<object>, path?: {x: number, y: number}[]|null,
   *   proximityRadius?: number}} view avatars are `{id, name, x, y, dir, audio, video, emote}` at their feet
   */
  draw(view) {
    const ctx = this.#ctx;
    const now = view.now ?? performance.now();
    const cam = this.#computeCamera(view, this.camera);
    this.#frame++;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.globalAlpha = 1;
    ctx.fillStyle = BACKGROUND;
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (this.cssWidth <= 0 || this.cssHeight <= 0) return;

    const scale = cam.zoom * this.dpr;
    ctx.setTransform(scale, 0, 0, scale, -cam.x * scale, -cam.y * scale);
    this.#drawFloor(cam);
    this.#drawWaterGlints(cam, now);
    const self = view.self;
    if (self) {
      if (view.proximityRadius > 0) this.#drawRange(self, view.proximityRadius);
      if (view.path && view.path.length > 0) this.#drawPath(self, view.path, now);
    }

    const order = this.#collect(view, cam, this.#order);
    for (let i = 0; i < order.length; i++) {
      const d = order[i];
      if (d.kind === "wall") this.#drawWall(d);
      else if (d.kind === "object") this.#drawObject(ctx, d, now);
      else this.#drawAvatar(d, now);
    }

    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.font = LABEL_FONT;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    for (let i = 0; i < order.length; i++) {
      const d = order[i];
      if (d.kind === "avatar") this.#drawLabel(d.ref, cam, now);
    }
    ctx.globalAlpha = 1;
    if ((this.#frame & 255) === 0) this.#pruneMotion();
  }

  /**
   * The depth-sorted drawables `draw(view)` would draw, back to front: `{kind: "avatar"|"object"|"wall", id, y}`
   * with ids like "ann", "tree#3" (kind # index in map.objects) or "wall@12,7" (column, row).
   */
  drawOrder(view) {
    const cam = this.#computeCamera(view, this.#probeCamera);
    return this.#collect(view, cam, this.#probeOrder).map((d) => ({ kind: d.kind, id: d.id, y: d.y }));
  }

  /** The map point under a pointer position (`event.clientX`, `event.clientY`), with the last frame's camera. */
  screenToMap(clientX, clientY) {
    const rect = this.canvas.getBoundingClientRect();
    const sx = rect.width > 0 ? ((clientX - rect.left) * this.cssWidth) / rect.width : 0;
    const sy = rect.height > 0 ? ((clientY - rect.top) * this.cssHeight) / rect.height : 0;
    return { x: this.camera.x + sx / this.camera.zoom, y: this.camera.y + sy / this.camera.zoom };
  }

  /** Where a map point appears as a pointer position (client coordinates), with the last frame's camera. */
  mapToScreen(x, y) {
    const rect = this.canvas.getBoundingClientRect();
    const kx = this.cssWidth > 0 ? rect.width / this.cssWidth : 1;
    const ky = this.cssHeight > 0 ? rect.height / this.cssHeight : 1;
    return {
      x: rect.left + (x - this.camera.x) * this.camera.zoom * kx,
      y: rect.top + (y - this.camera.y) * this.camera.zoom * ky,
    };
  }

  // ---- camera and ordering ------------------------------------------------------------------------------------

  #computeCamera(view, out) {
    const map = this.map;
    const zoom = this.cssWidth < PHONE_WIDTH ? PHONE_ZOOM : 1;
    const width = this.cssWidth / zoom;
    const height = this.cssHeight / zoom;
    const focus = view?.self ?? map.spawn;
    // Whole device pixels, so tile edges do not shimmer while the camera glides.
    const px = zoom * this.dpr;
    out.x = Math.round(cameraAxis(focus.x, width, map.width) * px) / px;
    out.y = Math.round(cameraAxis(focus.y, height, map.height) * px) / px;
    out.zoom = zoom;
    out.width = width;
    out.height = height;
    return out;
  }

  /** Fills `order` with what stands in the camera's view, back to front. */
  #collect(view, cam, order) {
    const x0 = cam.x;
    const y0 = cam.y;
    const x1 = cam.x + cam.width;
    const y1 = cam.y + cam.height;
    order.length = 0;
    const statics = this.#statics;
    for (let i = 0; i < statics.length; i++) {
      const s = statics[i];
      if (s.right >= x0 && s.left <= x1 && s.bottom >= y0 && s.top <= y1) order.push(s);
    }
    let pooled = 0;
    const self = view?.self ?? null;
    if (self) pooled = this.#pushAvatar(order, self, true, pooled, x0, y0, x1, y1);
    if (view?.avatars) {
      for (const a of view.avatars) {
        if (a === self || (self && a.id === self.id)) continue;
        pooled = this.#pushAvatar(order, a, false, pooled, x0, y0, x1, y1);
      }
    }
    order.sort(compareDrawables);
    return order;
  }

  #pushAvatar(order, a, isSelf, pooled, x0, y0, x1, y1) {
    if (!(Number.isFinite(a.x) && Number.isFinite(a.y))) return pooled;
    if (a.x + AVATAR_REACH.side < x0 || a.x - AVATAR_REACH.side > x1) return pooled;
    if (a.y + AVATAR_REACH.down < y0 || a.y - AVATAR_REACH.up > y1) return pooled;
    let d = this.#avatarPool[pooled];
    if (d === undefined) {
      d = { kind: "avatar", id: "", x: 0, y: 0, ref: null, self: false };
      this.#avatarPool[pooled] = d;
    }
    d.id = String(a.id);
    d.x = a.x;
    d.y = a.y;
    d.ref = a;
    d.self = isSelf;
    order.push(d);
    return pooled + 1;
  }

  // ---- colours ------------------------------------------------------------------------------------------------

  /** [r, g, b] of any CSS colour, read back through the canvas so names and rgb() work too. */
  #rgb(color) {
    let rgb = this.#colorCache.get(color);
    if (rgb !== undefined) return rgb;
    const ctx = this.#ctx;
    ctx.fillStyle = "#000000";
    ctx.fillStyle = color;
    const value = String(ctx.fillStyle);
    if (value.startsWith("#") && value.length === 7) {
      rgb = [1, 3, 5].map((i) => parseInt(value.slice(i, i + 2), 16));
    } else {
      const m = value.match(/rgba?\(([^)]+)\)/);
      rgb = m ? m[1].split(",").slice(0, 3).map((v) => Math.round(parseFloat(v)) || 0) : [128, 128, 128];
    }
    this.#colorCache.set(color, rgb);
    return rgb;
  }

  /** `color` lightened towards white (t > 0) or darkened towards black (t < 0). */
  #tone(color, t) {
    const [r, g, b] = this.#rgb(color);
    const target = t > 0 ? 255 : 0;
    const k = Math.abs(t);
    const mix = (v) => Math.round(v + (target - v) * k);
    return `rgb(${mix(r)}, ${mix(g)}, ${mix(b)})`;
  }

  // ---- static scene -------------------------------------------------------------------------------------------

  #buildStatics() {
    const map = this.map;
    const ts = map.tileSize;
    const raised = (c, r) => {
      const t = map.tileAt(c, r);
      return t !== null && t.solid && t.height > 0 ? t.height : 0;
    };
    const wallStyles = new Map();
    for (let r = 0; r < map.rows; r++) {
      for (let c = 0; c < map.cols; c++) {
        const tile = map.tileAt(c, r);
        if (tile.kind === "water") this.#water.push(c, r);
        const height = raised(c, r);
        if (height === 0) continue;
        let style = wallStyles.get(tile);
        if (style === undefined) {
          style = this.#wallStyle(tile);
          wallStyles.set(tile, style);
        }
        this.#statics.push({
          kind: "wall",
          id: `wall@${c},${r}`,
          x: (c + 0.5) * ts,
          y: (r + 1) * ts,
          left: c * ts,
          right: (c + 1) * ts,
          top: r * ts - height,
          bottom: (r + 1) * ts,
          c,
          r,
          height,
          style,
          // The front face shows only where nothing as tall stands in front of it; outlines mark open sides.
          front: raised(c, r + 1) < height,
          openN: raised(c, r - 1) < height,
          openW: raised(c - 1, r) < height,
          openE: raised(c + 1, r) < height,
        });
      }
    }
    map.objects.forEach((o, index) => {
      if (o.flat) return;
      const [up, side] = OBJECT_REACH[o.kind] ?? GENERIC_REACH;
      const half = o.w / 2 + side;
      this.#statics.push({
        kind: "object",
        id: `${o.kind}#${index}`,
        x: o.x,
        y: o.y,
        left: o.x - half,
        right: o.x + half,
        top: o.y - o.h - up,
        bottom: o.y + 12,
        ref: o,
        seed: hash(`${o.kind}#${index}`),
        style: this.#objectStyle(o, index),
      });
    });
    this.#statics.sort(compareDrawables);
  }

  #wallStyle(tile) {
    const color = tile.color;
    if (tile.kind === "hedge") {
      return {
        hedge: true,
        top: this.#tone(color, 0.12),
        bump: this.#tone(color, 0.3),
        front: this.#tone(color, -0.12),
        dots: this.#tone(color, -0.3),
        outline: this.#tone(color, -0.38),
      };
    }
    return {
      hedge: false,
      top: this.#tone(color, 0.3),
      front: color,
      band: this.#tone(color, 0.14),
      base: this.#tone(color, -0.28),
      outline: this.#tone(color, -0.4),
    };
  }

  /** Colours (and, for bookshelves, the books) of one object, worked out once. */
  #objectStyle(o, index) {
    const known = Object.hasOwn(OBJECT_COLORS, o.kind);
    const main = o.color ?? (known ? OBJECT_COLORS[o.kind] : GENERIC_COLOR) ?? GENERIC_COLOR;
    const s = { main, light: this.#tone(main, 0.25), dark: this.#tone(main, -0.22), darker: this.#tone(main, -0.4) };
    const rand = random(hash(`${o.kind}#${index}`));
    switch (o.kind) {
      case "tree":
        s.trunk = "#9a6a46";
        s.trunkDark = "#7b5236";
        s.mid = main;
        s.highlight = this.#tone(main, 0.32);
        s.scale = 0.9 + rand() * 0.22;
        break;
      case "bush":
        s.berry = FLOWER_COLORS[Math.floor(rand() * FLOWER_COLORS.length)];
        break;
      case "plant":
        s.leaf = "#5fa55a";
        s.leafLight = "#82c274";
        break;
      case "lamp":
        s.pole = "#4a4458";
        break;
      case "fountain":
        s.water = "#6cb8ee";
        s.waterLight = "#a7d8f7";
        break;
      case "bench":
        s.metal = "#4a4458";
        break;
      case "counter":
        s.top = "#f2ece4";
        s.topEdge = "#ddd3c5";
        break;
      case "bookshelf": {
        // Books: x offset, width, height and colour on each of three shelves, fixed per shelf.
        const books = [];
        for (let shelf = 0; shelf < 3; shelf++) {
          let x = 5;
          while (x < o.w - 8) {
            const w = 4 + Math.floor(rand() * 4);
            if (x + w > o.w - 5) break;
            if (rand() < 0.12) {
              x += w + 2; // a gap
              continue;
            }
            books.push(shelf, x, w, 0.7 + rand() * 0.3, BOOK_COLORS[Math.floor(rand() * BOOK_COLORS.length)]);
            x += w + 1;
          }
        }
        s.books = books;
        break;
      }
    }
    return s;
  }

  // ---- floor --------------------------------------------------------------------------------------------------

  #wantedFloorScale() {
    const map = this.map;
    const zoom = this.cssWidth < PHONE_WIDTH ? PHONE_ZOOM : 1;
    const wanted = Math.max(1, this.dpr * zoom);
    const limit = Math.min(
      FLOOR_MAX_SIDE / Math.max(map.width, map.height),
      Math.sqrt(FLOOR_MAX_PIXELS / (map.width * map.height)),
    );
    return Math.max(0.25, Math.min(wanted, limit));
  }

  #renderFloor(scale) {
    const map = this.map;
    const canvas = this.canvas.ownerDocument.createElement("canvas");
    canvas.width = Math.max(1, Math.ceil(map.width * scale));
    canvas.height = Math.max(1, Math.ceil(map.height * scale));
    const ctx = canvas.getContext("2d");
    ctx.setTransform(scale, 0, 0, scale, 0, 0);
    const ts = map.tileSize;
    for (let r = 0; r < map.rows; r++) {
      for (let c = 0; c < map.cols; c++) this.#paintTile(ctx, c, r, ts);
    }
    for (let r = 0; r < map.rows; r++) {
      for (let c = 0; c < map.cols; c++) this.#paintWallShadow(ctx, c, r, ts);
    }
    map.objects.forEach((o, index) => {
      if (!o.flat) return;
      if (o.kind === "rug") this.#paintRug(ctx, o);
      else if (o.kind === "flowers") this.#paintFlowers(ctx, o, index);
      else this.#paintFlatGeneric(ctx, o);
    });
    this.#floor = canvas;
    this.#floorScale = scale;
  }

  #paintTile(ctx, c, r, ts) {
    const tile = this.map.tileAt(c, r);
    const x = c * ts;
    const y = r * ts;
    const color = tile.color;
    const rand = random(hash(`${c},${r}`));
    ctx.fillStyle = tile.solid && tile.height > 0 ? this.#tone(color, -0.3) : color;
    ctx.fillRect(x, y, ts, ts);
    const u = ts / 32; // textures are designed for 32-unit tiles
    switch (tile.kind) {
      case "grass": {
        ctx.strokeStyle = this.#tone(color, -0.12);
        ctx.lineWidth = 1.2 * u;
        ctx.beginPath();
        for (let i = 0; i < 6; i++) {
          const bx = x + rand() * ts;
          const by = y + 4 * u + rand() * (ts - 4 * u);
          ctx.moveTo(bx, by);
          ctx.lineTo(bx + (rand() - 0.5) * 3 * u, by - 4 * u);
        }
        ctx.stroke();
        ctx.fillStyle = this.#tone(color, 0.1);
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
          fillEllipse(ctx, px, py, size * 1.3, size, this.#tone(color, rand() < 0.5 ? -0.12 : 0.14));
        }
        break;
      }
      case "stone": {
        ctx.fillStyle = this.#tone(color, -0.09);
        const half = ts / 2;
        ctx.fillRect(x, y, ts, u);
        ctx.fillRect(x, y + half, ts, u);
        const shift = r % 2 === 0 ? 0 : half / 2;
        ctx.fillRect(x + shift + half / 2, y, u, half);
        ctx.fillRect(x + ((shift + half) % ts) + half / 2, y + half, u, half);
        ctx.fillStyle = this.#tone(color, 0.1);
        ctx.fillRect(x + 2 * u + rand() * 20 * u, y + 3 * u + rand() * 20 * u, 3 * u, 2 * u);
        break;
      }
      case "wood": {
        const plank = ts / 4;
        ctx.fillStyle = this.#tone(color, -0.13);
        for (let i = 0; i < 4; i++) {
          const py = y + i * plank;
          ctx.fillRect(x, py + plank - u, ts, u);
          // Long planks: a joint in only some rows of each tile, staggered.
          if ((c * 7 + r * 13 + i * 5) % 3 === 0) ctx.fillRect(x + ((c + i * 3) % 4) * plank, py, u, plank);
        }
        ctx.fillStyle = this.#tone(color, 0.08);
        ctx.fillRect(x + rand() * 20 * u, y + Math.floor(rand() * 4) * plank + 2 * u, 8 * u, u);
        break;
      }
      case "tile": {
        const half = ts / 2;
        ctx.fillStyle = this.#tone(color, -0.07);
        ctx.fillRect(x, y, half, half);
        ctx.fillRect(x + half, y + half, half, half);
        ctx.fillStyle = this.#tone(color, -0.15);
        ctx.fillRect(x, y, ts, 0.6 * u);
        ctx.fillRect(x, y, 0.6 * u, ts);
        break;
      }
      case "carpet": {
        ctx.fillStyle = this.#tone(color, -0.07);
        for (let i = 0; i < 4; i++) {
          for (let j = 0; j < 4; j++) ctx.fillRect(x + (i * 8 + (j % 2) * 4 + 2) * u, y + (j * 8 + 3) * u, 1.5 * u, 1.5 * u);
        }
        break;
      }
      case "water":
        this.#paintWater(ctx, c, r, ts, color, rand);
        break;
      case "floor": {
        ctx.fillStyle = this.#tone(color, -0.06);
        ctx.fillRect(x, y + ts - u, ts, u);
        ctx.fillRect(x + ((r % 2) * ts) / 2, y, u, ts);
        break;
      }
      default:
        break;
    }
  }

  /** Water with rounded outer corners, a lighter rim along the shore and a few ripples. */
  #paintWater(ctx, c, r, ts, color, rand) {
    const map = this.map;
    const isWater = (cc, rr) => {
      const t = map.tileAt(cc, rr);
      return t === null || t.kind === "water";
    };
    const x = c * ts;
    const y = r * ts;
    const rim = this.#tone(color, 0.22);
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
    ctx.strokeStyle = this.#tone(color, 0.35);
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

  /** A soft shadow on the floor just south of a raised tile, so walls sit on the ground. */
  #paintWallShadow(ctx, c, r, ts) {
    const map = this.map;
    const tile = map.tileAt(c, r);
    if (tile.solid && tile.height > 0) return;
    const above = map.tileAt(c, r - 1);
    if (above === null || !above.solid || !(above.height > 0)) return;
    const depth = Math.min(ts * 0.4, above.height * 0.3);
    const gradient = ctx.createLinearGradient(0, r * ts, 0, r * ts + depth);
    gradient.addColorStop(0, "rgba(40, 28, 60, 0.22)");
    gradient.addColorStop(1, "rgba(40, 28, 60, 0)");
    ctx.fillStyle = gradient;
    ctx.fillRect(c * ts, r * ts, ts, depth);
  }

  #paintRug(ctx, o) {
    const x0 = o.x - o.w / 2;
    const y0 = o.y - o.h;
    const main = o.color ?? OBJECT_COLORS.rug;
    const inset = Math.min(8, o.w / 6, o.h / 6);
    // Fringes on the short ends.
    ctx.fillStyle = this.#tone(main, 0.45);
    for (let fy = y0 + 4; fy < o.y - 3; fy += 5) {
      ctx.fillRect(x0 - 4, fy, 5, 1.5);
      ctx.fillRect(x0 + o.w - 1, fy, 5, 1.5);
    }
    fillRoundRect(ctx, x0, y0, o.w, o.h, 6, main);
    ctx.lineWidth = 2;
    ctx.strokeStyle = this.#tone(main, 0.35);
    ctx.beginPath();
    roundRect(ctx, x0 + inset, y0 + inset, o.w - 2 * inset, o.h - 2 * inset, 4);
    ctx.stroke();
    ctx.strokeStyle = this.#tone(main, -0.18);
    ctx.beginPath();
    roundRect(ctx, x0 + 2 * inset, y0 + 2 * inset, o.w - 4 * inset, o.h - 4 * inset, 3);
    ctx.stroke();
    // A diamond in the middle.
    const cx = o.x;
    const cy = o.y - o.h / 2;
    const dx = Math.min(o.w / 5, 28);
    const dy = Math.min(o.h / 5, 16);
    ctx.fillStyle = this.#tone(main, 0.25);
    ctx.beginPath();
    ctx.moveTo(cx, cy - dy);
    ctx.lineTo(cx + dx, cy);
    ctx.lineTo(cx, cy + dy);
    ctx.lineTo(cx - dx, cy);
    ctx.closePath();
    ctx.fill();
  }

  #paintFlowers(ctx, o, index) {
    const rand = random(hash(`flowers#${index}`));
    const cx = o.x;
    const cy = o.y - o.h / 2;
    fillEllipse(ctx, cx, cy, o.w / 2, o.h / 2, "rgba(74, 130, 70, 0.35)");
    const count = Math.max(3, Math.round((o.w * o.h) / 70));
    for (let i = 0; i < count; i++) {
      // Uniform over the ellipse.
      const a = rand() * TAU;
      const d = Math.sqrt(rand()) * 0.9;
      const fx = cx + Math.cos(a) * d * (o.w / 2);
      const fy = cy + Math.sin(a) * d * (o.h / 2);
      const petal = o.color ?? FLOWER_COLORS[Math.floor(rand() * FLOWER_COLORS.length)];
      fillEllipse(ctx, fx + 1.5, fy + 2.5, 3, 1.6, "#4f8f4b");
      ctx.fillStyle = petal;
      ctx.beginPath();
      for (let k = 0; k < 5; k++) {
        const pa = (k / 5) * TAU + a;
        ctx.moveTo(fx + Math.cos(pa) * 2.2 + 1.7, fy + Math.sin(pa) * 2.2);
        ctx.arc(fx + Math.cos(pa) * 2.2, fy + Math.sin(pa) * 2.2, 1.7, 0, TAU);
      }
      ctx.fill();
      fillCircle(ctx, fx, fy, 1.2, "#f6c445");
    }
  }

  #paintFlatGeneric(ctx, o) {
    fillRoundRect(ctx, o.x - o.w / 2, o.y - o.h, o.w, o.h, 4, o.color ?? GENERIC_COLOR);
  }

  #drawFloor(cam) {
    const map = this.map;
    const x0 = Math.max(0, cam.x);
    const y0 = Math.max(0, cam.y);
    const x1 = Math.min(map.width, cam.x + cam.width);
    const y1 = Math.min(map.height, cam.y + cam.height);
    if (x1 <= x0 || y1 <= y0 || this.#floor === null) return;
    const s = this.#floorScale;
    this.#ctx.drawImage(this.#floor, x0 * s, y0 * s, (x1 - x0) * s, (y1 - y0) * s, x0, y0, x1 - x0, y1 - y0);
  }

  #drawWaterGlints(cam, now) {
    const water = this.#water;
    if (water.length === 0) return;
    const ctx = this.#ctx;
    const ts = this.map.tileSize;
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

  #drawRange(self, radius) {
    const ctx = this.#ctx;
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

  #drawPath(self, path, now) {
    const ctx = this.#ctx;
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

  // ---- walls --------------------------------------------------------------------------------------------------

  #drawWall(d) {
    const ctx = this.#ctx;
    const ts = this.map.tileSize;
    const st = d.style;
    const x = d.c * ts;
    const y = d.r * ts;
    const h = d.height;
    const topY = y - h;
    ctx.fillStyle = st.top;
    ctx.fillRect(x, topY, ts, ts);
    if (st.hedge) {
      const odd = (d.c + d.r) % 2 === 1;
      fillCircle(ctx, x + ts * (odd ? 0.3 : 0.7), topY + ts * 0.35, ts * 0.2, st.bump);
      fillCircle(ctx, x + ts * (odd ? 0.72 : 0.28), topY + ts * 0.7, ts * 0.16, st.bump);
    }
    if (d.front) {
      const fy = y + ts - h;
      ctx.fillStyle = st.front;
      ctx.fillRect(x, fy, ts, h);
      if (st.hedge) {
        ctx.fillStyle = st.dots;
        const shift = d.c % 2 === 0 ? 0 : ts * 0.25;
        for (let i = 0; i < 3; i++) ctx.fillRect(x + ((shift + i * ts * 0.37) % ts), fy + h * (0.3 + (i % 2) * 0.35), 3, 3);
      } else {
        ctx.fillStyle = st.band;
        ctx.fillRect(x, fy, ts, 3);
        ctx.fillStyle = st.base;
        ctx.fillRect(x, y + ts - 4, ts, 4);
      }
    }
    ctx.fillStyle = st.outline;
    if (d.openN) ctx.fillRect(x, topY, ts, 1.5);
    if (d.openW) ctx.fillRect(x, topY, 1.5, d.front ? ts + h : ts);
    if (d.openE) ctx.fillRect(x + ts - 1.5, topY, 1.5, d.front ? ts + h : ts);
  }

  // ---- objects ------------------------------------------------------------------------------------------------

  #drawObject(ctx, d, now) {
    const o = d.ref;
    const s = d.style;
    switch (o.kind) {
      case "tree":
        return this.#drawTree(ctx, o, s, d.seed, now);
      case "bush":
        return this.#drawBush(ctx, o, s);
      case "table":
        return this.#drawTable(ctx, o, s);
      case "chair":
        return this.#drawChair(ctx, o, s);
      case "sofa":
        return this.#drawSofa(ctx, o, s);
      case "plant":
        return this.#drawPlant(ctx, o, s);
      case "lamp":
        return this.#drawLamp(ctx, o, s);
      case "fountain":
        return this.#drawFountain(ctx, o, s, now);
      case "bench":
        return this.#drawBench(ctx, o, s);
      case "bookshelf":
        return this.#drawBookshelf(ctx, o, s);
      case "counter":
        return this.#drawCounter(ctx, o, s);
      case "whiteboard":
        return this.#drawWhiteboard(ctx, o, s);
      case "rock":
        return this.#drawRock(ctx, o, s);
      default:
        return this.#drawBox(ctx, o, s);
    }
  }

  #drawTree(ctx, o, s, seed, now) {
    const k = s.scale * Math.max(0.7, Math.min(2, o.w / 24));
    const x = o.x;
    const y = o.y;
    shadow(ctx, x, y - 2, 30 * k, 10 * k);
    fillRoundRect(ctx, x - 6 * k, y - 32 * k, 12 * k, 32 * k, 3 * k, s.trunk);
    ctx.fillStyle = s.trunkDark;
    ctx.fillRect(x + 1 * k, y - 30 * k, 3 * k, 28 * k);
    // The canopy sways a little in the wind.
    const sway = Math.sin(now / 1700 + (seed % 97)) * 1.2;
    const cx = x + sway;
    const cy = y - 64 * k;
    // Layered canopy: a dark silhouette, lighter clumps lit from the upper left, then highlights.
    ctx.fillStyle = s.dark;
    ctx.beginPath();
    ctx.arc(cx, cy - 4 * k, 29 * k, 0, TAU);
    ctx.moveTo(cx + 2 * k, cy + 10 * k);
    ctx.arc(cx - 18 * k, cy + 10 * k, 20 * k, 0, TAU);
    ctx.moveTo(cx + 38 * k, cy + 10 * k);
    ctx.arc(cx + 18 * k, cy + 10 * k, 20 * k, 0, TAU);
    ctx.fill();
    ctx.fillStyle = s.mid;
    ctx.beginPath();
    ctx.arc(cx - 4 * k, cy - 9 * k, 23 * k, 0, TAU);
    ctx.moveTo(cx - 1 * k, cy + 6 * k);
    ctx.arc(cx - 16 * k, cy + 6 * k, 15 * k, 0, TAU);
    ctx.fill();
    ctx.fillStyle = s.highlight;
    ctx.beginPath();
    ctx.arc(cx - 10 * k, cy - 18 * k, 9 * k, 0, TAU);
    ctx.moveTo(cx + 11 * k, cy - 8 * k);
    ctx.arc(cx + 6 * k, cy - 8 * k, 5 * k, 0, TAU);
    ctx.fill();
  }

  #drawBush(ctx, o, s) {
    const x = o.x;
    const y = o.y;
    const w = o.w;
    const r = Math.max(8, w * 0.3);
    shadow(ctx, x, y - 2, w * 0.6, 7);
    ctx.fillStyle = s.dark;
    ctx.beginPath();
    ctx.arc(x - w * 0.24, y - r * 0.95, r, 0, TAU);
    ctx.arc(x + w * 0.24, y - r * 0.95, r, 0, TAU);
    ctx.arc(x, y - r * 1.45, r * 1.1, 0, TAU);
    ctx.fill();
    ctx.fillStyle = s.main;
    ctx.beginPath();
    ctx.arc(x - w * 0.2, y - r * 1.15, r * 0.72, 0, TAU);
    ctx.arc(x + w * 0.06, y - r * 1.6, r * 0.75, 0, TAU);
    ctx.fill();
    fillCircle(ctx, x - w * 0.08, y - r * 1.95, r * 0.32, s.light);
    ctx.fillStyle = s.berry;
    ctx.beginPath();
    ctx.arc(x + w * 0.22, y - r * 1.1, 2, 0, TAU);
    ctx.moveTo(x - w * 0.1 + 2, y - r * 0.7);
    ctx.arc(x - w * 0.1, y - r * 0.7, 2, 0, TAU);
    ctx.moveTo(x + w * 0.02 + 2, y - r * 1.35);
    ctx.arc(x + w * 0.02, y - r * 1.35, 2, 0, TAU);
    ctx.fill();
  }

  #drawTable(ctx, o, s) {
    const legs = 18;
    const x0 = o.x - o.w / 2;
    const y0 = o.y - o.h;
    ctx.fillStyle = "rgba(40, 28, 60, 0.14)";
    ctx.fillRect(x0 + 3, y0 + 4, o.w - 6, o.h - 4);
    ctx.fillStyle = s.darker;
    ctx.fillRect(x0 + 3, o.y - legs, 4, legs);
    ctx.fillRect(x0 + o.w - 7, o.y - legs, 4, legs);
    fillRoundRect(ctx, x0, y0 - legs, o.w, o.h, 4, s.main);
    ctx.fillStyle = s.dark;
    ctx.fillRect(x0 + 1, o.y - legs - 1, o.w - 2, 5);
    ctx.fillStyle = s.light;
    ctx.fillRect(x0 + 4, y0 - legs + 3, o.w - 8, 2);
  }

  #drawChair(ctx, o, s) {
    const seat = 12;
    const x0 = o.x - o.w / 2;
    const y0 = o.y - o.h;
    shadow(ctx, o.x, o.y - 2, o.w * 0.5, 5);
    fillRoundRect(ctx, x0 + 1, y0 - seat - 18, o.w - 2, 20, 5, s.dark);
    ctx.fillStyle = s.darker;
    ctx.fillRect(x0 + 2, o.y - seat, 3, seat);
    ctx.fillRect(x0 + o.w - 5, o.y - seat, 3, seat);
    fillRoundRect(ctx, x0, y0 - seat, o.w, o.h, 4, s.main);
    ctx.fillStyle = s.dark;
    ctx.fillRect(x0 + 1, o.y - seat - 2, o.w - 2, 4);
  }

  #drawSofa(ctx, o, s) {
    const base = 14;
    const x0 = o.x - o.w / 2;
    const y0 = o.y - o.h;
    shadow(ctx, o.x, o.y - 2, o.w * 0.55, 6);
    fillRoundRect(ctx, x0, y0 - base - 14, o.w, 22, 7, s.dark); // back
    fillRoundRect(ctx, x0 + 3, y0 - base + 4, o.w - 6, o.h - 4, 5, s.main); // seat
    if (o.w > 60) {
      ctx.fillStyle = s.dark;
      const cushions = o.w > 110 ? 3 : 2;
      for (let i = 1; i < cushions; i++) ctx.fillRect(x0 + (o.w * i) / cushions - 0.75, y0 - base + 6, 1.5, o.h - 10);
    }
    fillRoundRect(ctx, x0 + 2, o.y - base, o.w - 4, base, 4, s.dark); // front
    fillRoundRect(ctx, x0, y0 - base - 4, 10, o.h + base + 2, 5, s.darker); // arms
    fillRoundRect(ctx, x0 + o.w - 10, y0 - base - 4, 10, o.h + base + 2, 5, s.darker);
    ctx.fillStyle = s.light;
    ctx.fillRect(x0 + 10, y0 - base - 11, o.w - 20, 2);
  }

  #drawPlant(ctx, o, s) {
    const k = Math.max(0.6, Math.min(2.5, o.w / 24));
    const x = o.x;
    const y = o.y;
    shadow(ctx, x, y - 1, 12 * k, 4 * k);
    const top = y - 17 * k;
    for (let i = 0; i < 7; i++) {
      const a = -1.25 + (i / 6) * 2.5;
      ctx.fillStyle = i % 2 === 0 ? s.leaf : s.leafLight;
      ctx.beginPath();
      ctx.ellipse(x + Math.sin(a) * 11 * k, top - Math.cos(a) * 12 * k, 4.5 * k, 11 * k, a, 0, TAU);
      ctx.fill();
    }
    ctx.fillStyle = s.main;
    ctx.beginPath();
    ctx.moveTo(x - 10 * k, top);
    ctx.lineTo(x + 10 * k, top);
    ctx.lineTo(x + 7 * k, y);
    ctx.lineTo(x - 7 * k, y);
    ctx.closePath();
    ctx.fill();
    ctx.fillStyle = s.light;
    ctx.fillRect(x - 11 * k, top - 1, 22 * k, 4 * k);
  }

  #drawLamp(ctx, o, s) {
    const x = o.x;
    const y = o.y;
    if (this.#glow === null) {
      const glow = ctx.createRadialGradient(0, 0, 0, 0, 0, 44);
      glow.addColorStop(0, "rgba(255, 224, 150, 0.38)");
      glow.addColorStop(1, "rgba(255, 224, 150, 0)");
      this.#glow = glow;
    }
    ctx.save();
    ctx.translate(x, y - 54);
    ctx.fillStyle = this.#glow;
    ctx.fillRect(-44, -44, 88, 88);
    ctx.restore();
    shadow(ctx, x, y - 1, 9, 3.5);
    fillEllipse(ctx, x, y - 2, 7, 3, s.pole);
    ctx.fillStyle = s.pole;
    ctx.fillRect(x - 1.5, y - 52, 3, 50);
    ctx.fillStyle = s.main;
    ctx.beginPath();
    ctx.moveTo(x - 7, y - 66);
    ctx.lineTo(x + 7, y - 66);
    ctx.lineTo(x + 12, y - 50);
    ctx.lineTo(x - 12, y - 50);
    ctx.closePath();
    ctx.fill();
    ctx.fillStyle = s.dark;
    ctx.fillRect(x - 12, y - 51, 24, 2);
  }

  #drawFountain(ctx, o, s, now) {
    const x = o.x;
    const rx = o.w / 2;
    const ry = o.h / 2;
    const cy = o.y - ry;
    const wall = 14;
    shadow(ctx, x, cy + 4, rx + 6, ry + 5);
    // The basin is a short cylinder: bottom ellipse, side, then the rim on top.
    fillEllipse(ctx, x, cy, rx, ry, s.dark);
    ctx.fillRect(x - rx, cy - wall, 2 * rx, wall);
    fillEllipse(ctx, x, cy - wall, rx, ry, s.light);
    fillEllipse(ctx, x, cy - wall, rx - 7, ry - 6, s.water);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#ffffff";
    for (let i = 0; i < 2; i++) {
      const t = (now / 2200 + i / 2) % 1;
      ctx.globalAlpha = 0.45 * (1 - t);
      ctx.beginPath();
      ctx.ellipse(x, cy - wall, 14 + (rx - 26) * t, 6 + (ry - 16) * t, 0, 0, TAU);
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    // Pillar with a small bowl and a jet falling back into the basin.
    ctx.fillStyle = s.main;
    ctx.fillRect(x - 6, cy - wall - 30, 12, 30);
    ctx.fillStyle = s.dark;
    ctx.fillRect(x + 2, cy - wall - 30, 4, 30);
    fillEllipse(ctx, x, cy - wall - 30, 17, 6, s.light);
    fillEllipse(ctx, x, cy - wall - 31, 12, 3.6, s.water);
    const jetTop = cy - wall - 52;
    fillEllipse(ctx, x, jetTop + 8, 3, 10, s.waterLight);
    ctx.fillStyle = s.waterLight;
    for (let i = 0; i < 8; i++) {
      const t = (now / 1100 + i / 8) % 1;
      const side = i % 2 === 0 ? 1 : -1;
      const spread = (i % 4 < 2 ? 0.32 : 0.5) * rx;
      const px = x + side * spread * t;
      const py = jetTop + 4 - Math.sin(t * Math.PI) * 8 + t * t * 34;
      ctx.beginPath();
      ctx.arc(px, py, 2 - t, 0, TAU);
      ctx.fill();
    }
  }

  #drawBench(ctx, o, s) {
    const seat = 10;
    const x0 = o.x - o.w / 2;
    const y0 = o.y - o.h;
    shadow(ctx, o.x, o.y - 2, o.w * 0.52, 5);
    ctx.fillStyle = s.metal;
    ctx.fillRect(x0 + 5, y0 - seat - 18, 3, 18);
    ctx.fillRect(x0 + o.w - 8, y0 - seat - 18, 3, 18);
    ctx.fillRect(x0 + 4, o.y - seat, 4, seat);
    ctx.fillRect(x0 + o.w - 8, o.y - seat, 4, seat);
    fillRoundRect(ctx, x0, y0 - seat - 19, o.w, 5, 2, s.main);
    fillRoundRect(ctx, x0, y0 - seat - 12, o.w, 5, 2, s.main);
    fillRoundRect(ctx, x0, y0 - seat, o.w, o.h, 2, s.main);
    ctx.fillStyle = s.dark;
    for (let i = 1; i < 3; i++) ctx.fillRect(x0 + 1, y0 - seat + (o.h * i) / 3, o.w - 2, 1);
    ctx.fillRect(x0, o.y - seat - 1, o.w, 3);
  }

  #drawBookshelf(ctx, o, s) {
    const tall = 64;
    const x0 = o.x - o.w / 2;
    const y0 = o.y - o.h;
    box(ctx, x0, y0, o.w, o.h, tall, s.light, s.main);
    const inner = tall - 8;
    ctx.fillStyle = s.darker;
    ctx.fillRect(x0 + 4, o.y - tall + 4, o.w - 8, inner);
    const shelf = inner / 3;
    const books = s.books;
    for (let i = 0; i < books.length; i += 5) {
      const floor = o.y - tall + 4 + (books[i] + 1) * shelf;
      const height = (shelf - 3) * books[i + 3];
      ctx.fillStyle = books[i + 4];
      ctx.fillRect(x0 + books[i + 1], floor - height, books[i + 2], height);
    }
    ctx.fillStyle = s.main;
    for (let k = 1; k < 3; k++) ctx.fillRect(x0 + 4, o.y - tall + 4 + k * shelf - 1, o.w - 8, 2);
    ctx.fillStyle = s.dark;
    ctx.fillRect(x0, o.y - 3, o.w, 3);
  }

  #drawCounter(ctx, o, s) {
    const tall = 34;
    const x0 = o.x - o.w / 2;
    const y0 = o.y - o.h;
    box(ctx, x0, y0, o.w, o.h, tall, s.top, s.main);
    ctx.fillStyle = s.topEdge;
    ctx.fillRect(x0, o.y - tall - 2, o.w, 3);
    ctx.fillStyle = s.dark;
    for (let px = x0 + 32; px < x0 + o.w - 8; px += 32) ctx.fillRect(px, o.y - tall + 4, 1.5, tall - 8);
    ctx.fillRect(x0, o.y - 3, o.w, 3);
    // An espresso machine and a few cups.
    const mx = x0 + 14;
    const my = y0 - tall + o.h * 0.35;
    box(ctx, mx, my, 22, 10, 18, "#6d6a78", "#4a4458");
    ctx.fillStyle = "#c9c4d4";
    ctx.fillRect(mx + 5, my - 6, 12, 2);
    for (let i = 0; i < 3; i++) {
      const cx = x0 + o.w - 22 - i * 14;
      const cy = y0 - tall + o.h * 0.55;
      fillRoundRect(ctx, cx - 3.5, cy - 6, 7, 7, 2, "#ffffff");
      fillEllipse(ctx, cx, cy - 6, 3.5, 1.2, "#8a5a3c");
    }
  }

  #drawWhiteboard(ctx, o, s) {
    const x0 = o.x - o.w / 2;
    const bottom = o.y - o.h;
    ctx.fillStyle = s.dark;
    ctx.fillRect(x0 + 8, bottom - 20, 3, 20 + o.h);
    ctx.fillRect(x0 + o.w - 11, bottom - 20, 3, 20 + o.h);
    fillRoundRect(ctx, x0, bottom - 66, o.w, 48, 3, s.main);
    ctx.fillStyle = "#fbfbfd";
    ctx.fillRect(x0 + 3, bottom - 63, o.w - 6, 42);
    ctx.lineWidth = 2;
    ctx.lineCap = "round";
    const strokes = ["#5d8fd6", "#e06c6c", "#5fae72"];
    for (let i = 0; i < 3; i++) {
      ctx.strokeStyle = strokes[i];
      ctx.beginPath();
      const ly = bottom - 54 + i * 11;
      ctx.moveTo(x0 + 10, ly);
      ctx.lineTo(x0 + 10 + (o.w - 20) * (0.8 - i * 0.2), ly);
      ctx.stroke();
    }
    ctx.fillStyle = s.darker;
    ctx.fillRect(x0 + 6, bottom - 20, o.w - 12, 3);
  }

  #drawRock(ctx, o, s) {
    const x = o.x;
    const ry = o.h / 2 + 3;
    const cy = o.y - ry + 1;
    shadow(ctx, x, o.y - 1, o.w * 0.55, 4);
    fillEllipse(ctx, x, cy, o.w / 2, ry, s.dark);
    fillEllipse(ctx, x - o.w * 0.06, cy - 2, o.w * 0.42, ry * 0.78, s.main);
    fillEllipse(ctx, x - o.w * 0.16, cy - ry * 0.35, o.w * 0.15, ry * 0.25, s.light);
  }

  #drawBox(ctx, o, s) {
    const tall = Math.max(20, Math.min(48, o.h * 1.2));
    const x0 = o.x - o.w / 2;
    const y0 = o.y - o.h;
    shadow(ctx, o.x, o.y - 1, o.w * 0.55, 5);
    box(ctx, x0, y0, o.w, o.h, tall, s.light, s.main);
    ctx.fillStyle = s.dark;
    ctx.fillRect(x0, o.y - 3, o.w, 3);
    ctx.fillRect(x0, o.y - tall, o.w, 1.5);
  }

  // ---- avatars ------------------------------------------------------------------------------------------------

  #avatarStyle(id) {
    let st = this.#avatarStyles.get(id);
    if (st === undefined) {
      const hue = avatarHue(id);
      st = {
        body: `hsl(${hue}, 62%, 70%)`,
        shade: `hsl(${hue}, 48%, 60%)`,
        outline: `hsl(${hue}, 38%, 40%)`,
        feet: `hsl(${hue}, 30%, 32%)`,
        phase: (hash(String(id)) >>> 9) % 1000,
      };
      if (this.#avatarStyles.size > 2000) this.#avatarStyles.clear();
      this.#avatarStyles.set(id, st);
    }
    return st;
  }

  /** Whether the avatar moved recently, to animate its steps (positions come in already interpolated). */
  #moving(id, x, y, now) {
    let m = this.#motion.get(id);
    if (m === undefined) {
      m = { x, y, until: 0, frame: 0 };
      this.#motion.set(id, m);
    } else if (Math.abs(x - m.x) + Math.abs(y - m.y) > 0.05) {
      m.until = now + 140;
    }
    m.x = x;
    m.y = y;
    m.frame = this.#frame;
    return now < m.until;
  }

  #pruneMotion() {
    for (const [id, m] of this.#motion) if (this.#frame - m.frame > 120) this.#motion.delete(id);
  }

  #drawAvatar(d, now) {
    const ctx = this.#ctx;
    const a = d.ref;
    const st = this.#avatarStyle(d.id);
    const x = a.x;
    const y = a.y;
    const moving = this.#moving(d.id, x, y, now);
    const step = moving ? Math.sin((now + st.phase) / 85) : 0;
    const bob = moving ? Math.abs(step) * 2.2 : Math.sin((now + st.phase * 7) / 700) * 0.5;

    shadow(ctx, x, y, 13, 5);
    if (d.self) {
      fillEllipse(ctx, x, y, 18, 7.5, "rgba(255, 255, 255, 0.18)");
      ctx.lineWidth = 2;
      ctx.strokeStyle = "rgba(255, 255, 255, 0.85)";
      ctx.beginPath();
      ctx.ellipse(x, y, 18, 7.5, 0, 0, TAU);
      ctx.stroke();
    }
    // Feet, lifting in turn while walking.
    fillEllipse(ctx, x - 5, y - 2.5 - Math.max(0, step) * 2, 4.5, 3, st.feet);
    fillEllipse(ctx, x + 5, y - 2.5 - Math.max(0, -step) * 2, 4.5, 3, st.feet);

    const top = y - AVATAR_TOP + 2 - bob;
    ctx.beginPath();
    roundRect(ctx, x - 12, top, 24, 36, 11);
    ctx.fillStyle = st.body;
    ctx.fill();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = st.outline;
    ctx.stroke();
    ctx.fillStyle = st.shade;
    ctx.fillRect(x - 10.5, top + 28, 21, 3);
    fillEllipse(ctx, x - 5.5, top + 9, 3, 5, "rgba(255, 255, 255, 0.3)");

    const dir = a.dir ?? "down";
    if (dir === "up") {
      fillEllipse(ctx, x, top + 4, 5, 2, st.shade); // a tuft on the back of the head
      return;
    }
    const eyeY = top + 14;
    let ex1 = x - 5;
    let ex2 = x + 5;
    let look = 0;
    if (dir === "left") {
      ex1 = x - 8.5;
      ex2 = x - 1.5;
      look = -1.2;
    } else if (dir === "right") {
      ex1 = x + 1.5;
      ex2 = x + 8.5;
      look = 1.2;
    }
    ctx.fillStyle = "#ffffff";
    ctx.beginPath();
    ctx.ellipse(ex1, eyeY, 3.2, 4, 0, 0, TAU);
    ctx.ellipse(ex2, eyeY, 3.2, 4, 0, 0, TAU);
    ctx.fill();
    ctx.fillStyle = "#2b2540";
    ctx.beginPath();
    ctx.arc(ex1 + look, eyeY + 0.8, 1.9, 0, TAU);
    ctx.arc(ex2 + look, eyeY + 0.8, 1.9, 0, TAU);
    ctx.fill();
    if (dir === "down") {
      ctx.fillStyle = "rgba(255, 120, 140, 0.4)";
      ctx.beginPath();
      ctx.ellipse(x - 8, eyeY + 6, 2.6, 1.6, 0, 0, TAU);
      ctx.ellipse(x + 8, eyeY + 6, 2.6, 1.6, 0, 0, TAU);
      ctx.fill();
    }
    fillEllipse(ctx, x, top - 0.5, 3, 2, st.outline);
  }

  /** The name as shown (long names shortened) and its width in the label font, measured once. */
  #label(name) {
    let label = this.#labels.get(name);
    if (label === undefined) {
      const chars = [...name];
      const text = chars.length > LABEL_MAX_CHARS ? `${chars.slice(0, LABEL_MAX_CHARS - 1).join("")}…` : name;
      const ctx = this.#ctx;
      const font = ctx.font;
      ctx.font = LABEL_FONT;
      label = { text, width: text === "" ? 0 : ctx.measureText(text).width };
      ctx.font = font;
      if (this.#labels.size > 2000) this.#labels.clear();
      this.#labels.set(name, label);
    }
    return label;
  }

  /** Name, mute/camera badges and emote above an avatar, in screen space (CSS px). */
  #drawLabel(a, cam, now) {
    const ctx = this.#ctx;
    const sx = (a.x - cam.x) * cam.zoom;
    const headTop = (a.y - cam.y - AVATAR_TOP) * cam.zoom;
    const label = this.#label(typeof a.name === "string" ? a.name : "");
    const muted = a.audio === false;
    const hidden = a.video === false;
    const badges = (muted ? 1 : 0) + (hidden ? 1 : 0);
    let bubbleBottom = headTop - 6;

    if (label.width > 0 || badges > 0) {
      const pad = 7;
      const badgeWidth = badges > 0 ? badges * BADGE + (badges - 1) * 2 + (label.width > 0 ? 4 : 0) : 0;
      const width = Math.round(label.width + badgeWidth + 2 * pad);
      const left = Math.round(sx - width / 2);
      const top = Math.round(headTop - 6 - LABEL_HEIGHT);
      ctx.globalAlpha = 1;
      fillRoundRect(ctx, left, top, width, LABEL_HEIGHT, LABEL_HEIGHT / 2, "rgba(28, 24, 42, 0.74)");
      const mid = top + LABEL_HEIGHT / 2;
      if (label.width > 0) {
        ctx.fillStyle = "#ffffff";
        ctx.fillText(label.text, left + pad + label.width / 2, mid + 0.5);
      }
      let bx = left + pad + label.width + (label.width > 0 ? 4 : 0) + BADGE / 2;
      if (muted) {
        drawMicOff(ctx, bx, mid);
        bx += BADGE + 2;
      }
      if (hidden) drawCameraOff(ctx, bx, mid);
      bubbleBottom = top - 5;
    }

    const emote = a.emote;
    if (emote && emote.emoji && now < emote.until) {
      const alpha = Math.min(1, (emote.until - now) / EMOTE_FADE_MS);
      const float = Math.sin(now / 260) * 1.5;
      const w = 34;
      const h = 30;
      const left = sx - w / 2;
      const top = bubbleBottom - 6 - h + float;
      ctx.globalAlpha = alpha;
      ctx.fillStyle = "#ffffff";
      ctx.beginPath();
      roundRect(ctx, left, top, w, h, 11);
      ctx.moveTo(sx - 5, top + h - 1);
      ctx.lineTo(sx, top + h + 6);
      ctx.lineTo(sx + 5, top + h - 1);
      ctx.closePath();
      ctx.fill();
      ctx.lineWidth = 1;
      ctx.strokeStyle = "rgba(40, 28, 60, 0.18)";
      ctx.beginPath();
      roundRect(ctx, left, top, w, h, 11);
      ctx.stroke();
      ctx.font = EMOJI_FONT;
      ctx.fillStyle = "#000000";
      ctx.fillText(emote.emoji, sx, top + h / 2 + 1);
      ctx.font = LABEL_FONT;
      ctx.globalAlpha = 1;
    }
  }
}

/** A red microphone with a slash, centred on (x, y), screen px. */
function drawMicOff(ctx, x, y) {
  const red = "#ff7a7a";
  fillRoundRect(ctx, x - 2.5, y - 6, 5, 8, 2.5, red);
  ctx.strokeStyle = red;
  ctx.lineWidth = 1.4;
  ctx.lineCap = "round";
  ctx.beginPath();
  ctx.arc(x, y - 1, 4.5, 0.15 * Math.PI, 0.85 * Math.PI);
  ctx.moveTo(x, y + 3.5);
  ctx.lineTo(x, y + 6);
  ctx.stroke();
  ctx.lineWidth = 1.8;
  ctx.strokeStyle = "rgba(28, 24, 42, 0.9)";
  ctx.beginPath();
  ctx.moveTo(x - 5.5, y - 6.5);
  ctx.lineTo(x + 5.5, y + 5.5);
  ctx.stroke();
  ctx.lineWidth = 1.4;
  ctx.strokeStyle = red;
  ctx.stroke();
}

/** A grey camera with a slash, centred on (x, y), screen px. */
function drawCameraOff(ctx, x, y) {
  const grey = "#c3c0cf";
  fillRoundRect(ctx, x - 6, y - 3.5, 8.5, 7, 1.5, grey);
  ctx.fillStyle = grey;
  ctx.beginPath();
  ctx.moveTo(x + 2.5, y - 0.5);
  ctx.lineTo(x + 6, y - 3);
  ctx.lineTo(x + 6, y + 3);
  ctx.lineTo(x + 2.5, y + 0.5);
  ctx.closePath();
  ctx.fill();
  ctx.lineCap = "round";
  ctx.lineWidth = 1.8;
  ctx.strokeStyle = "rgba(28, 24, 42, 0.9)";
  ctx.beginPath();
  ctx.moveTo(x - 6, y - 6);
  ctx.lineTo(x + 6, y + 6);
  ctx.stroke();
  ctx.lineWidth = 1.4;
  ctx.strokeStyle = grey;
  ctx.stroke();
}
