// The chat panel: room history, live messages, unread count, and an outbox that survives drops and reloads.
//
// Messages are keyed by their room offset, so history pages, resumed frames and live frames can arrive in any
// mix without showing a message twice. A message the user sends stays in the outbox (kept in sessionStorage)
// until the server acknowledges it, and is sent again with the same id after every reconnect: the server
// stores an id once per participant, so a retry never duplicates it.

const PAGE = 100;
/** An unacknowledged message is sent again (same id) after this long, and at most this many at a time. */
const RESEND_MS = 4_000;
const RESEND_BATCH = 20;

export class Chat {
  /**
   * @param {object} options
   * @param {import('./session.js').Session} options.session
   * @param {HTMLOListElement} options.list
   * @param {HTMLFormElement} options.form
   * @param {HTMLInputElement} options.input
   * @param {(count: number) => void} options.onUnread
   * @param {() => boolean} options.isVisible whether the panel is on screen (else messages count as unread)
   */
  constructor({ session, list, form, input, onUnread, isVisible }) {
    this.session = session;
    this.list = list;
    this.input = input;
    this.onUnread = onUnread;
    this.isVisible = isVisible;
    this.byOffset = new Map();
    this.lastOffset = -1; // the highest offset shown; -1 until history is loaded
    this.oldestOffset = null;
    this.reachedStart = false;
    this.unread = 0;
    this.scrolledUp = false;
    this.loadingOlder = false;
    this.storageKey = `plaza:outbox:${session.room}`;
    this.prefix = Math.random().toString(36).slice(2, 10);
    this.counter = 0;
    this.outbox = new Map(); // id → {text, sentAt}, in sending order
    for (const [id, text] of JSON.parse(sessionStorage.getItem(this.storageKey) ?? '[]')) this.outbox.set(id, { text, sentAt: 0 });
    this.pendingItems = new Map(); // id → <li>
    /** While a gap is being fetched: the newest offset the client has without holes, for `since`. */
    this.catchUpCursor = null;
    // Messages the server may have dropped (rate limit, a failed store write) go again until acknowledged.
    setInterval(() => this.#resend(), 1_000);

    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.sendText(input.value);
      input.value = '';
    });
    list.addEventListener('scroll', () => {
      if (list.clientHeight === 0) return; // hidden
      if (list.scrollTop < 40) this.loadOlder();
      this.scrolledUp = !this.#atBottom();
      if (!this.scrolledUp) this.markRead();
    });
  }

  /** Sends `text` to the room, now or after the next reconnect. */
  sendText(raw) {
    const text = raw.trim();
    if (!text) return;
    const id = `${this.prefix}-${++this.counter}`;
    this.outbox.set(id, { text, sentAt: 0 });
    this.#saveOutbox();
    this.#showPending(id, text);
    this.#resend();
  }

  /** Forgets unsent messages, e.g. when the server made us a new participant: resending under another id
   * could post a message twice. They stay on screen, marked as not sent. */
  abandonOutbox(reason) {
    for (const id of this.outbox.keys()) this.#failed(id, reason);
    this.outbox.clear();
    this.#saveOutbox();
  }

  /** Leaving the room: nothing is sent later. */
  clearOutbox() {
    this.outbox.clear();
    sessionStorage.removeItem(this.storageKey);
  }

  /** After each welcome: fills the gap since the last message shown, then resends the outbox. */
  async welcomed(welcome) {
    // Queued messages go first, in the order they were written.
    for (const [id, entry] of this.outbox) {
      if (!this.pendingItems.has(id)) this.#showPending(id, entry.text);
      entry.sentAt = 0;
    }
    this.#resend();
    if (this.lastOffset < 0) {
      await this.#loadLatest();
    } else if (!welcome.recovered && welcome.offset > this.lastOffset) {
      await this.#catchUp(this.lastOffset, welcome.offset);
    }
  }

  /** The `since` to resume from: the newest offset shown without a gap, or -1 before history is loaded. */
  get resumeOffset() {
    return this.catchUpCursor ?? this.lastOffset;
  }

  /** Called when the panel comes into view. */
  shown() {
    if (!this.scrolledUp) this.#scrollToBottom();
    this.markRead();
  }

  handle(frame) {
    if (frame.type === 'chat') {
      this.#add(frame, true);
    } else if (frame.type === 'ack') {
      this.#acknowledged(frame.id);
    } else if (frame.type === 'error' && frame.ref && this.outbox.has(frame.ref)) {
      if (frame.code === 'text_too_long' || frame.code === 'invalid_frame') {
        this.outbox.delete(frame.ref);
        this.#saveOutbox();
        this.#failed(frame.ref, frame.message);
      }
      // store_unavailable: stays in the outbox and goes again shortly.
    }
  }

  markRead() {
    if (this.unread === 0) return;
    this.unread = 0;
    this.onUnread(0);
  }

  async loadOlder() {
    if (this.loadingOlder || this.reachedStart || this.oldestOffset === null) return;
    this.loadingOlder = true;
    try {
      const page = await this.#history(`before=${this.oldestOffset}&limit=${PAGE}`);
      if (!page) return;
      const previousHeight = this.list.scrollHeight;
      // Newest first: each message is then the oldest so far and goes straight to the top.
      for (const message of [...page.messages].reverse()) this.#add(message, false);
      if (page.messages.length < PAGE) this.#markStart();
      this.list.scrollTop += this.list.scrollHeight - previousHeight; // keep the reader's place
    } finally {
      this.loadingOlder = false;
    }
  }

  // MARK: history

  async #loadLatest() {
    const page = await this.#history(`limit=${PAGE}`);
    if (!page) return;
    for (const message of page.messages) this.#add(message, false);
    if (page.messages.length < PAGE) this.#markStart();
    this.lastOffset = Math.max(this.lastOffset, page.lastOffset, 0);
    this.#scrollToBottom();
  }

  /** Pages forward from `from` to `until` (live messages meanwhile may already be past `until`). */
  async #catchUp(from, until) {
    this.catchUpCursor = from;
    try {
      while (this.catchUpCursor < until) {
        const page = await this.#history(`since=${this.catchUpCursor}&limit=${PAGE}`);
        if (!page || page.messages.length === 0) break;
        for (const message of page.messages) this.#add(message, false);
        this.catchUpCursor = page.messages[page.messages.length - 1].offset;
      }
    } finally {
      this.catchUpCursor = null;
    }
    this.#scrollToBottom();
  }

  async #history(query) {
    const response = await fetch(`/api/v1/rooms/${encodeURIComponent(this.session.room)}/messages?${query}`, {
      headers: { Authorization: `Bearer ${this.session.token}` },
      signal: AbortSignal.timeout(10_000),
    }).catch(() => null);
    if (!response?.ok) return null;
    return response.json();
  }

  // MARK: rendering

  #add(message, live) {
    this.lastOffset = Math.max(this.lastOffset, message.offset);
    if (this.byOffset.has(message.offset)) return;
    const mine = message.from === this.session.you;
    if (mine) this.#acknowledged(message.id);
    const item = this.#item(message.name, message.text, message.ts);
    item.dataset.offset = message.offset;
    if (mine) item.classList.add('mine');
    this.byOffset.set(message.offset, item);
    const oldest = this.oldestOffset === null || message.offset < this.oldestOffset;
    if (oldest) this.oldestOffset = message.offset;

    const stick = live && this.#atBottom(); // read layout only where it matters: a live message
    // Keep offset order. The oldest message goes before the first one (after the start-of-room line); others
    // are placed scanning from the end, which finds the place of a live message (the newest) at once.
    let next = null;
    if (oldest) {
      next = this.list.firstElementChild;
      while (next && !next.dataset.offset && !next.classList.contains('pending') && !next.classList.contains('failed')) {
        next = next.nextElementSibling;
      }
    } else {
      for (let node = this.list.lastElementChild; node; node = node.previousElementSibling) {
        if (!node.dataset.offset) {
          if (node.classList.contains('pending') || node.classList.contains('failed')) next = node;
          continue;
        }
        if (Number(node.dataset.offset) < message.offset) break;
        next = node;
      }
    }
    this.list.insertBefore(item, next);
    if (stick) this.#scrollToBottom();
    if (live && !mine && !(this.isVisible() && stick && document.hasFocus())) {
      this.unread += 1;
      this.onUnread(this.unread);
    }
  }

  #showPending(id, text) {
    const item = this.#item(this.session.name, text, Date.now());
    item.classList.add('pending', 'mine');
    item.dataset.id = id;
    this.pendingItems.set(id, item);
    this.list.append(item);
    this.#scrollToBottom();
  }

  /** Sends the queued messages that were never sent on this connection or not acknowledged in time. */
  #resend() {
    if (!this.session.isOpen) return;
    const now = Date.now();
    let sent = 0;
    for (const [id, entry] of this.outbox) {
      if (sent >= RESEND_BATCH) break;
      if (now - entry.sentAt < RESEND_MS) continue;
      if (!this.session.send({ type: 'chat', id, text: entry.text })) break;
      entry.sentAt = now;
      sent += 1;
    }
  }

  #failed(id, reason) {
    const item = this.pendingItems.get(id);
    if (!item) return;
    item.classList.replace('pending', 'failed');
    item.querySelector('.meta')?.append(` · not sent: ${reason}`);
    this.pendingItems.delete(id);
  }

  #acknowledged(id) {
    if (this.outbox.delete(id)) this.#saveOutbox();
    this.pendingItems.get(id)?.remove();
    this.pendingItems.delete(id);
  }

  #item(name, text, ts) {
    const item = document.createElement('li');
    const meta = document.createElement('div');
    meta.className = 'meta';
    // Names and text are isolated runs (bdi, dir=auto): bidirectional controls in them cannot reorder the
    // name, the time or the next message.
    const who = document.createElement('bdi');
    who.className = 'who';
    who.textContent = name;
    const time = document.createElement('time');
    const date = new Date(ts);
    time.dateTime = date.toISOString();
    time.textContent = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    time.title = date.toLocaleString();
    meta.append(who, time);
    const body = document.createElement('div');
    body.className = 'text';
    body.dir = 'auto';
    body.textContent = text;
    item.append(meta, body);
    return item;
  }

  #markStart() {
    if (this.reachedStart) return;
    this.reachedStart = true;
    const edge = document.createElement('li');
    edge.className = 'history-edge';
    edge.textContent = 'The beginning of the room';
    this.list.prepend(edge);
  }

  #atBottom() {
    return this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
  }

  #scrollToBottom() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  #saveOutbox() {
    sessionStorage.setItem(this.storageKey, JSON.stringify([...this.outbox].map(([id, entry]) => [id, entry.text])));
  }
}
