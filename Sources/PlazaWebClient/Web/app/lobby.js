// The lobby: name, room, microphone and camera (each with "None"), a live preview, then join.
//
// The devices chosen here fix the initial media state announced in `hello`: audio is on exactly when a
// microphone is chosen and video when a camera is, even before any track exists.

const NAME_KEY = 'plaza:name';

export class Lobby {
  constructor(elements) {
    this.el = elements;
    this.stream = null;
    this.meterFrame = 0;
    this.meterContext = null;
    this.acquiring = 0;
    this.resolveSubmit = null;
    this.el.name.value = localStorage.getItem(NAME_KEY) ?? '';
    this.el.room.value = roomFromPath() ?? localStorage.getItem('plaza:room') ?? 'lobby';
    /** The device change in progress: Join waits for it, so it never takes a half-opened stream. */
    this.acquisition = Promise.resolve();
    this.el.mic.addEventListener('change', () => (this.acquisition = this.#acquire()));
    this.el.camera.addEventListener('change', () => (this.acquisition = this.#acquire()));
    this.el.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#submit();
    });
  }

  /** Asks for the devices once (for their labels and the preview), then fills the pickers. */
  async open() {
    this.el.lobby.hidden = false;
    if (!navigator.mediaDevices?.getUserMedia) {
      this.say('Camera and microphone need a secure page (https:// or localhost). You can still join, walk and chat.');
      return;
    }
    try {
      const probe = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      probe.getTracks().forEach((t) => t.stop());
    } catch (error) {
      // One of the two may still be allowed (or present); ask for each alone.
      const allowed = [];
      for (const kind of ['audio', 'video']) {
        try {
          const probe = await navigator.mediaDevices.getUserMedia({ [kind]: true });
          probe.getTracks().forEach((t) => t.stop());
          allowed.push(kind);
        } catch {}
      }
      if (allowed.length < 2) this.say(deviceMessage(error, allowed));
    }
    const devices = await navigator.mediaDevices.enumerateDevices();
    fill(this.el.mic, devices.filter((d) => d.kind === 'audioinput' && d.deviceId), 'Microphone');
    fill(this.el.camera, devices.filter((d) => d.kind === 'videoinput' && d.deviceId), 'Camera');
    this.acquisition = this.#acquire();
    await this.acquisition;
  }

  /** The form's values once the user presses Join: {name, room, stream, audio, video}. */
  submitted() {
    return new Promise((resolve) => {
      this.resolveSubmit = resolve;
    });
  }

  async #submit() {
    await this.acquisition;
    if (!this.resolveSubmit) return;
    const name = this.el.name.value.trim();
    const room = this.el.room.value.trim();
    if (!name) return this.say('Please enter your name.', true);
    if (!/^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$/.test(room)) {
      return this.say('Room names are 1–64 letters, digits, "-", "_" or "." (not starting with ".").', true);
    }
    localStorage.setItem(NAME_KEY, name);
    localStorage.setItem('plaza:room', room);
    const resolve = this.resolveSubmit;
    this.resolveSubmit = null;
    resolve({
      name,
      room,
      stream: this.stream ?? new MediaStream(),
      audio: Boolean(this.stream?.getAudioTracks().length),
      video: Boolean(this.stream?.getVideoTracks().length),
    });
  }

  say(text, isError = false) {
    this.el.message.textContent = text;
    this.el.message.classList.toggle('error', isError);
  }

  close() {
    this.el.lobby.hidden = true;
    this.el.preview.srcObject = null;
    this.#stopMeter();
  }

  /** Opens the chosen devices (stopping the previous ones) and shows them in the preview. */
  async #acquire() {
    const attempt = ++this.acquiring;
    this.stream?.getTracks().forEach((t) => t.stop());
    this.stream = null;
    const mic = this.el.mic.value;
    const camera = this.el.camera.value;
    if (mic || camera) {
      try {
        const stream = await navigator.mediaDevices.getUserMedia({
          audio: mic ? { deviceId: { exact: mic } } : false,
          video: camera ? { deviceId: { exact: camera }, width: { ideal: 640 }, height: { ideal: 480 } } : false,
        });
        if (attempt !== this.acquiring) {
          stream.getTracks().forEach((t) => t.stop()); // a newer choice was made meanwhile
          return;
        }
        this.stream = stream;
      } catch (error) {
        if (attempt !== this.acquiring) return;
        this.say(deviceMessage(error, []), true);
        this.el.mic.value = '';
        this.el.camera.value = '';
      }
    }
    const hasVideo = Boolean(this.stream?.getVideoTracks().length);
    this.el.preview.srcObject = hasVideo ? this.stream : null;
    this.el.previewOff.hidden = hasVideo;
    this.#meter();
  }

  #stopMeter() {
    cancelAnimationFrame(this.meterFrame);
    this.meterContext?.close().catch(() => {});
    this.meterContext = null;
  }

  #meter() {
    this.#stopMeter();
    this.el.level.value = 0;
    const track = this.stream?.getAudioTracks()[0];
    if (!track) return;
    const context = new AudioContext();
    this.meterContext = context;
    const analyser = context.createAnalyser();
    context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const samples = new Uint8Array(analyser.fftSize);
    const tick = () => {
      if (track.readyState !== 'live' || context !== this.meterContext) return;
      analyser.getByteTimeDomainData(samples);
      let peak = 0;
      for (const s of samples) peak = Math.max(peak, Math.abs(s - 128) / 128);
      this.el.level.value = peak;
      this.meterFrame = requestAnimationFrame(tick);
    };
    tick();
  }
}

/** The room named by a `/r/<room>` URL. */
export function roomFromPath() {
  const match = location.pathname.match(/^\/r\/([^/]+)\/?$/);
  return match ? decodeURIComponent(match[1]) : null;
}

function fill(select, devices, label) {
  for (const [i, device] of devices.entries()) {
    const option = document.createElement('option');
    option.value = device.deviceId;
    option.textContent = device.label || `${label} ${i + 1}`;
    select.append(option);
  }
  if (devices.length) select.value = devices[0].deviceId;
}

function deviceMessage(error, allowed) {
  const missing = ['audio', 'video'].filter((k) => !allowed.includes(k)).map((k) => (k === 'audio' ? 'microphone' : 'camera'));
  const what = missing.join(' and ') || 'camera and microphone';
  if (error?.name === 'NotAllowedError') {
    return `Access to your ${what} was denied. You can join without, or allow it in the browser's site settings and reload.`;
  }
  if (error?.name === 'NotFoundError') return `No ${what} found. You can join without.`;
  if (error?.name === 'NotReadableError') return `Your ${what} is in use by another program.`;
  return `Your ${what} could not be opened (${error?.name ?? 'error'}). You can join without.`;
}
