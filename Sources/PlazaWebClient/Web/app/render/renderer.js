// Draws the space on a canvas: the floor, walls, furniture and avatars in a 3/4 top-down view, all
// procedural (no images, no fonts from elsewhere).
//
// The flat floor (tiles, rugs, flower beds) is painted once into an offscreen canvas. Everything that stands
// up — walls, furniture, trees, avatars — is sorted by its base y (the line where it touches the ground) and
// drawn back to front, so whatever is further south hides what is behind it. Names and emotes are drawn last,
// in screen space, so they stay readable at any zoom and are never hidden.
//
// This module runs a frame in that order; the drawing itself is in the modules beside it:
//   camera.js   which part of the map is on screen, and the depth order
//   floor.js    tiles, water, the floor canvas; your range and path on the ground
//   walls.js    raised tiles (walls, hedges) and their shadows
//   objects.js  one painter per kind of object (a new kind of object is one entry there)
//   avatars.js  avatars, names, badges and emotes
//   helpers.js  shapes, colour tones, stable hashes and random numbers

import { toneFunction } from "./helpers.js";
import { DepthOrder, computeCamera } from "./camera.js";
import { drawFloor, drawPath, drawRange, drawWaterGlints, drawZoneLabels, floorScale, renderFloor, waterTiles } from "./floor.js";
import { drawWall, wallDrawables } from "./walls.js";
import { objectDrawables, paintObject } from "./objects.js";
import { AvatarPainter } from "./avatars.js";

export { avatarHue } from "./avatars.js";

const BACKGROUND = "#1e1b2b";

export class Renderer {
  /** Last frame's camera: top-left corner in map units, zoom (CSS px per map unit), view size in map units. */
  camera = { x: 0, y: 0, zoom: 1, width: 0, height: 0 };
  /** CSS size of the canvas and the device pixel ratio, as of the last {@link Renderer#resize}. */
  cssWidth = 0;
  cssHeight = 0;
  dpr = 1;

  #ctx;
  #tone;
  #depth; // walls and standing objects, and the avatars of each frame, back to front
  #flats; // flat objects, painted into the floor
  #water; // columns and rows of water tiles, for glints
  #floor = null;
  #floorScale = 0;
  #order = [];
  #probeOrder = [];
  #probeCamera = { x: 0, y: 0, zoom: 1, width: 0, height: 0 };
  #avatars;

  /**
   * @param {HTMLCanvasElement} canvas sized by CSS; the backing store follows it (see resize)
   * @param {import("../map.js").SpaceMap} map
   */
  constructor(canvas, map) {
    this.canvas = canvas;
    this.map = map;
    this.#ctx = canvas.getContext("2d");
    this.#tone = toneFunction(this.#ctx);
    this.#avatars = new AvatarPainter(this.#ctx);
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
    const scale = floorScale(this.map, this.cssWidth, this.dpr);
    if (scale !== this.#floorScale) {
      this.#floor = renderFloor(this.canvas.ownerDocument, this.map, scale, this.#tone, this.#flats);
      this.#floorScale = scale;
    }
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
    this.#avatars.startFrame();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.globalAlpha = 1;
    ctx.fillStyle = BACKGROUND;
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (this.cssWidth <= 0 || this.cssHeight <= 0) return;

    const scale = cam.zoom * this.dpr;
    ctx.setTransform(scale, 0, 0, scale, -cam.x * scale, -cam.y * scale);
    drawFloor(ctx, this.#floor, this.#floorScale, this.map, cam);
    drawWaterGlints(ctx, this.#water, this.map.tileSize, cam, now);
    const self = view.self;
    if (self) {
      if (view.proximityRadius > 0) drawRange(ctx, self, view.proximityRadius);
      if (view.path && view.path.length > 0) drawPath(ctx, self, view.path, now);
    }

    const order = this.#depth.collect(view, cam, this.#order);
    const ts = this.map.tileSize;
    for (let i = 0; i < order.length; i++) {
      const d = order[i];
      if (d.kind === "wall") drawWall(ctx, d, ts);
      else if (d.kind === "object") paintObject(ctx, d, now);
      else this.#avatars.draw(d, now);
    }

    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    drawZoneLabels(ctx, this.map, cam);
    this.#avatars.drawLabels(order, cam, now);
    this.#avatars.endFrame();
  }

  /**
   * The depth-sorted drawables `draw(view)` would draw, back to front: `{kind: "avatar"|"object"|"wall", id, y}`
   * with ids like "ann", "tree#3" (kind # index in map.objects) or "wall@12,7" (column, row).
   */
  drawOrder(view) {
    const cam = this.#computeCamera(view, this.#probeCamera);
    return this.#depth.collect(view, cam, this.#probeOrder).map((d) => ({ kind: d.kind, id: d.id, y: d.y }));
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

  #computeCamera(view, out) {
    return computeCamera(view, this.map, this.cssWidth, this.cssHeight, this.dpr, out);
  }

  /** The scene that does not move, worked out once: walls and objects, and where the water is. */
  #buildStatics() {
    const walls = wallDrawables(this.map, this.#tone);
    const objects = objectDrawables(this.map, this.#tone);
    this.#depth = new DepthOrder([...walls, ...objects.standing]);
    this.#flats = objects.flat;
    this.#water = waterTiles(this.map);
  }
}
