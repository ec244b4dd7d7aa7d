// Avatars and what floats above them: the round body with its eyes and walking feet, then the name, mute and
// camera badges and the emote bubble. Separate from the map's painters because an avatar moves and belongs to a
// person: its colour comes from its id, its steps from how it moved since the last frame, and its label is drawn
// in screen space after everything else, so that it stays readable at any zoom and is never hidden.

import { TAU, fillEllipse, fillRoundRect, hash, roundRect, shadow } from "./helpers.js";

const LABEL_FONT = '600 12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const EMOJI_FONT = '18px "Apple Color Emoji", "Segoe UI Emoji", "Noto Color Emoji", system-ui, sans-serif';
const LABEL_HEIGHT = 18;
const LABEL_MAX_CHARS = 24;
const BADGE = 14;
/** Top of an avatar's head above its feet, map units. */
const AVATAR_TOP = 42;
/** How far an avatar's drawing (with its label and emote) can reach from its feet, map units. */
export const AVATAR_REACH = { side: 140, up: 160, down: 12 };
const EMOTE_FADE_MS = 500;

/** An avatar's colour, also used for its dot in the people list. */
export function avatarHue(id) {
  return hash(String(id)) % 360;
}

/** Draws avatars and their labels on one canvas, with what it remembers between frames (colours, steps, names). */
export class AvatarPainter {
  #ctx;
  #avatarStyles = new Map();
  #labels = new Map();
  #motion = new Map();
  #frame = 0;

  /** @param {CanvasRenderingContext2D} ctx the canvas the avatars and labels are drawn on */
  constructor(ctx) {
    this.#ctx = ctx;
  }

  /** Call at the start of every frame: steps are animated by frame. */
  startFrame() {
    this.#frame++;
  }

  /** Call at the end of a frame that was drawn: now and then it forgets avatars that have left. */
  endFrame() {
    if ((this.#frame & 255) === 0) this.#pruneMotion();
  }

  /**
   * The labels of the avatars in `order` (the frame's depth order), in screen space: call with the transform
   * set to CSS px.
   */
  drawLabels(order, cam, now) {
    const ctx = this.#ctx;
    ctx.font = LABEL_FONT;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    for (let i = 0; i < order.length; i++) {
      const d = order[i];
      if (d.kind === "avatar") this.#drawLabel(d.ref, cam, now);
    }
    ctx.globalAlpha = 1;
  }

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

  /** An avatar standing at its feet (map units): body, eyes looking its way, a ring under your own. */
  draw(d, now) {
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
  strokeSlash(ctx, x - 5.5, y - 6.5, x + 5.5, y + 5.5, red);
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
  strokeSlash(ctx, x - 6, y - 6, x + 6, y + 6, grey);
}

/** The slash across a badge, from (x1, y1) to (x2, y2): a dark edge, then a thinner line in the badge's `color`. */
function strokeSlash(ctx, x1, y1, x2, y2, color) {
  ctx.lineCap = "round";
  ctx.lineWidth = 1.8;
  ctx.strokeStyle = "rgba(28, 24, 42, 0.9)";
  ctx.beginPath();
  ctx.moveTo(x1, y1);
  ctx.lineTo(x2, y2);
  ctx.stroke();
  ctx.lineWidth = 1.4;
  ctx.strokeStyle = color;
  ctx.stroke();
}
