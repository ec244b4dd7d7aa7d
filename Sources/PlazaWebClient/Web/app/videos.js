// The strip of video tiles: you (while your camera is on) and everyone you are in a call with.

export class VideoStrip {
  constructor(container) {
    this.container = container;
    this.tiles = new Map(); // id → {root, video, initial, label}
  }

  /**
   * @param {Map<string, {stream: MediaStream, pc: RTCPeerConnection}>} peers the calls
   * @param {{self: object, people: Map<string, object>}} space who is who, and their media state
   * @param {MediaStream} local your own stream
   * @param {{audio: boolean, video: boolean}} media your media state
   */
  update(peers, space, local, media) {
    const wanted = new Map();
    if (space.self && media.video && local.getVideoTracks().length) {
      wanted.set(space.self.id, { stream: local, person: { ...space.self, ...media }, self: true });
    }
    for (const [id, peer] of peers) {
      const person = space.people.get(id);
      if (person) wanted.set(id, { stream: peer.stream, person, self: false });
    }
    for (const [id, tile] of this.tiles) {
      if (!wanted.has(id)) {
        tile.video.srcObject = null;
        tile.root.remove();
        this.tiles.delete(id);
      }
    }
    for (const [id, { stream, person, self }] of wanted) {
      const tile = this.tiles.get(id) ?? this.#create(id, self);
      if (tile.video.srcObject !== stream) {
        tile.video.srcObject = stream;
        tile.video.play().catch(() => {});
      }
      const showVideo = person.video && stream.getVideoTracks().length > 0;
      tile.video.hidden = !showVideo;
      tile.initial.hidden = showVideo;
      tile.initial.textContent = (person.name || '?').slice(0, 1).toUpperCase();
      tile.label.replaceChildren(isolated(person.name), self ? ' (you)' : '');
      if (!person.audio) tile.label.append(badge('muted', 'muted'));
      tile.root.dataset.audio = String(person.audio);
      tile.root.dataset.video = String(person.video);
    }
  }

  #create(id, self) {
    const root = document.createElement('div');
    root.className = self ? 'tile self' : 'tile';
    root.dataset.id = id;
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true; // sound plays through the call's own audio element, at a distance-dependent volume
    const initial = document.createElement('div');
    initial.className = 'initial';
    const label = document.createElement('div');
    label.className = 'label';
    root.append(video, initial, label);
    if (self) this.container.prepend(root);
    else this.container.append(root);
    const tile = { root, video, initial, label };
    this.tiles.set(id, tile);
    return tile;
  }
}

/** A name as an isolated run of text (`<bdi>`): whatever its direction, it cannot reorder what is beside it. */
export function isolated(text) {
  const bdi = document.createElement('bdi');
  bdi.textContent = text;
  return bdi;
}

export function badge(kind, text) {
  const span = document.createElement('span');
  span.className = `badge ${kind}`;
  span.textContent = text;
  return span;
}
