// Proximity calls: a WebRTC connection to each nearby participant, set up and torn down as people walk.
//
// Of each pair, the participant with the smaller id places the call, so two browsers never offer at once.
// Every signal names the sending tab, and answers, candidates and byes name the tab they are for: a
// participant open in two tabs receives every signal twice, and only one of its tabs may hold a call.
// Calls start within `radius` (nearest first, at most `maxPeers`) and end beyond `radius × HANG_UP_FACTOR`:
// the gap keeps a call from flapping when someone stands at the edge. Every call carries one audio and one
// video transceiver from the start, so muting or turning the camera off never renegotiates; the state itself
// travels in `media` frames, which the server relays to the room.

/** Calls end beyond this multiple of the radius. */
export const HANG_UP_FACTOR = 1.25;
/** After a refused or failed call, wait this long before calling the same participant again, doubling with
 * each refusal in a row (another tab of theirs may hold the call) up to RECALL_MAX_MS. */
const RECALL_MS = 3_000;
const RECALL_MAX_MS = 30_000;
/** A call not connected this long after it started, or disconnected this long, is hung up and redialled. */
const CONNECT_TIMEOUT_MS = 15_000;
const DISCONNECTED_TIMEOUT_MS = 5_000;
/** After a reconnect, calls with people not (yet) seen again are kept this long. */
export const RECONNECT_GRACE_MS = 10_000;

/**
 * Loudness of a participant `distance` map units away, for a call radius `radius`: full volume up to 30 % of
 * the radius, then a quadratic fall to silence at the hang-up distance (docs/web-client.md).
 */
export function gainFor(distance, radius) {
  const full = radius * 0.3;
  const silent = radius * HANG_UP_FACTOR;
  if (distance <= full) return 1;
  if (distance >= silent) return 0;
  const t = (silent - distance) / (silent - full);
  return t * t;
}

class Peer {
  constructor(id, call, pc, distance) {
    this.id = id;
    this.call = call;
    this.pc = pc;
    /** The other side's tab, once known (from its offer or answer). */
    this.tab = null;
    this.pendingCandidates = [];
    this.stream = new MediaStream();
    this.audio = null;
    this.distance = distance;
    this.startedAt = Date.now();
    this.disconnectedAt = null;
  }
}

export class Proximity {
  /**
   * @param {object} options
   * @param {string} options.you
   * @param {(to: string, data: object) => boolean} options.signal sends a `signal` frame; false if it could not
   * @param {RTCIceServer[]} options.iceServers
   * @param {'all'|'relay'} options.iceTransportPolicy `relay`: every call goes through a TURN relay
   * @param {number} options.radius
   * @param {number} options.maxPeers
   * @param {() => {audio: MediaStreamTrack|null, video: MediaStreamTrack|null}} options.localTracks
   * @param {() => void} options.onChange called when calls start, end or get media
   */
  constructor({ you, signal, iceServers, iceTransportPolicy, radius, maxPeers, localTracks, onChange }) {
    this.you = you;
    this.tab = crypto.randomUUID();
    this.signal = signal;
    this.iceServers = iceServers;
    this.iceTransportPolicy = iceTransportPolicy ?? 'all';
    this.radius = radius;
    this.maxPeers = maxPeers;
    this.localTracks = localTracks;
    this.onChange = onChange;
    this.peers = new Map();
    this.recallAfter = new Map();
    this.refusals = new Map();
    this.acceptable = new Set();
    this.distances = new Map();
    this.graceUntil = 0;
    /** In a bridge conference: no calls, none answered (docs/protocol.md §5.12). */
    this.inConference = false;
  }

  /** Stops or resumes peer-to-peer calls while this participant is in a bridge conference. */
  setConference(inConference) {
    this.inConference = inConference;
    if (inConference) {
      this.acceptable = new Set();
      for (const id of [...this.peers.keys()]) this.hangUp(id, true);
    }
  }

  /**
   * Re-decides the calls from positions: `self` {x, y}; `others` [{id, x, y}] of the participants this client
   * can see (its area of interest).
   */
  update(self, others) {
    if (this.inConference) return;
    const now = Date.now();
    const ranked = others
      .map((o) => ({ id: o.id, distance: Math.hypot(o.x - self.x, o.y - self.y) }))
      .sort((a, b) => a.distance - b.distance);
    this.distances = new Map(ranked.map((r) => [r.id, r.distance]));
    // The calls to keep: the nearest `maxPeers` within reach, where reach is the radius for a new call and
    // the hang-up distance for one already up. People backing off from a refused call take no place.
    const keep = new Set();
    const want = new Set();
    this.acceptable = new Set();
    for (const { id, distance } of ranked) {
      const peer = this.peers.get(id);
      if (peer) peer.distance = distance;
      if (distance <= this.radius * HANG_UP_FACTOR && this.acceptable.size < this.maxPeers) this.acceptable.add(id);
      if (keep.size >= this.maxPeers) continue;
      if (peer && distance <= this.radius * HANG_UP_FACTOR) {
        keep.add(id);
      } else if (!peer && distance <= this.radius && (this.recallAfter.get(id) ?? 0) <= now) {
        want.add(id);
        keep.add(id);
      }
    }
    for (const [id, peer] of this.peers) {
      const unseen = !this.distances.has(id);
      if (!keep.has(id) && !(unseen && now < this.graceUntil)) {
        this.hangUp(id, true);
      } else if (this.#stuck(peer, now)) {
        this.#fail(peer);
      } else if (peer.audio) {
        peer.audio.volume = gainFor(peer.distance, this.radius);
      }
    }
    for (const id of want) {
      if (!this.peers.has(id) && this.you < id) this.#call(id);
    }
  }

  /** A `signal` frame from `from`. */
  async handleSignal(from, data) {
    if (!data || typeof data !== 'object') return;
    if (data.to !== undefined && data.to !== this.tab) return; // for another tab of this participant
    const peer = this.peers.get(from);
    switch (data.kind) {
      case 'offer': {
        const live = peer && peer.tab !== data.tab && !['failed', 'closed'].includes(peer.pc.connectionState);
        if (live || !this.acceptable.has(from)) {
          // Out of range or over the cap from here, or already in a call with another tab of theirs.
          this.signal(from, { kind: 'bye', call: data.call, tab: this.tab, to: data.tab });
          return;
        }
        if (peer) this.#close(peer);
        await this.#answer(from, data);
        return;
      }
      case 'answer':
        if (peer?.call !== data.call) return;
        if (peer.tab !== null && peer.tab !== data.tab) {
          // A second tab of theirs answered the same offer: it is not the one in the call.
          this.signal(from, { kind: 'bye', call: data.call, tab: this.tab, to: data.tab });
          return;
        }
        peer.tab = data.tab;
        try {
          await peer.pc.setRemoteDescription({ type: 'answer', sdp: data.sdp });
          this.#flushCandidates(peer);
        } catch {
          this.#fail(peer);
        }
        return;
      case 'candidate':
        if (peer?.call !== data.call || !data.candidate) return;
        if (peer.tab !== null && data.tab !== peer.tab) return;
        if (peer.pc.remoteDescription) await peer.pc.addIceCandidate(data.candidate).catch(() => {});
        else peer.pendingCandidates.push(data.candidate);
        return;
      case 'bye':
        if (peer?.call === data.call && (peer.tab === null || peer.tab === data.tab)) {
          const refused = peer.pc.connectionState !== 'connected';
          const count = refused ? (this.refusals.get(from) ?? 0) + 1 : 0;
          this.refusals.set(from, count);
          this.#close(peer);
          this.recallAfter.set(from, Date.now() + Math.min(RECALL_MAX_MS, RECALL_MS * 2 ** Math.max(0, count - 1)));
        }
        return;
    }
  }

  /** Ends the call with `id`; `notify` tells the other side. */
  hangUp(id, notify) {
    const peer = this.peers.get(id);
    if (!peer) return;
    if (notify) this.signal(id, { kind: 'bye', call: peer.call, tab: this.tab, ...(peer.tab ? { to: peer.tab } : {}) });
    this.#close(peer);
  }

  /**
   * New ICE servers (a token renewal brings fresh TURN credentials): calls placed from now on use them, and so
   * do the open ones whenever they gather candidates again. A relay they already hold keeps its credentials.
   */
  configure(iceServers, iceTransportPolicy) {
    this.iceServers = iceServers;
    this.iceTransportPolicy = iceTransportPolicy ?? 'all';
    for (const peer of this.peers.values()) {
      try {
        peer.pc.setConfiguration({ ...peer.pc.getConfiguration(), ...this.#configuration() });
      } catch {
        // A connection closing under us; its replacement gets the new servers.
      }
    }
  }

  closeAll() {
    for (const id of [...this.peers.keys()]) this.hangUp(id, true);
  }

  /**
   * Per call: connection state, RTP byte counts and the candidate types of the pair in use (`host`, `srflx`,
   * `prflx`, `relay`; null before one is chosen), from getStats, for diagnostics and tests.
   */
  async stats() {
    const result = {};
    for (const [id, peer] of this.peers) {
      const entry = { state: peer.pc.connectionState, bytesReceived: 0, bytesSent: 0, localCandidateType: null, remoteCandidateType: null };
      const report = await peer.pc.getStats();
      let pair = null;
      report.forEach((stat) => {
        if (stat.type === 'inbound-rtp') entry.bytesReceived += stat.bytesReceived ?? 0;
        if (stat.type === 'outbound-rtp') entry.bytesSent += stat.bytesSent ?? 0;
        if (stat.type === 'transport' && stat.selectedCandidatePairId) pair = report.get(stat.selectedCandidatePairId) ?? pair;
      });
      if (pair) {
        entry.localCandidateType = report.get(pair.localCandidateId)?.candidateType ?? null;
        entry.remoteCandidateType = report.get(pair.remoteCandidateId)?.candidateType ?? null;
      }
      result[id] = entry;
    }
    return result;
  }

  // MARK: calls

  /** A call that never connected, or lost its connection, within its deadline. */
  #stuck(peer, now) {
    const state = peer.pc.connectionState;
    if (state === 'connected') {
      peer.disconnectedAt = null;
      return false;
    }
    if (state === 'disconnected') {
      peer.disconnectedAt ??= now;
      return now - peer.disconnectedAt > DISCONNECTED_TIMEOUT_MS;
    }
    return now - peer.startedAt > CONNECT_TIMEOUT_MS;
  }

  async #call(id) {
    const peer = this.#open(id, crypto.randomUUID());
    const tracks = this.localTracks();
    peer.pc.addTransceiver(tracks.audio ?? 'audio', { direction: 'sendrecv' });
    peer.pc.addTransceiver(tracks.video ?? 'video', { direction: 'sendrecv' });
    try {
      const offer = await peer.pc.createOffer();
      if (this.peers.get(id) !== peer) return;
      await peer.pc.setLocalDescription(offer);
      if (this.peers.get(id) !== peer) return;
      if (!this.signal(id, { kind: 'offer', call: peer.call, tab: this.tab, sdp: offer.sdp })) this.#fail(peer);
    } catch {
      this.#fail(peer);
    }
  }

  async #answer(id, data) {
    const peer = this.#open(id, data.call);
    peer.tab = data.tab ?? null;
    try {
      await peer.pc.setRemoteDescription({ type: 'offer', sdp: data.sdp });
      const tracks = this.localTracks();
      for (const transceiver of peer.pc.getTransceivers()) {
        const kind = transceiver.receiver.track.kind;
        transceiver.direction = 'sendrecv';
        await transceiver.sender.replaceTrack(tracks[kind] ?? null);
      }
      const answer = await peer.pc.createAnswer();
      if (this.peers.get(id) !== peer) return;
      await peer.pc.setLocalDescription(answer);
      if (this.peers.get(id) !== peer) return;
      this.signal(id, { kind: 'answer', call: peer.call, tab: this.tab, to: peer.tab, sdp: answer.sdp });
      this.#flushCandidates(peer);
    } catch {
      this.#fail(peer);
    }
  }

  /** Ends a call that went wrong on this side (if it is still the current one) and waits before redialling. */
  #fail(peer) {
    if (this.peers.get(peer.id) !== peer) return;
    this.hangUp(peer.id, true);
    this.recallAfter.set(peer.id, Date.now() + RECALL_MS);
  }

  #open(id, call) {
    const pc = new RTCPeerConnection(this.#configuration());
    const peer = new Peer(id, call, pc, this.distances.get(id) ?? this.radius);
    this.peers.set(id, peer);
    pc.onicecandidate = (event) => {
      if (event.candidate && this.peers.get(id) === peer) {
        this.signal(id, { kind: 'candidate', call, tab: this.tab, ...(peer.tab ? { to: peer.tab } : {}), candidate: event.candidate.toJSON() });
      }
    };
    pc.ontrack = (event) => {
      peer.stream.addTrack(event.track);
      if (event.track.kind === 'audio') {
        peer.audio = new Audio();
        peer.audio.autoplay = true;
        peer.audio.srcObject = new MediaStream([event.track]);
        peer.audio.volume = gainFor(peer.distance, this.radius);
        peer.audio.play().catch(() => {});
      }
      this.onChange();
    };
    pc.onconnectionstatechange = () => {
      if (this.peers.get(id) !== peer) return;
      if (pc.connectionState === 'failed') this.#fail(peer);
      if (pc.connectionState === 'connected') this.refusals.delete(id);
      this.onChange();
    };
    this.onChange();
    return peer;
  }

  #configuration() {
    return { iceServers: this.iceServers, iceTransportPolicy: this.iceTransportPolicy };
  }

  #flushCandidates(peer) {
    for (const candidate of peer.pendingCandidates.splice(0)) peer.pc.addIceCandidate(candidate).catch(() => {});
  }

  #close(peer) {
    if (this.peers.get(peer.id) === peer) this.peers.delete(peer.id);
    peer.pc.onicecandidate = peer.pc.ontrack = peer.pc.onconnectionstatechange = null;
    peer.pc.close();
    if (peer.audio) {
      peer.audio.srcObject = null;
      peer.audio = null;
    }
    this.onChange();
  }
}
