// Objects: how each kind of object on the map looks. A new kind of object is one entry in `objectPainters`
// below, keyed by the `kind` the map file uses; its footprint, solidity and flatness are in OBJECT_DEFAULTS of
// map.js (a kind missing there gets the generic footprint). Kinds with no entry are drawn by `genericPainter`.
//
// An entry holds:
//   color  the main colour, used when the object has no `color` of its own (default: the generic colour);
//   reach  [up, side], map units: how far the drawing rises above the footprint and spreads beside it, so that
//          the object is drawn while any part of it is in view (standing kinds only; default: the generic reach);
//   palette  optional: colours of the kind's own that the object's `color` does not change (a plant's leaves),
//          by name: `{ leaf: "#5fa55a" }` gives the painter `s.leaf`;
//   style(s, o, rand, tone)  optional: adds colours (or sizes, or a layout) to the style `s`, worked out once
//          per object; `s` starts with `main`, its shades `light`, `dark` and `darker` and the palette, `rand`
//          is a random generator seeded by the object's id, `tone(color, t)` lightens (t > 0) or darkens (t < 0)
//          a colour;
//   paint(ctx, o, s, now, seed)  draws object `o` in map units around its base point (o.x, o.y), the middle of
//          the south edge of its footprint. `seed` is a stable hash of the object's id (kind # index).
//
// Flat kinds (rugs, flower beds) are painted once into the floor, under everything (`now` is 0). Every other kind
// stands up: it is painted each frame in depth order with the walls and avatars, so `now` (ms) can animate it.

import { TAU, box, fillCircle, fillEllipse, fillRoundRect, hash, random, roundRect, shadow } from "./helpers.js";

const FLOWER_COLORS = ["#f4a3c0", "#f7d06b", "#c3a6ee", "#ffffff", "#ef8f8f", "#9fd3f0"];
const BOOK_COLORS = ["#c97b63", "#6d9dc5", "#e3b35a", "#8fb9a8", "#b48ac0", "#e59c8c", "#f1e3c6"];
const GENERIC_COLOR = "#b8a9c9";
/** The lamps' glow: one gradient per canvas, centred on the origin and drawn translated. */
const lampGlows = new WeakMap();

/** How each kind of object looks, keyed by kind: a new kind of object is one entry here (see above). */
export const objectPainters = {
  /** Trunk and a layered canopy that sways, about 100 units tall; scales with `w`, and each tree varies a little. */
  tree: {
    color: "#6fae62",
    reach: [110, 50],
    palette: { trunk: "#9a6a46", trunkDark: "#7b5236" },
    style(s, o, rand, tone) {
      s.mid = s.main;
      s.highlight = tone(s.main, 0.32);
      s.scale = 0.9 + rand() * 0.22;
    },
    paint(ctx, o, s, now, seed) {
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
    },
  },

  /** A round bush with a few berries, scales with `w`. */
  bush: {
    color: "#6aa864",
    reach: [44, 8],
    style(s, o, rand) {
      s.berry = FLOWER_COLORS[Math.floor(rand() * FLOWER_COLORS.length)];
    },
    paint(ctx, o, s) {
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
    },
  },

  /** A tabletop on legs. */
  table: {
    color: "#c89f74",
    reach: [30, 4],
    paint(ctx, o, s) {
      const legs = 18;
      const { x0, y0 } = footprint(o);
      ctx.fillStyle = "rgba(40, 28, 60, 0.14)";
      ctx.fillRect(x0 + 3, y0 + 4, o.w - 6, o.h - 4);
      fillLegs(ctx, o, 3, 4, o.y - legs, legs, s.darker);
      fillRoundRect(ctx, x0, y0 - legs, o.w, o.h, 4, s.main);
      ctx.fillStyle = s.dark;
      ctx.fillRect(x0 + 1, o.y - legs - 1, o.w - 2, 5);
      ctx.fillStyle = s.light;
      ctx.fillRect(x0 + 4, y0 - legs + 3, o.w - 8, 2);
    },
  },

  /** A seat with a backrest, facing south. */
  chair: {
    color: "#d9a066",
    reach: [40, 4],
    paint(ctx, o, s) {
      const seat = 12;
      const { x0, y0 } = footprint(o);
      shadow(ctx, o.x, o.y - 2, o.w * 0.5, 5);
      fillRoundRect(ctx, x0 + 1, y0 - seat - 18, o.w - 2, 20, 5, s.dark);
      fillLegs(ctx, o, 2, 3, o.y - seat, seat, s.darker);
      fillRoundRect(ctx, x0, y0 - seat, o.w, o.h, 4, s.main);
      ctx.fillStyle = s.dark;
      ctx.fillRect(x0 + 1, o.y - seat - 2, o.w - 2, 4);
    },
  },

  /** Back, arms and a seat with 1 to 3 cushions by width, facing south. */
  sofa: {
    color: "#e59c8c",
    reach: [40, 6],
    paint(ctx, o, s) {
      const base = 14;
      const { x0, y0 } = footprint(o);
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
    },
  },

  /** A potted plant, scales with `w`; `color` is the pot, the leaves stay green. */
  plant: {
    color: "#d0825e",
    reach: [52, 16],
    palette: { leaf: "#5fa55a", leafLight: "#82c274" },
    paint(ctx, o, s) {
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
    },
  },

  /** A lamp post with a warm glow, 66 units tall (fixed size); `color` is the shade. */
  lamp: {
    color: "#f6e3b4",
    reach: [100, 48],
    palette: { pole: "#4a4458" },
    paint(ctx, o, s) {
      const x = o.x;
      const y = o.y;
      let glow = lampGlows.get(ctx);
      if (glow === undefined) {
        glow = ctx.createRadialGradient(0, 0, 0, 0, 0, 44);
        glow.addColorStop(0, "rgba(255, 224, 150, 0.38)");
        glow.addColorStop(1, "rgba(255, 224, 150, 0)");
        lampGlows.set(ctx, glow);
      }
      ctx.save();
      ctx.translate(x, y - 54);
      ctx.fillStyle = glow;
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
    },
  },

  /** A round basin (a `w` × `h` ellipse) with a jet and ripples, animated; the water stays blue. */
  fountain: {
    color: "#d4cbbd",
    reach: [90, 8],
    palette: { water: "#6cb8ee", waterLight: "#a7d8f7" },
    paint(ctx, o, s, now) {
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
    },
  },

  /** A slatted bench with a backrest on metal legs, facing south. */
  bench: {
    color: "#b7835a",
    reach: [34, 4],
    palette: { metal: "#4a4458" },
    paint(ctx, o, s) {
      const seat = 10;
      const { x0, y0 } = footprint(o);
      shadow(ctx, o.x, o.y - 2, o.w * 0.52, 5);
      fillLegs(ctx, o, 5, 3, y0 - seat - 18, 18, s.metal); // the backrest's posts
      fillLegs(ctx, o, 4, 4, o.y - seat, seat, s.metal);
      fillRoundRect(ctx, x0, y0 - seat - 19, o.w, 5, 2, s.main);
      fillRoundRect(ctx, x0, y0 - seat - 12, o.w, 5, 2, s.main);
      fillRoundRect(ctx, x0, y0 - seat, o.w, o.h, 2, s.main);
      ctx.fillStyle = s.dark;
      for (let i = 1; i < 3; i++) ctx.fillRect(x0 + 1, y0 - seat + (o.h * i) / 3, o.w - 2, 1);
      ctx.fillRect(x0, o.y - seat - 1, o.w, 3);
    },
  },

  /** A 64-unit-tall case with three shelves of books in mixed colours. */
  bookshelf: {
    color: "#9b6b4a",
    reach: [76, 4],
    style(s, o, rand) {
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
    },
    paint(ctx, o, s) {
      const tall = 64;
      const { x0, y0 } = footprint(o);
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
    },
  },

  /** A 34-unit-tall counter with an espresso machine and cups; the top stays cream. */
  counter: {
    color: "#b98b5e",
    reach: [64, 4],
    palette: { top: "#f2ece4", topEdge: "#ddd3c5" },
    paint(ctx, o, s) {
      const tall = 34;
      const { x0, y0 } = footprint(o);
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
    },
  },

  /** A board with coloured lines on two legs; `color` is the frame and legs. */
  whiteboard: {
    color: "#a9adb8",
    reach: [72, 4],
    paint(ctx, o, s) {
      const { x0, y0: bottom } = footprint(o);
      fillLegs(ctx, o, 8, 3, bottom - 20, 20 + o.h, s.dark);
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
    },
  },

  /** A low boulder. */
  rock: {
    color: "#a8a4b3",
    reach: [16, 6],
    paint(ctx, o, s) {
      const x = o.x;
      const ry = o.h / 2 + 3;
      const cy = o.y - ry + 1;
      shadow(ctx, x, o.y - 1, o.w * 0.55, 4);
      fillEllipse(ctx, x, cy, o.w / 2, ry, s.dark);
      fillEllipse(ctx, x - o.w * 0.06, cy - 2, o.w * 0.42, ry * 0.78, s.main);
      fillEllipse(ctx, x - o.w * 0.16, cy - ry * 0.35, o.w * 0.15, ry * 0.25, s.light);
    },
  },

  /** Flat: a rug with fringes, a border and a diamond. */
  rug: {
    color: "#c97b63",
    style(s, o, rand, tone) {
      s.fringe = tone(s.main, 0.45);
      s.border = tone(s.main, 0.35);
      s.inner = tone(s.main, -0.18);
      s.diamond = tone(s.main, 0.25);
    },
    paint(ctx, o, s) {
      const { x0, y0 } = footprint(o);
      const inset = Math.min(8, o.w / 6, o.h / 6);
      // Fringes on the short ends.
      ctx.fillStyle = s.fringe;
      for (let fy = y0 + 4; fy < o.y - 3; fy += 5) {
        ctx.fillRect(x0 - 4, fy, 5, 1.5);
        ctx.fillRect(x0 + o.w - 1, fy, 5, 1.5);
      }
      fillRoundRect(ctx, x0, y0, o.w, o.h, 6, s.main);
      ctx.lineWidth = 2;
      ctx.strokeStyle = s.border;
      ctx.beginPath();
      roundRect(ctx, x0 + inset, y0 + inset, o.w - 2 * inset, o.h - 2 * inset, 4);
      ctx.stroke();
      ctx.strokeStyle = s.inner;
      ctx.beginPath();
      roundRect(ctx, x0 + 2 * inset, y0 + 2 * inset, o.w - 4 * inset, o.h - 4 * inset, 3);
      ctx.stroke();
      // A diamond in the middle.
      const cx = o.x;
      const cy = o.y - o.h / 2;
      const dx = Math.min(o.w / 5, 28);
      const dy = Math.min(o.h / 5, 16);
      ctx.fillStyle = s.diamond;
      ctx.beginPath();
      ctx.moveTo(cx, cy - dy);
      ctx.lineTo(cx + dx, cy);
      ctx.lineTo(cx, cy + dy);
      ctx.lineTo(cx - dx, cy);
      ctx.closePath();
      ctx.fill();
    },
  },

  /** Flat: an oval bed of flowers, more on a bigger bed; `color` sets every petal (default: a mix). */
  flowers: {
    paint(ctx, o, s, now, seed) {
      const rand = random(seed);
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
    },
  },
};

/** Any kind with no entry: a plain box, 1.2 × `h` tall (20 to 48 units), or a plain patch when the kind is flat. */
export const genericPainter = {
  color: GENERIC_COLOR,
  reach: [44, 4],
  paint(ctx, o, s) {
    const { x0, y0 } = footprint(o);
    if (o.flat) {
      fillRoundRect(ctx, x0, y0, o.w, o.h, 4, o.color ?? GENERIC_COLOR);
      return;
    }
    const tall = Math.max(20, Math.min(48, o.h * 1.2));
    shadow(ctx, o.x, o.y - 1, o.w * 0.55, 5);
    box(ctx, x0, y0, o.w, o.h, tall, s.light, s.main);
    ctx.fillStyle = s.dark;
    ctx.fillRect(x0, o.y - 3, o.w, 3);
    ctx.fillRect(x0, o.y - tall, o.w, 1.5);
  },
};

/** The north-west corner of `o`'s footprint, which runs from (x0, y0) to (o.x + o.w / 2, o.y) (docs/maps.md). */
function footprint(o) {
  return { x0: o.x - o.w / 2, y0: o.y - o.h };
}

/**
 * Two matching legs (or posts) in `style`, `width` wide and `inset` in from the west and east edges of `o`'s
 * footprint, from `top` down `height`.
 */
function fillLegs(ctx, o, inset, width, top, height, style) {
  const { x0 } = footprint(o);
  ctx.fillStyle = style;
  ctx.fillRect(x0 + inset, top, width, height);
  ctx.fillRect(x0 + o.w - (inset + width), top, width, height);
}

/** The entry that draws `kind`: its own, or the generic one. */
export function painterFor(kind) {
  return Object.hasOwn(objectPainters, kind) ? objectPainters[kind] : genericPainter;
}

/**
 * One object's style: its colours, its kind's palette and what its kind's `style` adds (a bookshelf's books),
 * worked out once.
 */
function objectStyle(o, painter, seed, tone) {
  const main = o.color ?? painter.color ?? GENERIC_COLOR;
  const s = { main, light: tone(main, 0.25), dark: tone(main, -0.22), darker: tone(main, -0.4), ...painter.palette };
  painter.style?.(s, o, random(seed), tone);
  return s;
}

/**
 * The drawables of the map's objects, in map order: `standing` ones (id "kind#index", base y, bounds for culling)
 * go into the depth order, `flat` ones are painted into the floor.
 * @param {import("../map.js").SpaceMap} map
 * @param {(color: string, t: number) => string} tone
 */
export function objectDrawables(map, tone) {
  const standing = [];
  const flat = [];
  map.objects.forEach((o, index) => {
    const id = `${o.kind}#${index}`;
    const painter = painterFor(o.kind);
    const seed = hash(id);
    const style = objectStyle(o, painter, seed, tone);
    if (o.flat) {
      flat.push({ kind: "object", id, x: o.x, y: o.y, ref: o, seed, style, painter });
      return;
    }
    const [up, side] = painter.reach ?? genericPainter.reach;
    const half = o.w / 2 + side;
    standing.push({
      kind: "object",
      id,
      x: o.x,
      y: o.y,
      left: o.x - half,
      right: o.x + half,
      top: o.y - o.h - up,
      bottom: o.y + 12,
      ref: o,
      seed,
      style,
      painter,
    });
  });
  return { standing, flat };
}

/** Draws one object drawable (from objectDrawables) with its kind's painter. */
export function paintObject(ctx, d, now) {
  d.painter.paint(ctx, d.ref, d.style, now, d.seed);
}
