// Proximity calls: a WebRTC connection to each nearby participant, set up and torn down as people walk.
//
// Of each pair, the participant with the smaller id places the call, so two browsers never offer at once.
// Calls start within `radius` (nearest first, at most `maxPeers`) and end beyond `radius × HANG_UP_FACTOR`:
// the gap keeps a call from flapping when someone stands at the edge. Every call carries one audio and one
// video transceiver from the start, so muting or turning the camera off never renegotiates; the state itself
// travels in `media` frames, which the server relays to the room.

/** Calls end beyond this multiple of the radius. */
export const HANG_UP_FACTOR = 1.25;
/** After a refused or failed call, wait this long before calling the same participant again. */
const RECALL_MS = 3_000;

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
  constructor(id, call, pc) {
    this.id = id;
    this.call = call;
    this.pc = pc;
    this.pendingCandidates = [];
    this.stream = new MediaStream();
    this.audio = null;
    this.distance = Infinity;
  }
}

export class Proximity {
  /**
   * @param {object} options
   * @param {string} options.you
   * @param {(to: string, data: object) => void} options.signal sends a `signal` frame
   * @param {RTCIceServer[]} options.iceServers
   * @param {number} options.radius
   * @param {number} options.maxPeers
   * @param {() => {audio: MediaStreamTrack|null, video: MediaStreamTrack|null}} options.localTracks
   * @param {() => void} options.onChange called when calls start, end or get media
   */
  constructor({ you, signal, iceServers, radius, maxPeers, localTracks, onChange }) {
    this.you = you;
    this.signal = signal;
    this.iceServers = iceServers;
    this.radius = radius;
    this.maxPeers = maxPeers;
    this.localTracks = localTracks;
    this.onChange = onChange;
    this.peers = new Map();
    this.recallAfter = new Map();
  }

  /**
   * Re-decides the calls from positions: `self` {x, y}; `others` [{id, x, y}] of the participants this client
   * can see (its area of interest).
   */
  update(self, others) {
    const ranked = others
      .map((o) => ({ id: o.id, distance: Math.hypot(o.x - self.x, o.y - self.y) }))
      .sort((a, b) => a.distance - b.distance);
    this.distances = new Map(ranked.map((r) => [r.id, r.distance]));
    const keep = new Set();
    const want = new Set();
    for (const { id, distance } of ranked) {
      const peer = this.peers.get(id);
      if (peer) peer.distance = distance;
      if (keep.size >= this.maxPeers) break;
      if (distance <= this.radius * HANG_UP_FACTOR && peer) keep.add(id);
      if (distance <= this.radius) {
        want.add(id);
        keep.add(id);
      }
    }
    for (const [id, peer] of this.peers) {
      if (!keep.has(id)) this.hangUp(id, true);
      else if (peer.audio) peer.audio.volume = gainFor(peer.distance, this.radius);
    }
    const now = Date.now();
    for (const id of want) {
      if (this.peers.has(id) || this.you >= id) continue;
      if ((this.recallAfter.get(id) ?? 0) > now) continue;
      this.#call(id);
    }
  }

  /** A `signal` frame from `from`. */
  async handleSignal(from, data) {
    if (!data || typeof data !== 'object') return;
    const peer = this.peers.get(from);
    switch (data.kind) {
      case 'offer': {
        if (peer) this.#close(peer);
        const distance = this.distances?.get(from) ?? Infinity;
        if (distance > this.radius * HANG_UP_FACTOR || this.peers.size >= this.maxPeers) {
          // Out of range or over the cap from here: refuse, the caller backs off.
          this.signal(from, { kind: 'bye', call: data.call });
          return;
        }
        await this.#answer(from, data);
        return;
      }
      case 'answer':
        if (peer?.call === data.call) {
          await peer.pc.setRemoteDescription({ type: 'answer', sdp: data.sdp }).catch(() => this.hangUp(from, true));
          this.#flushCandidates(peer);
        }
        return;
      case 'candidate':
        if (peer?.call !== data.call || !data.candidate) return;
        if (peer.pc.remoteDescription) await peer.pc.addIceCandidate(data.candidate).catch(() => {});
        else peer.pendingCandidates.push(data.candidate);
        return;
      case 'bye':
        if (peer?.call === data.call) {
          this.#close(peer);
          this.recallAfter.set(from, Date.now() + RECALL_MS);
        }
        return;
    }
  }

  /** Ends the call with `id`; `notify` tells the other side. */
  hangUp(id, notify) {
    const peer = this.peers.get(id);
    if (!peer) return;
    if (notify) this.signal(id, { kind: 'bye', call: peer.call });
    this.#close(peer);
  }

  /** Puts the current local tracks on every call (after the user picks another device). */
  replaceTracks() {
    const tracks = this.localTracks();
    for (const peer of this.peers.values()) {
      for (const transceiver of peer.pc.getTransceivers()) {
        const kind = transceiver.receiver.track?.kind;
        if (kind) transceiver.sender.replaceTrack(tracks[kind]).catch(() => {});
      }
    }
  }

  closeAll() {
    for (const id of [...this.peers.keys()]) this.hangUp(id, true);
  }

  /** Per call: connection state and RTP byte counts (from getStats), for diagnostics and tests. */
  async stats() {
    const result = {};
    for (const [id, peer] of this.peers) {
      const entry = { state: peer.pc.connectionState, bytesReceived: 0, bytesSent: 0 };
      const report = await peer.pc.getStats();
      report.forEach((stat) => {
        if (stat.type === 'inbound-rtp') entry.bytesReceived += stat.bytesReceived ?? 0;
        if (stat.type === 'outbound-rtp') entry.bytesSent += stat.bytesSent ?? 0;
      });
      result[id] = entry;
    }
    return result;
  }

  // MARK: calls

  async #call(id) {
    const peer = this.#open(id, crypto.randomUUID());
    const tracks = this.localTracks();
    peer.pc.addTransceiver(tracks.audio ?? 'audio', { direction: 'sendrecv' });
    peer.pc.addTransceiver(tracks.video ?? 'video', { direction: 'sendrecv' });
    try {
      const offer = await peer.pc.createOffer();
      if (this.peers.get(id) !== peer) return;
      await peer.pc.setLocalDescription(offer);
      this.signal(id, { kind: 'offer', call: peer.call, sdp: offer.sdp });
    } catch {
      this.hangUp(id, false);
      this.recallAfter.set(id, Date.now() + RECALL_MS);
    }
  }

  async #answer(id, data) {
    const peer = this.#open(id, data.call);
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
      this.signal(id, { kind: 'answer', call: peer.call, sdp: answer.sdp });
      this.#flushCandidates(peer);
    } catch {
      this.hangUp(id, true);
    }
  }

  #open(id, call) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    const peer = new Peer(id, call, pc);
    this.peers.set(id, peer);
    pc.onicecandidate = (event) => {
      if (event.candidate && this.peers.get(id) === peer) {
        this.signal(id, { kind: 'candidate', call, candidate: event.candidate.toJSON() });
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
      if (pc.connectionState === 'failed') {
        this.hangUp(id, true);
        this.recallAfter.set(id, Date.now() + RECALL_MS);
      }
      this.onChange();
    };
    this.onChange();
    return peer;
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
