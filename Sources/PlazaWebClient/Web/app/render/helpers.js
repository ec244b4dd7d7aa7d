// Small drawing helpers shared by the painters of the space: filled shapes, colour tones, and a stable hash and
// random generator so that textures and colours look the same on every load. They hold no state of their own
// (a tone function keeps its cache), so any module that paints can use them.

export const TAU = Math.PI * 2;

/** FNV-1a: a stable 32-bit hash, so an id always gets the same colour. */
export function hash(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A small deterministic random generator (mulberry32), for textures that look the same on every load. */
export function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The colour arithmetic of the painters, worked out through `ctx` (whose fill style it overwrites) and cached.
 * @param {CanvasRenderingContext2D} ctx
 * @returns {(color: string, t: number) => string} `tone(color, t)`: `color` lightened towards white (t > 0) or
 *   darkened towards black (t < 0)
 */
export function toneFunction(ctx) {
  const colorCache = new Map();

  /** [r, g, b] of any CSS colour, read back through the canvas so names and rgb() work too. */
  const rgbOf = (color) => {
    let rgb = colorCache.get(color);
    if (rgb !== undefined) return rgb;
    ctx.fillStyle = "#000000";
    ctx.fillStyle = color;
    const value = String(ctx.fillStyle);
    if (value.startsWith("#") && value.length === 7) {
      rgb = [1, 3, 5].map((i) => parseInt(value.slice(i, i + 2), 16));
    } else {
      const m = value.match(/rgba?\(([^)]+)\)/);
      rgb = m ? m[1].split(",").slice(0, 3).map((v) => Math.round(parseFloat(v)) || 0) : [128, 128, 128];
    }
    colorCache.set(color, rgb);
    return rgb;
  };

  return (color, t) => {
    const [r, g, b] = rgbOf(color);
    const target = t > 0 ? 255 : 0;
    const k = Math.abs(t);
    const mix = (v) => Math.round(v + (target - v) * k);
    return `rgb(${mix(r)}, ${mix(g)}, ${mix(b)})`;
  };
}

export function roundRect(ctx, x, y, w, h, r) {
  const rr = Math.max(0, Math.min(r, w / 2, h / 2));
  ctx.moveTo(x + rr, y);
  ctx.arcTo(x + w, y, x + w, y + h, rr);
  ctx.arcTo(x + w, y + h, x, y + h, rr);
  ctx.arcTo(x, y + h, x, y, rr);
  ctx.arcTo(x, y, x + w, y, rr);
  ctx.closePath();
}

export function fillRoundRect(ctx, x, y, w, h, r, style) {
  ctx.fillStyle = style;
  ctx.beginPath();
  roundRect(ctx, x, y, w, h, r);
  ctx.fill();
}

export function fillEllipse(ctx, x, y, rx, ry, style) {
  ctx.fillStyle = style;
  ctx.beginPath();
  ctx.ellipse(x, y, rx, ry, 0, 0, TAU);
  ctx.fill();
}

export function fillCircle(ctx, x, y, r, style) {
  ctx.fillStyle = style;
  ctx.beginPath();
  ctx.arc(x, y, r, 0, TAU);
  ctx.fill();
}

export function shadow(ctx, x, y, rx, ry) {
  fillEllipse(ctx, x, y, rx, ry, "rgba(40, 28, 60, 0.18)");
}

/** A raised box: the footprint's top face lifted by `height`, and a front face down to the ground. */
export function box(ctx, x0, y0, w, h, height, top, front) {
  ctx.fillStyle = top;
  ctx.fillRect(x0, y0 - height, w, h);
  ctx.fillStyle = front;
  ctx.fillRect(x0, y0 + h - height, w, height);
}
