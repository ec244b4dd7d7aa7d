// Raised tiles (solid, height > 0): walls and hedges drawn as blocks, and the soft shadow each one casts on the
// floor south of it. Separate from the floor because a block stands up: it is drawn in depth order with the
// furniture and avatars, so that whoever walks behind a wall is hidden by it.

import { fillCircle } from "./helpers.js";

/** Colours of the blocks of one legend entry, worked out once. */
function wallStyle(tile, tone) {
  const color = tile.color;
  if (tile.kind === "hedge") {
    return {
      hedge: true,
      top: tone(color, 0.12),
      bump: tone(color, 0.3),
      front: tone(color, -0.12),
      dots: tone(color, -0.3),
      outline: tone(color, -0.38),
    };
  }
  return {
    hedge: false,
    top: tone(color, 0.3),
    front: color,
    band: tone(color, 0.14),
    base: tone(color, -0.28),
    outline: tone(color, -0.4),
  };
}

/**
 * One drawable per raised tile, with id "wall@c,r", its base at the tile's south edge and which of its sides
 * are open (not against a block as tall).
 * @param {import("../map.js").SpaceMap} map
 * @param {(color: string, t: number) => string} tone
 */
export function wallDrawables(map, tone) {
  const ts = map.tileSize;
  const raised = (c, r) => {
    const t = map.tileAt(c, r);
    return t !== null && t.solid && t.height > 0 ? t.height : 0;
  };
  const wallStyles = new Map();
  const walls = [];
  for (let r = 0; r < map.rows; r++) {
    for (let c = 0; c < map.cols; c++) {
      const tile = map.tileAt(c, r);
      const height = raised(c, r);
      if (height === 0) continue;
      let style = wallStyles.get(tile);
      if (style === undefined) {
        style = wallStyle(tile, tone);
        wallStyles.set(tile, style);
      }
      walls.push({
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
  return walls;
}

/** A block: its top face lifted by its height, its south face where that shows, outlines on open sides. */
export function drawWall(ctx, d, ts) {
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

/** A soft shadow on the floor just south of a raised tile, so walls sit on the ground. */
export function paintWallShadow(ctx, map, c, r, ts) {
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
