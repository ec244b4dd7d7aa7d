// One participant's presence in a room: join over HTTP, the WebSocket, and getting back after a drop.
//
// The session keeps the participant's identity across drops and token expiry by renewing its room token
// (join with the old token as bearer), resumes chat with `since`, and reconnects with capped, jittered
// backoff. It knows nothing about the map, chat panel or calls: it emits frames and state changes.

/** An error the user has to act on (a full room, a refused name); reconnecting would not help. */
export class JoinError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const RETRY_BASE_MS = 500;
const RETRY_MAX_MS = 10_000;
/** The client's own liveness check: a ping every PING_MS; silence for DEAD_MS means the socket is dead. */
const PING_MS = 15_000;
const DEAD_MS = 35_000;
/** A WebSocket that is not welcomed this quickly is given up and retried. */
const WELCOME_TIMEOUT_MS = 15_000;
const REQUEST_TIMEOUT_MS = 10_000;

/** POST /api/v1/join. Throws JoinError for Plaza's answers that a retry will not change; null means retry. */
export async function join(room, name, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  let body;
  try {
    response = await fetch('/api/v1/join', {
      method: 'POST', headers, body: JSON.stringify({ room, name }), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    body = await response.json();
  } catch {
    return null; // the network, a timeout, or something other than Plaza answering (a captive portal): retry
  }
  if (response.ok) return body;
  const code = body?.error?.code;
  if (!code || response.status >= 500) return null; // draining, node_full, store trouble, a proxy: retry later
  throw new JoinError(code, body.error.message ?? `join failed (${response.status})`);
}

export class Session extends EventTarget {
  /**
   * @param {object} options
   * @param {string} options.room
   * @param {string} options.name
   * @param {string|null} options.token a room token from an earlier join (keeps the identity), if any
   * @param {() => {audio: boolean, video: boolean}} options.media the media state to announce in `hello`
   * @param {() => number} options.since the highest chat offset seen, or -1 for none
   */
  constructor({ room, name, token, media, since }) {
    super();
    this.room = room;
    this.name = name;
    this.token = token;
    this.media = media;
    this.since = since;
    this.you = null;
    /** From the latest join answer: the STUN/TURN servers (TURN credentials expire: each renewal brings fresh
     * ones) and whether calls may only go through a TURN relay (`relay`) or by any path (`all`). */
    this.iceServers = [];
    this.iceTransportPolicy = 'all';
    /** connecting → open ⇄ reconnecting; closed at the end. */
    this.state = 'connecting';
    this.socket = null;
    this.attempt = 0;
    this.timers = new Set();
    this.lastHeard = 0;
    this.stopped = false;
    this.welcomedOnce = false;
  }

  /** Joins and connects; resolves after the first join (JoinError if refused), then runs until stop(). */
  async start() {
    const answer = await this.#join(true);
    if (!answer) throw new JoinError('unavailable', 'The server is not reachable. Try again in a moment.');
    this.#connect(answer.url);
  }

  /** Sends a frame if the socket is open; returns whether it was handed to the socket. */
  send(frame) {
    if (this.state !== 'open' || this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  get isOpen() {
    return this.state === 'open';
  }

  /** Leaves for good: closes the socket (1000) and cancels every timer. */
  stop() {
    this.stopped = true;
    this.#stopLiveness();
    this.#setState('closed');
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.socket?.close(1000);
  }

  /** Drops the connection as a network failure would, then reconnects (used by the tests' hooks). */
  drop() {
    if (this.socket) this.#abandon(this.socket, 4000, 'client drop');
  }

  // MARK: join and token renewal

  async #join(first) {
    let answer;
    try {
      answer = await join(this.room, this.name, this.token);
    } catch (error) {
      // A stored token that is no longer accepted (expired, or from another server) is discarded: join
      // as a new guest instead. Anything else is the user's to fix.
      if (!(error instanceof JoinError) || !this.token || !['unauthorized', 'token_expired', 'forbidden'].includes(error.code)) throw error;
      this.token = null;
      answer = await join(this.room, this.name, null);
    }
    if (!answer) return null;
    const changed = !first && this.you && answer.participant !== this.you;
    this.token = answer.token;
    this.you = answer.participant;
    this.name = answer.name;
    this.iceServers = answer.iceServers ?? [];
    this.iceTransportPolicy = answer.iceTransportPolicy === 'relay' ? 'relay' : 'all';
    this.dispatchEvent(new CustomEvent('token', { detail: answer }));
    if (changed) this.dispatchEvent(new CustomEvent('identity', { detail: answer.participant }));
    this.#scheduleRenewal(answer.expiresIn);
    return answer;
  }

  /** Renews the room token at two thirds of its life (`expiresIn`, seconds), so a reconnect never finds it expired. */
  #scheduleRenewal(expiresIn) {
    if (this.renewal) {
      clearTimeout(this.renewal);
      this.timers.delete(this.renewal);
    }
    this.renewal = this.#after(Math.max(5_000, (expiresIn ?? 60) * 1000 * 2 / 3), async () => {
      try {
        await this.#join(false);
      } catch {
        // Refused renewals surface at the next reconnect.
      }
    });
  }

  // MARK: the socket

  #connect(url) {
    if (this.stopped) return;
    const socket = new WebSocket(url);
    this.socket = socket;
    const welcomeTimer = this.#after(WELCOME_TIMEOUT_MS, () => {
      if (socket === this.socket && this.state !== 'open') this.#abandon(socket, 4000, 'no welcome');
    });
    socket.onopen = () => {
      const { audio, video } = this.media();
      const hello = { type: 'hello', token: this.token, audio, video };
      const since = this.since();
      if (since >= 0) hello.since = since;
      socket.send(JSON.stringify(hello));
      this.lastHeard = Date.now();
    };
    socket.onmessage = (event) => {
      if (socket !== this.socket) return;
      this.lastHeard = Date.now();
      // The server batches frames into one message, separated by newlines.
      for (const line of String(event.data).split('\n')) {
        let frame;
        try {
          frame = JSON.parse(line);
        } catch {
          continue;
        }
        this.#receive(frame);
      }
    };
    socket.onclose = (event) => {
      clearTimeout(welcomeTimer);
      this.timers.delete(welcomeTimer);
      if (socket !== this.socket) return;
      this.socket = null;
      this.#closed(event.code, event.reason);
    };
  }

  /**
   * Gives up on a socket at once: a half-open TCP connection may take minutes to report its close, so the
   * session moves on without waiting for it.
   */
  #abandon(socket, code, reason) {
    socket.onopen = socket.onmessage = socket.onclose = null;
    if (socket === this.socket) this.socket = null;
    try {
      socket.close(code, reason);
    } catch {}
    this.#closed(code, reason);
  }

  #receive(frame) {
    if (frame.type === 'welcome') {
      this.attempt = 0;
      this.welcomedOnce = true;
      this.you = frame.you;
      this.#setState('open');
      this.#startLiveness();
      this.dispatchEvent(new CustomEvent('welcome', { detail: frame }));
      return;
    }
    if (frame.type === 'error' && this.state !== 'open') {
      this.helloError = frame.code;
      return;
    }
    this.dispatchEvent(new CustomEvent('frame', { detail: frame }));
  }

  /** Decides, from the close code, between reconnecting and telling the user (docs/protocol.md §6). */
  #closed(code, reason) {
    if (this.stopped) return;
    this.#stopLiveness();
    const refusal = this.helloError ?? reason;
    this.helloError = undefined;
    if (code === 4502) return this.#fatal('room_full', 'This room is full. Try again later.');
    if (code === 4503 && !this.welcomedOnce) {
      return this.#fatal('too_many_connections', 'You are in this room in too many tabs. Close one and try again.');
    }
    // A 4503 later means connections lost without a close still count on the server: they expire at its
    // ping timeout, so the backoff below gets us back in.
    if (code === 4501 && refusal === 'unauthorized') this.token = null; // a fresh join; expiry is renewed below
    this.#setState('reconnecting');
    this.#retry();
  }

  #retry() {
    const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** this.attempt) * (0.7 + Math.random() * 0.6);
    this.attempt += 1;
    this.#after(delay, async () => {
      if (this.stopped) return;
      let answer;
      try {
        answer = await this.#join(false);
      } catch (error) {
        return this.#fatal(error.code, error.message);
      }
      if (!answer) return this.#retry();
      this.#connect(answer.url);
    });
  }

  #fatal(code, message) {
    this.stop();
    this.dispatchEvent(new CustomEvent('fatal', { detail: { code, message } }));
  }

  #startLiveness() {
    this.#stopLiveness();
    this.liveness = setInterval(() => {
      if (Date.now() - this.lastHeard > DEAD_MS) {
        if (this.socket) this.#abandon(this.socket, 4000, 'silent');
        return;
      }
      this.send({ type: 'ping' });
    }, PING_MS);
  }

  #stopLiveness() {
    if (this.liveness) clearInterval(this.liveness);
    this.liveness = null;
  }

  #setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }

  #after(ms, fn) {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }
}
