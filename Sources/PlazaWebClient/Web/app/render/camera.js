// The camera and the depth order: which part of the map a frame shows, at what zoom, and in which order the
// things that stand up are drawn. Kept apart from the painters because it decides where and when things are
// drawn, never how they look; `drawOrder()` (used by the browser tests) reads the same order the frame uses.
//
// Walls, standing objects and avatars are "drawables" `{kind, id, x, y, ...}` whose y is their base, the line
// where they touch the ground. Sorted by base y, then x, then id, and drawn back to front, whatever is further
// south hides what is behind it.

import { AVATAR_REACH } from "./avatars.js";

/** Canvases narrower than this (CSS px) are phones: zoom out so more of the map fits. */
const PHONE_WIDTH = 700;
const PHONE_ZOOM = 0.75;

/** CSS px per map unit for a canvas `cssWidth` wide. */
export function zoomFor(cssWidth) {
  return cssWidth < PHONE_WIDTH ? PHONE_ZOOM : 1;
}

/** Left (or top) edge of the view along one axis: centred on `centre`, kept inside the map, or the map centred. */
function cameraAxis(centre, view, size) {
  return size <= view ? (size - view) / 2 : Math.min(Math.max(centre - view / 2, 0), size - view);
}

/**
 * Fills `out` with the camera for a view: top-left corner in map units, zoom (CSS px per map unit), view size
 * in map units. It follows your avatar (or the spawn point before you have one).
 * @param {{self?: {x: number, y: number}|null}|undefined} view
 * @param {import("../map.js").SpaceMap} map
 */
export function computeCamera(view, map, cssWidth, cssHeight, dpr, out) {
  const zoom = zoomFor(cssWidth);
  const width = cssWidth / zoom;
  const height = cssHeight / zoom;
  const focus = view?.self ?? map.spawn;
  // Whole device pixels, so tile edges do not shimmer while the camera glides.
  const px = zoom * dpr;
  out.x = Math.round(cameraAxis(focus.x, width, map.width) * px) / px;
  out.y = Math.round(cameraAxis(focus.y, height, map.height) * px) / px;
  out.zoom = zoom;
  out.width = width;
  out.height = height;
  return out;
}

export function compareDrawables(a, b) {
  return a.y - b.y || a.x - b.x || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** The drawables of a frame, back to front: the static scene culled to the camera, plus the avatars in view. */
export class DepthOrder {
  #statics;
  #avatarPool = [];

  /**
   * @param {object[]} statics walls and standing objects, each with its bounds `left`, `right`, `top`, `bottom`
   *   (map units) so that it can be skipped when out of view; sorted here once
   */
  constructor(statics) {
    this.#statics = statics.sort(compareDrawables);
  }

  /** Fills `order` with what stands in the camera's view, back to front. */
  collect(view, cam, order) {
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
}
