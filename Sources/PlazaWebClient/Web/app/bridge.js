// Conferences on a Janus bridge: when the server puts this participant in a meeting zone's conference or in a
// large bubble's (a `conference` frame, docs/protocol.md §5.12), the browser talks to Janus's WebSocket API
// itself (subprotocol `janus-protocol`): it joins the VideoRoom room with its token and the room's pin as a
// publisher named by its participant id, publishes its camera and microphone once, and takes every other
// publisher's streams through one multistream subscription. No Janus library: the few requests it needs are
// here. When the connection to Janus drops, it connects again and publishes again.

import { gainFor } from './proximity.js';

/** Janus ends a session after `session_timeout` (60 s by default) without a request; janus.js pings every 25 s. */
const KEEPALIVE_MS = 20_000;
/** A request Janus has not answered in this time has failed. */
const REQUEST_TIMEOUT_MS = 10_000;
/** After the connection to Janus drops, wait this long before connecting again, doubling up to RETRY_MAX_MS. */
const RETRY_MS = 1_000;
const RETRY_MAX_MS = 8_000;

/** A WebSocket to Janus: requests matched to their answers by transaction; everything else goes to `onEvent`. */
class JanusSocket {
  constructor(url, token, onEvent, onClose) {
    this.url = url;
    this.token = token;
    this.onEvent = onEvent;
    this.onClose = onClose;
    this.pending = new Map();
    this.ws = null;
  }

  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, 'janus-protocol');
      this.ws = ws;
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error('the bridge did not accept the connection'));
      ws.onclose = () => {
        for (const { reject: fail, timer } of this.pending.values()) {
          clearTimeout(timer);
          fail(new Error('the connection to the bridge closed'));
        }
        this.pending.clear();
        this.onClose();
      };
      ws.onmessage = (event) => this.#receive(event.data);
    });
  }

  /**
   * Sends `message` with a transaction and the token; resolves with the first answer that is not an `ack`
   * (`success`, or the `event` an asynchronous plugin request answers with), rejects on `error` or a plugin
   * error. `ack: true` resolves on the `ack` itself (keepalives, trickles).
   */
  request(message, { ack = false } = {}) {
    const transaction = crypto.randomUUID();
    return new Promise((resolve, reject) => {
      if (this.ws?.readyState !== WebSocket.OPEN) {
        reject(new Error('not connected to the bridge'));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(transaction);
        reject(new Error(`the bridge did not answer ${message.janus}`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(transaction, { resolve, reject, timer, ack });
      this.ws.send(JSON.stringify({ ...message, transaction, token: this.token }));
    });
  }

  close() {
    if (!this.ws) return;
    this.ws.onclose = null;
    this.ws.close();
    this.ws = null;
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new Error('left the bridge'));
    }
    this.pending.clear();
  }

  #receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    const waiting = message.transaction ? this.pending.get(message.transaction) : undefined;
    if (waiting && (message.janus !== 'ack' || waiting.ack)) {
      this.pending.delete(message.transaction);
      clearTimeout(waiting.timer);
      const data = message.plugindata?.data;
      if (message.janus === 'error') waiting.reject(new Error(`bridge: ${message.error?.reason ?? 'error'}`));
      else if (data?.error_code) waiting.reject(new Error(`bridge: ${data.error}`));
      else waiting.resolve(message);
      return;
    }
    if (message.janus !== 'ack' && message.janus !== 'success') this.onEvent(message);
  }
}

/** A participant heard and seen through the bridge. */
class BridgePeer {
  constructor(id) {
    this.id = id;
    this.stream = new MediaStream();
    this.audio = null;
    this.distance = 0;
  }
}

export class Bridge {
  /**
   * @param {object} options
   * @param {string} options.you your participant id: your `display` on the bridge
   * @param {RTCIceServer[]} options.iceServers
   * @param {'all'|'relay'} options.iceTransportPolicy
   * @param {number} options.radius the proximity radius: volume by distance in bubbles
   * @param {() => {audio: MediaStreamTrack|null, video: MediaStreamTrack|null}} options.localTracks
   * @param {() => void} options.onChange called when streams come or go
   */
  constructor({ you, iceServers, iceTransportPolicy, radius, localTracks, onChange }) {
    this.you = you;
    this.iceServers = iceServers;
    this.iceTransportPolicy = iceTransportPolicy ?? 'all';
    this.radius = radius;
    this.localTracks = localTracks;
    this.onChange = onChange;
    /** participant id → BridgePeer */
    this.peers = new Map();
    /** The conference frame being served, or null. */
    this.conference = null;
    this.connected = false;
    this.generation = 0;
    this.#reset();
  }

  #reset() {
    this.socket = null;
    this.session = null;
    this.publisher = null;
    this.subscriber = null;
    this.publisherPC = null;
    this.subscriberPC = null;
    this.privateID = null;
    /** publisher id on the bridge → participant id (its display) */
    this.feeds = new Map();
    /** the subscription's mid → participant id */
    this.mids = new Map();
    this.subscribing = Promise.resolve();
    clearInterval(this.keepalive);
    this.keepalive = null;
  }

  /** Enters `conference` (a `conference` frame), leaving any other first. */
  enter(conference) {
    if (this.conference?.room === conference.room && this.conference?.token === conference.token && this.connected) return;
    this.leave();
    this.conference = conference;
    const generation = ++this.generation;
    this.#connect(generation, RETRY_MS);
  }

  /** Leaves the conference: the session ends, and with it the publication and the subscription. */
  leave() {
    this.generation++;
    this.conference = null;
    this.#teardown();
  }

  /** Volumes follow distance in a bubble and stay full in a meeting zone. `positions`: id → {x, y}. */
  update(self, positions) {
    const zone = this.conference?.zone != null;
    for (const peer of this.peers.values()) {
      const where = positions.get(peer.id);
      peer.distance = where && self ? Math.hypot(where.x - self.x, where.y - self.y) : this.radius;
      if (peer.audio) peer.audio.volume = zone ? 1 : gainFor(peer.distance, this.radius);
    }
  }

  /** New ICE servers (fresh TURN credentials); used from the next connection on. */
  configure(iceServers, iceTransportPolicy) {
    this.iceServers = iceServers;
    this.iceTransportPolicy = iceTransportPolicy ?? 'all';
  }

  /** Per participant heard through the bridge: inbound RTP bytes, plus what this browser sends, for tests. */
  async stats() {
    const result = { sent: 0, peers: {} };
    if (this.publisherPC) {
      (await this.publisherPC.getStats()).forEach((stat) => {
        if (stat.type === 'outbound-rtp') result.sent += stat.bytesSent ?? 0;
      });
    }
    if (this.subscriberPC) {
      const report = await this.subscriberPC.getStats();
      report.forEach((stat) => {
        if (stat.type !== 'inbound-rtp') return;
        const id = this.mids.get(stat.mid);
        if (!id) return;
        const entry = (result.peers[id] ??= { audio: 0, video: 0 });
        entry[stat.kind] += stat.bytesReceived ?? 0;
      });
    }
    return result;
  }

  // MARK: connection

  async #connect(generation, retry) {
    const conference = this.conference;
    const current = () => generation === this.generation;
    try {
      const socket = new JanusSocket(
        conference.url,
        conference.token,
        (event) => current() && this.#event(event),
        () => current() && this.#lost(generation, RETRY_MS),
      );
      this.socket = socket;
      await socket.open();
      const created = await socket.request({ janus: 'create' });
      if (!current()) return socket.close();
      this.session = created.data.id;
      this.keepalive = setInterval(() => {
        socket.request({ janus: 'keepalive', session_id: this.session }, { ack: true }).catch(() => {});
      }, KEEPALIVE_MS);
      this.publisher = await this.#attach();
      const joined = await this.#message(this.publisher, {
        request: 'join', ptype: 'publisher', room: conference.room, pin: conference.pin, display: this.you,
        token: conference.token,
      });
      if (!current()) return;
      const data = joined.plugindata.data;
      this.privateID = data.private_id;
      this.connected = true;
      await this.#publish(generation);
      this.#addFeeds(data.publishers ?? []);
    } catch (error) {
      if (current()) this.#lost(generation, retry, error);
    }
  }

  /** The connection dropped or failed: start again after a pause (the conference frame still stands). */
  #lost(generation, retry) {
    if (generation !== this.generation || !this.conference) return;
    this.#teardown();
    const next = ++this.generation;
    setTimeout(() => {
      if (next === this.generation && this.conference) this.#connect(next, Math.min(retry * 2, RETRY_MAX_MS));
    }, retry);
  }

  #teardown() {
    const { socket, session } = this;
    if (socket && session) socket.request({ janus: 'destroy', session_id: session }).catch(() => {}).finally(() => socket.close());
    else socket?.close();
    for (const pc of [this.publisherPC, this.subscriberPC]) {
      if (!pc) continue;
      pc.onicecandidate = pc.ontrack = null;
      pc.close();
    }
    for (const peer of this.peers.values()) {
      if (peer.audio) peer.audio.srcObject = null;
    }
    const hadPeers = this.peers.size > 0;
    this.peers.clear();
    this.connected = false;
    this.#reset();
    if (hadPeers) this.onChange();
  }

  async #attach() {
    const attached = await this.socket.request({ janus: 'attach', plugin: 'janus.plugin.videoroom', session_id: this.session });
    return attached.data.id;
  }

  #message(handle, body, jsep) {
    return this.socket.request({ janus: 'message', session_id: this.session, handle_id: handle, body, ...(jsep ? { jsep } : {}) });
  }

  #peerConnection(handle) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, iceTransportPolicy: this.iceTransportPolicy });
    pc.onicecandidate = (event) => {
      const candidate = event.candidate ? event.candidate.toJSON() : { completed: true };
      this.socket?.request({ janus: 'trickle', session_id: this.session, handle_id: handle, candidate }, { ack: true }).catch(() => {});
    };
    return pc;
  }

  /** Publishes the camera and microphone once: one audio and one video transceiver, whatever is muted. */
  async #publish(generation) {
    const pc = this.#peerConnection(this.publisher);
    this.publisherPC = pc;
    const tracks = this.localTracks();
    pc.addTransceiver(tracks.audio ?? 'audio', { direction: 'sendonly' });
    pc.addTransceiver(tracks.video ?? 'video', { direction: 'sendonly' });
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const configured = await this.#message(this.publisher, { request: 'publish' }, { type: offer.type, sdp: offer.sdp });
    if (generation !== this.generation) return;
    await pc.setRemoteDescription(configured.jsep);
  }

  // MARK: subscription

  /** Publishers to take: each one's streams join the one subscription (created with the first). */
  #addFeeds(publishers) {
    const fresh = publishers.filter((p) => p.display !== this.you && !this.feeds.has(p.id));
    if (!fresh.length) return;
    for (const p of fresh) this.feeds.set(p.id, p.display);
    const streams = fresh.map((p) => ({ feed: p.id }));
    const generation = this.generation;
    // One change at a time: Janus may coalesce requests into one offer, answered before the next request.
    this.subscribing = this.subscribing.then(async () => {
      if (generation !== this.generation) return;
      try {
        if (!this.subscriber) {
          this.subscriber = await this.#attach();
          const attached = await this.#message(this.subscriber, {
            request: 'join', ptype: 'subscriber', room: this.conference.room, pin: this.conference.pin,
            token: this.conference.token, private_id: this.privateID, streams,
          }, undefined);
          await this.#answer(attached);
        } else {
          const updated = await this.#message(this.subscriber, { request: 'subscribe', streams });
          if (updated.jsep) await this.#answer(updated);
        }
      } catch (error) {
        if (generation === this.generation) this.#lost(generation, RETRY_MS, error);
      }
    });
  }

  /** A publisher left: its streams leave the subscription (Janus renegotiates by itself) and its tile goes. */
  #removeFeed(feed) {
    const id = this.feeds.get(feed);
    this.feeds.delete(feed);
    if (!id) return;
    const peer = this.peers.get(id);
    if (peer?.audio) peer.audio.srcObject = null;
    this.peers.delete(id);
    for (const [mid, owner] of this.mids) if (owner === id) this.mids.delete(mid);
    this.onChange();
  }

  /** Answers the subscription's offer (`attached` or `updated`) and starts it. */
  async #answer(message) {
    const data = message.plugindata?.data ?? {};
    for (const stream of data.streams ?? []) {
      if (stream.feed_display) this.mids.set(stream.mid, stream.feed_display);
    }
    if (!message.jsep) return;
    if (!this.subscriberPC) {
      const pc = this.#peerConnection(this.subscriber);
      pc.ontrack = (event) => this.#track(event);
      this.subscriberPC = pc;
    }
    const pc = this.subscriberPC;
    await pc.setRemoteDescription(message.jsep);
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await this.#message(this.subscriber, { request: 'start' }, { type: answer.type, sdp: answer.sdp });
  }

  #track(event) {
    const id = this.mids.get(event.transceiver.mid);
    if (!id) return;
    let peer = this.peers.get(id);
    if (!peer) {
      peer = new BridgePeer(id);
      this.peers.set(id, peer);
    }
    for (const old of peer.stream.getTracks().filter((t) => t.kind === event.track.kind)) peer.stream.removeTrack(old);
    peer.stream.addTrack(event.track);
    if (event.track.kind === 'audio') {
      peer.audio ??= new Audio();
      peer.audio.autoplay = true;
      peer.audio.srcObject = new MediaStream([event.track]);
      peer.audio.volume = this.conference?.zone != null ? 1 : gainFor(peer.distance, this.radius);
      peer.audio.play().catch(() => {});
    }
    this.onChange();
  }

  // MARK: events

  #event(message) {
    if (message.janus === 'timeout' || (message.janus === 'detached' && message.sender === this.publisher)) {
      this.#lost(this.generation, RETRY_MS);
      return;
    }
    if (message.janus !== 'event') return;
    const data = message.plugindata?.data ?? {};
    if (message.sender === this.subscriber) {
      if (data.videoroom === 'updated' || message.jsep) {
        const generation = this.generation;
        this.subscribing = this.subscribing.then(() => this.#answer(message)).catch((error) => this.#lost(generation, RETRY_MS, error));
      }
      return;
    }
    if (data.publishers) this.#addFeeds(data.publishers);
    if (data.unpublished && data.unpublished !== 'ok') this.#removeFeed(data.unpublished);
    if (data.leaving && data.leaving !== 'ok') this.#removeFeed(data.leaving);
    if (data.kicked) this.#removeFeed(data.kicked);
    if (data.leaving === 'ok' || data.videoroom === 'destroyed') {
      // Sent out (kicked, the conference closed): the server's next `conference` frame says what follows.
      this.#teardown();
    }
  }
}
