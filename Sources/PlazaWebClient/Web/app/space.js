// The space: your avatar (walked by keys or by clicking, with path-finding and collisions) and everyone
// else's, drawn from the server's `enter`/`exit`/`moves` frames and interpolated between ticks.
//
// Your own position is decided here and sent as `move` frames at most once per server tick; the server's
// echo of it is ignored unless another tab of yours moved you. Remote avatars are only drawn while they are
// in your area of interest (between `enter` and `exit`), as the protocol intends.

import { Renderer } from './render/renderer.js';

/** Collision radius of an avatar, map units. */
export const AVATAR_RADIUS = 12;
const SPEED = 180; // map units per second
const EMOTE_MS = 3_000;
/** Beyond this jump an avatar is placed at once rather than sliding across the map. */
const SNAP_DISTANCE = 320;
const KEYS = {
  ArrowUp: [0, -1], KeyW: [0, -1],
  ArrowDown: [0, 1], KeyS: [0, 1],
  ArrowLeft: [-1, 0], KeyA: [-1, 0],
  ArrowRight: [1, 0], KeyD: [1, 0],
};

/** A remote avatar's drawn position: a glide from where it was drawn to the latest reported position. */
class Track {
  constructor(x, y) {
    this.fromX = this.toX = x;
    this.fromY = this.toY = y;
    this.start = 0;
    this.duration = 1;
  }

  set(x, y, now, duration) {
    const current = this.at(now);
    const jump = Math.hypot(x - current.x, y - current.y) > SNAP_DISTANCE;
    this.fromX = jump ? x : current.x;
    this.fromY = jump ? y : current.y;
    this.toX = x;
    this.toY = y;
    this.start = now;
    this.duration = duration;
  }

  at(now) {
    const t = Math.min(1, Math.max(0, (now - this.start) / this.duration));
    return { x: this.fromX + (this.toX - this.fromX) * t, y: this.fromY + (this.toY - this.fromY) * t };
  }
}

export class Space {
  /**
   * @param {object} options
   * @param {HTMLCanvasElement} options.canvas
   * @param {import('./map.js').SpaceMap} options.map
   * @param {(frame: object) => boolean} options.send
   * @param {number} options.tickHz the server's tick rate: moves are sent and received at this pace
   * @param {number} options.proximityRadius drawn around your avatar
   * @param {() => void} options.onRosterChange
   */
  constructor({ canvas, map, send, tickHz, proximityRadius, onRosterChange }) {
    this.canvas = canvas;
    this.map = map;
    this.send = send;
    this.tickMs = 1000 / tickHz;
    this.proximityRadius = proximityRadius;
    this.onRosterChange = onRosterChange;
    this.renderer = new Renderer(canvas, map);
    map.findPath(map.spawn, map.spawn, AVATAR_RADIUS); // builds the walkability grid before the first click
    this.self = null;
    /** Everyone else in the room (the roster), by id; `visible` while in your area of interest. */
    this.people = new Map();
    this.keys = new Set();
    this.path = null;
    this.lastSentAt = 0;
    /** The last few positions sent, newest last: the server's echo of any of them is not news. */
    this.recentSent = [];
    this.running = false;

    window.addEventListener('resize', () => this.renderer.resize());
    // The map also changes size without the window: when the side panel is shown or hidden.
    new ResizeObserver(() => this.renderer.resize()).observe(canvas);
    window.addEventListener('keydown', (event) => this.#key(event, true));
    window.addEventListener('keyup', (event) => this.#key(event, false));
    window.addEventListener('blur', () => this.keys.clear());
    // Keys released while typing never reach the map: forget held keys when focus moves into a field.
    window.addEventListener('focusin', (event) => {
      if (isField(event.target)) this.keys.clear();
    });
    canvas.addEventListener('pointerdown', (event) => {
      canvas.focus();
      const target = this.renderer.screenToMap(event.clientX, event.clientY);
      this.walkTo(target.x, target.y);
    });
  }

  /** Resets the roster from a `welcome`. `first` places you at the server's spawn; later you stay put. */
  welcomed(welcome, first, media) {
    const previous = this.self;
    const before = this.people;
    this.people = new Map();
    for (const p of welcome.participants) {
      if (p.id === welcome.you) {
        this.self = { id: p.id, name: p.name, x: p.x, y: p.y, dir: p.dir, audio: media.audio, video: media.video, emote: null };
        continue;
      }
      const person = this.#person(p);
      const known = before.get(p.id);
      if (known) {
        // Still here after a reconnect: keep drawing them (the new connection's `enter` follows within a
        // tick), gliding to the position the roster reports.
        person.visible = known.visible;
        person.track = known.track;
        person.track.set(p.x, p.y, performance.now(), this.tickMs);
        person.emote = known.emote;
      }
      this.people.set(p.id, person);
    }
    if (!first && previous) {
      // Restore where you were: the server may have forgotten (a restart) or kept it (a lingering connection).
      Object.assign(this.self, { x: previous.x, y: previous.y, dir: previous.dir, emote: previous.emote });
      this.#sendMove(performance.now(), true);
    }
    this.onRosterChange();
    if (!this.running) {
      this.running = true;
      requestAnimationFrame((t) => this.#frame(t, t));
    }
  }

  handle(frame) {
    const now = performance.now();
    switch (frame.type) {
      case 'joined':
        this.people.set(frame.participant.id, this.#person(frame.participant));
        this.onRosterChange();
        break;
      case 'left':
        this.people.delete(frame.id);
        this.onRosterChange();
        break;
      case 'enter':
        for (const a of frame.avatars) {
          if (a.id === this.self?.id) continue;
          const person = this.people.get(a.id);
          if (!person) continue;
          person.visible = true;
          person.track = new Track(a.x, a.y);
          person.dir = a.dir;
        }
        this.onRosterChange();
        break;
      case 'exit':
        for (const id of frame.ids) {
          const person = this.people.get(id);
          if (person) person.visible = false;
        }
        this.onRosterChange();
        break;
      case 'moves':
        for (const m of frame.moves) {
          if (m.id === this.self?.id) {
            this.#echo(m, now);
            continue;
          }
          const person = this.people.get(m.id);
          if (!person) continue;
          person.track.set(m.x, m.y, now, this.tickMs * 1.2);
          person.dir = m.dir;
        }
        break;
      case 'media': {
        const who = frame.id === this.self?.id ? this.self : this.people.get(frame.id);
        if (who) Object.assign(who, { audio: frame.audio, video: frame.video });
        this.onRosterChange();
        break;
      }
      case 'app': {
        const emoji = frame.data?.emote;
        const person = this.people.get(frame.from);
        if (person && typeof emoji === 'string' && emoji.length <= 16) person.emote = { emoji, until: now + EMOTE_MS };
        break;
      }
    }
  }

  /** Walks along a path around walls to (x, y), or as close as one can get. */
  walkTo(x, y) {
    if (!this.self) return false;
    this.path = this.map.findPath(this.self, { x, y }, AVATAR_RADIUS);
    return this.path !== null;
  }

  /** Shows an emote over your avatar and sends it to everyone else. */
  emote(emoji) {
    if (!this.self) return;
    this.self.emote = { emoji, until: performance.now() + EMOTE_MS };
    this.send({ type: 'app', data: { emote: emoji } });
  }

  /** Latest reported positions of the people you can see, for deciding calls. */
  visiblePeople() {
    const result = [];
    for (const p of this.people.values()) if (p.visible) result.push({ id: p.id, x: p.track.toX, y: p.track.toY });
    return result;
  }

  /** What is drawn this frame: your avatar and the visible others at their interpolated positions. */
  view(now) {
    const avatars = [];
    for (const p of this.people.values()) {
      if (!p.visible) continue;
      const at = p.track.at(now);
      avatars.push({ id: p.id, name: p.name, x: at.x, y: at.y, dir: p.dir, audio: p.audio, video: p.video, emote: p.emote });
    }
    return { now, self: this.self, avatars, path: this.path, proximityRadius: this.proximityRadius };
  }

  #person(p) {
    return { id: p.id, name: p.name, role: p.role, audio: p.audio, video: p.video, dir: p.dir, visible: false, track: new Track(p.x, p.y), emote: null };
  }

  /** The server's position for you differs from what this tab sent: another tab of yours moved you. */
  #echo(m, now) {
    if (!this.recentSent.length || this.path || this.keys.size || now - this.lastSentAt < this.tickMs * 2) return;
    const ours = this.recentSent.some((p) => Math.abs(p.x - m.x) <= 0.5 && Math.abs(p.y - m.y) <= 0.5);
    if (!ours) {
      Object.assign(this.self, { x: m.x, y: m.y, dir: m.dir });
      this.recentSent = [{ x: m.x, y: m.y, dir: m.dir }];
    }
  }

  #key(event, down) {
    if (!KEYS[event.code]) return;
    if (!down) {
      this.keys.delete(event.code); // always, wherever focus is, so no key stays held
      return;
    }
    const target = event.target;
    if (isField(target) || target instanceof HTMLButtonElement || target.closest?.('.sidebar')) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    event.preventDefault();
    this.keys.add(event.code);
    this.path = null;
  }

  #frame(now, previous) {
    const dt = Math.min(0.1, (now - previous) / 1000);
    if (this.self) {
      this.#walk(dt);
      this.#sendMove(now, false);
      this.renderer.draw(this.view(now));
    }
    requestAnimationFrame((t) => this.#frame(t, now));
  }

  #walk(dt) {
    let dx = 0;
    let dy = 0;
    for (const code of this.keys) {
      dx += KEYS[code][0];
      dy += KEYS[code][1];
    }
    const step = SPEED * dt;
    if (dx || dy) {
      const length = Math.hypot(dx, dy);
      dx = (dx / length) * step;
      dy = (dy / length) * step;
    } else if (this.path?.length) {
      const next = this.path[0];
      const distance = Math.hypot(next.x - this.self.x, next.y - this.self.y);
      if (distance <= step) {
        dx = next.x - this.self.x;
        dy = next.y - this.self.y;
        this.path.shift();
        if (!this.path.length) this.path = null;
      } else {
        dx = ((next.x - this.self.x) / distance) * step;
        dy = ((next.y - this.self.y) / distance) * step;
      }
    } else {
      return;
    }
    const moved = this.map.moveWithCollision(this.self, dx, dy, AVATAR_RADIUS);
    if (moved.x === this.self.x && moved.y === this.self.y) {
      this.path = null; // blocked: stop rather than push against the wall
      return;
    }
    this.self.dir = Math.abs(dx) > Math.abs(dy) ? (dx > 0 ? 'right' : 'left') : dy > 0 ? 'down' : 'up';
    this.self.x = moved.x;
    this.self.y = moved.y;
  }

  /** One `move` per server tick while walking, and the final position as soon as you stop. */
  #sendMove(now, force) {
    const self = this.self;
    const sent = this.recentSent.at(-1);
    const changed = !sent || Math.abs(sent.x - self.x) > 0.05 || Math.abs(sent.y - self.y) > 0.05 || sent.dir !== self.dir;
    if (!force && (!changed || now - this.lastSentAt < this.tickMs)) return;
    const frame = { type: 'move', x: Math.round(self.x * 10) / 10, y: Math.round(self.y * 10) / 10 };
    if (self.dir) frame.dir = self.dir;
    if (this.send(frame)) {
      this.lastSentAt = now;
      this.recentSent.push({ x: frame.x, y: frame.y, dir: self.dir });
      if (this.recentSent.length > 16) this.recentSent.shift();
    }
  }
}

/** Whether `target` takes typed text: keys pressed there are not commands for the map. */
export function isField(target) {
  return target instanceof HTMLInputElement || target instanceof HTMLSelectElement || target instanceof HTMLTextAreaElement;
}
