// Plaza's browser client: the lobby, then the space with its chat, calls and controls.

import { Lobby } from './lobby.js';
import { Session, JoinError } from './session.js';
import { SpaceMap } from './map.js';
import { Space, isField } from './space.js';
import { Chat } from './chat.js';
import { Proximity, RECONNECT_GRACE_MS } from './proximity.js';
import { Bridge } from './bridge.js';
import { VideoStrip, badge, isolated } from './videos.js';
import { avatarHue } from './render/renderer.js';

const $ = (id) => document.getElementById(id);
const EMOTE_KEYS = { Digit1: '👋', Digit2: '🎉', Digit3: '❤️', Digit4: '😂', Digit5: '👍' };
const TOKEN_KEY = (room) => `plaza:token:${room}`;

async function main() {
  const lobby = new Lobby({
    lobby: $('lobby'), form: $('lobby-form'), name: $('name'), room: $('room'), mic: $('mic'), camera: $('camera'),
    preview: $('preview'), previewOff: $('preview-off'), level: $('mic-level'), message: $('lobby-message'),
  });
  $('join').disabled = true; // until the devices are settled, so a join never races the permission prompt
  await lobby.open();
  $('join').disabled = false;

  for (;;) {
    const choice = await lobby.submitted();
    $('join').disabled = true;
    lobby.say('Joining…');
    try {
      const response = await fetch('/api/v1/space', { signal: AbortSignal.timeout(10_000) });
      if (!response.ok) throw new Error(`the server did not describe the space (${response.status})`);
      const description = await response.json();
      const map = SpaceMap.fromJSON(description.map);
      await enter(choice, description, map);
      lobby.close();
      return;
    } catch (error) {
      lobby.say(error instanceof JoinError ? joinMessage(error) : `Could not join: ${error.message}`, true);
    } finally {
      $('join').disabled = false;
    }
  }
}

function joinMessage(error) {
  switch (error.code) {
    case 'room_full': return 'This room is full. Try again later or pick another room.';
    case 'invalid_name': return 'That name cannot be used: 1–64 characters, no control characters.';
    case 'invalid_room': return 'That room name cannot be used.';
    case 'unauthorized':
    case 'forbidden':
    case 'token_expired': return `The server refused to let you in: ${error.message}`;
    default: return error.message;
  }
}

/** Joins the room and runs the space until the user leaves or the server refuses us for good. */
async function enter(choice, description, map) {
  const stream = choice.stream;
  const media = { audio: choice.audio, video: choice.video };
  const tracks = () => ({ audio: stream.getAudioTracks()[0] ?? null, video: stream.getVideoTracks()[0] ?? null });
  let chat = null;
  const session = new Session({
    room: choice.room,
    name: choice.name,
    token: sessionStorage.getItem(TOKEN_KEY(choice.room)),
    media: () => media,
    since: () => chat?.resumeOffset ?? -1,
  });
  session.addEventListener('token', (event) => sessionStorage.setItem(TOKEN_KEY(choice.room), event.detail.token));
  await session.start();

  $('space').hidden = false;
  $('room-title').textContent = choice.room;
  document.title = `${choice.room} · Plaza`;
  history.replaceState(null, '', `/r/${encodeURIComponent(choice.room)}`);
  const sidebar = $('sidebar');
  const narrow = matchMedia('(max-width: 700px)');
  if (narrow.matches) sidebar.classList.add('closed');

  let unreadCount = 0;
  const setUnread = (count) => {
    unreadCount = count;
    $('unread').hidden = count === 0;
    $('unread').textContent = String(count);
    document.title = `${count ? `(${count}) ` : ''}${choice.room} · Plaza`;
  };
  const chatVisible = () => !$('chat-panel').hidden && !sidebar.classList.contains('closed');
  chat = new Chat({ session, list: $('messages'), form: $('chat-form'), input: $('chat-input'), onUnread: setUnread, isVisible: chatVisible });
  window.addEventListener('focus', () => chatVisible() && chat.markRead());

  const videos = new VideoStrip($('videos'));
  let proximity = null;
  let bridge = null;
  /** The last `conference` frame with a conference, while it stands. */
  let conference = null;
  let switchTimer = null;
  const space = new Space({
    canvas: $('map'),
    map,
    send: (frame) => session.send(frame),
    tickHz: description.tickHz,
    proximityRadius: description.proximity.radius,
    onRosterChange: () => renderPeople(),
  });
  // Each token renewal brings fresh TURN credentials (they expire): new calls use them, and open ones take them.
  session.addEventListener('token', () => {
    proximity?.configure(session.iceServers, session.iceTransportPolicy);
    bridge?.configure(session.iceServers, session.iceTransportPolicy);
  });
  const refreshVideos = () => {
    videos.update(new Map([...(proximity?.peers ?? []), ...(bridge?.peers ?? [])]), space, stream, media);
    renderConference();
  };
  // Who is in this conference with you: a meeting zone by its name, a bubble as a group call.
  const renderConference = () => {
    const box = $('conference');
    box.hidden = !conference;
    if (!conference) return;
    const zone = conference.zone != null ? (map.zones ?? []).find((z) => z.id === conference.zone) : null;
    const names = [...(bridge?.peers.keys() ?? [])].map((id) => space.people.get(id)?.name).filter(Boolean).sort();
    box.replaceChildren();
    const title = document.createElement('strong');
    title.textContent = zone ? zone.name : 'Group call';
    box.append(title, ` · ${names.length + 1} here: `);
    names.forEach((name, index) => box.append(isolated(name), index < names.length - 1 ? ', ' : ''));
    if (names.length) box.append(' and ');
    box.append('you');
    box.dataset.zone = conference.zone ?? '';
  };
  // Switching between peer-to-peer calls and the bridge overlaps both for a moment, so that what people hear
  // has no gap: calls end once the bridge brings sound (or after SWITCH_MS), the bridge ends SWITCH_MS after
  // calls start again.
  const SWITCH_MS = 2_000;
  const handleConference = (frame) => {
    clearTimeout(switchTimer);
    if (frame.conference) {
      conference = frame;
      bridge?.enter(frame);
      const started = Date.now();
      const handOver = () => {
        const heard = [...(bridge?.peers.values() ?? [])].some((p) => p.audio);
        if (!conference) return;
        if (heard || Date.now() - started >= SWITCH_MS) proximity?.setConference(true);
        else switchTimer = setTimeout(handOver, 100);
      };
      handOver();
    } else {
      conference = null;
      proximity?.setConference(false);
      switchTimer = setTimeout(() => bridge?.leave(), SWITCH_MS);
    }
    refreshVideos();
  };

  // Media state is set, never toggled: every change sends the complete state, and so does every welcome,
  // since a connection joining a participant that is already here keeps the server's older state.
  const applyMedia = () => {
    const t = tracks();
    if (t.audio) t.audio.enabled = media.audio;
    if (t.video) t.video.enabled = media.video;
    session.send({ type: 'media', audio: media.audio, video: media.video });
    if (space.self) Object.assign(space.self, media);
    renderControls();
    renderPeople();
    refreshVideos();
  };
  const setMedia = (change) => {
    Object.assign(media, change);
    applyMedia();
  };
  const renderControls = () => {
    const t = tracks();
    const mic = $('mic-button');
    mic.textContent = media.audio ? 'Mute' : 'Unmute';
    mic.disabled = !t.audio;
    mic.title = t.audio ? '' : 'No microphone was chosen in the lobby';
    mic.classList.toggle('off', !media.audio);
    const cam = $('camera-button');
    cam.textContent = media.video ? 'Camera off' : 'Camera on';
    cam.disabled = !t.video;
    cam.title = t.video ? '' : 'No camera was chosen in the lobby';
    cam.classList.toggle('off', !media.video);
  };
  const renderPeople = () => {
    const list = $('people');
    list.replaceChildren();
    const everyone = [...(space.self ? [space.self] : []), ...space.people.values()];
    $('people-count').textContent = String(everyone.length);
    for (const p of everyone) {
      const item = document.createElement('li');
      item.dataset.id = p.id;
      const dot = document.createElement('span');
      dot.className = 'dot';
      dot.style.background = `hsl(${avatarHue(p.id)}, 62%, 70%)`;
      const name = document.createElement('span');
      name.append(isolated(p.name), p === space.self ? ' (you)' : '');
      item.append(dot, name);
      if (!p.audio) item.append(badge('muted', 'muted'));
      if (!p.video) item.append(badge('camoff', 'camera off'));
      list.append(item);
    }
    refreshVideos();
  };

  let first = true;
  session.addEventListener('welcome', async (event) => {
    const welcome = event.detail;
    space.welcomed(welcome, first, media);
    if (!proximity || proximity.you !== welcome.you) {
      proximity?.closeAll();
      proximity = new Proximity({
        you: welcome.you,
        signal: (to, data) => session.send({ type: 'signal', to, data }),
        iceServers: session.iceServers,
        iceTransportPolicy: session.iceTransportPolicy,
        radius: description.proximity.radius,
        maxPeers: description.proximity.maxPeers,
        localTracks: tracks,
        onChange: refreshVideos,
      });
      bridge?.leave();
      bridge = new Bridge({
        you: welcome.you,
        iceServers: session.iceServers,
        iceTransportPolicy: session.iceTransportPolicy,
        radius: description.proximity.radius,
        localTracks: tracks,
        onChange: refreshVideos,
      });
      conference = null;
    } else {
      // Calls are browser to browser and survive the server: keep them while everyone reconnects.
      proximity.graceUntil = Date.now() + RECONNECT_GRACE_MS;
    }
    applyMedia();
    first = false;
    await chat.welcomed(welcome);
  });
  session.addEventListener('frame', (event) => {
    const frame = event.detail;
    switch (frame.type) {
      case 'chat':
      case 'ack':
      case 'error':
        chat.handle(frame);
        break;
      case 'signal':
        proximity?.handleSignal(frame.from, frame.data);
        break;
      case 'conference':
        handleConference(frame);
        break;
      case 'left':
        proximity?.hangUp(frame.id, false);
        space.handle(frame);
        break;
      default:
        space.handle(frame);
    }
  });
  session.addEventListener('state', (event) => {
    const banner = $('banner');
    const status = $('status');
    const state = event.detail;
    banner.hidden = state !== 'reconnecting';
    banner.textContent = 'Connection lost — reconnecting…';
    status.textContent = state === 'open' ? 'connected' : state;
    status.classList.toggle('bad', state !== 'open');
  });
  session.addEventListener('identity', () => {
    // The old token was refused: this is a new participant now, and unsent messages would be posted again
    // under another name.
    chat.abandonOutbox('you rejoined as a new guest');
  });
  session.addEventListener('fatal', (event) => {
    proximity?.closeAll();
    bridge?.leave();
    stream.getTracks().forEach((t) => t.stop());
    $('fatal-text').textContent = event.detail.message;
    $('fatal').hidden = false;
    $('fatal-back').focus();
  });
  $('fatal-back').addEventListener('click', () => location.reload());

  // Calls follow positions a few times a second; volumes follow distance.
  setInterval(() => {
    if (proximity && space.self && session.isOpen) proximity.update(space.self, space.visiblePeople());
    if (bridge && space.self) bridge.update(space.self, new Map(space.visiblePeople().map((p) => [p.id, p])));
  }, 250);

  $('mic-button').addEventListener('click', () => setMedia({ audio: !media.audio }));
  $('camera-button').addEventListener('click', () => setMedia({ video: !media.video }));
  for (const button of document.querySelectorAll('[data-emote]')) {
    button.addEventListener('click', () => space.emote(button.dataset.emote));
  }
  // After a pointer press on a control, the keys walk again (keyboard users keep their focus).
  for (const button of document.querySelectorAll('.controls button')) {
    button.addEventListener('pointerup', () => setTimeout(() => $('map').focus(), 0));
  }
  // The side panel holds the chat and the people. On a wide screen both fit, one above the other, and each
  // button shows or hides its own; on a phone the panel is a sheet over the map with one of them at a time.
  // The buttons are pressed while their panel is open; with neither open the map takes the whole width.
  const panels = { chat: $('chat-panel'), people: $('people-panel') };
  const panelButtons = { chat: $('chat-button'), people: $('people-button') };
  const panelOpen = (name) => !sidebar.classList.contains('closed') && !panels[name].hidden;
  const setPanels = (open) => {
    const chatWasVisible = chatVisible();
    for (const name of ['chat', 'people']) {
      panels[name].hidden = !open[name];
      panelButtons[name].setAttribute('aria-pressed', String(Boolean(open[name])));
    }
    sidebar.classList.toggle('closed', !open.chat && !open.people);
    if (!chatWasVisible && chatVisible()) chat.shown();
  };
  const togglePanel = (name) => {
    const other = name === 'chat' ? 'people' : 'chat';
    setPanels({ [name]: !panelOpen(name), [other]: !narrow.matches && panelOpen(other) });
  };
  const openChat = () => setPanels({ chat: true, people: !narrow.matches && panelOpen('people') });
  const defaultPanels = () => setPanels({ chat: !narrow.matches, people: !narrow.matches });
  panelButtons.chat.addEventListener('click', () => togglePanel('chat'));
  panelButtons.people.addEventListener('click', () => togglePanel('people'));
  narrow.addEventListener('change', defaultPanels);
  defaultPanels();
  $('leave-button').addEventListener('click', () => {
    proximity?.closeAll();
    bridge?.leave();
    session.stop();
    chat.clearOutbox();
    sessionStorage.removeItem(TOKEN_KEY(choice.room));
    stream.getTracks().forEach((t) => t.stop());
    location.href = '/';
  });

  // Keyboard: Enter opens the chat, Escape returns to the map, 1–5 react.
  window.addEventListener('keydown', (event) => {
    const typing = isField(event.target);
    if (event.key === 'Escape') {
      if (typing) event.target.blur();
      if (narrow.matches) setPanels({ chat: false, people: false }); // the sheet covers the map on a phone
      $('map').focus();
    } else if (!typing && event.key === 'Enter' && !(event.target instanceof HTMLButtonElement)) {
      event.preventDefault();
      openChat();
      $('chat-input').focus();
    } else if (!typing && EMOTE_KEYS[event.code] && !event.repeat && !event.ctrlKey && !event.metaKey) {
      space.emote(EMOTE_KEYS[event.code]);
    }
  });
  $('chat-input').addEventListener('focus', () => chat.shown());
  renderControls();
  $('map').focus();

  // Hooks for diagnostics and the browser tests: read-only views plus the actions a user can take.
  window.plaza = {
    session,
    you: () => space.self && { ...space.self },
    avatars: () => Object.fromEntries(space.view(performance.now()).avatars.map((a) => [a.id, a])),
    roster: () => Object.fromEntries([...space.people.values()].map((p) => [p.id, { name: p.name, audio: p.audio, video: p.video, visible: p.visible }])),
    walkTo: (x, y) => space.walkTo(x, y),
    isWalking: () => Boolean(space.path),
    mapToScreen: (x, y) => space.renderer.mapToScreen?.(x, y),
    drawOrder: () => space.renderer.drawOrder(space.view(performance.now())),
    calls: () => (proximity ? proximity.stats() : {}),
    conference: () => conference && { ...conference, token: undefined, pin: undefined },
    bridge: () => (bridge ? bridge.stats() : { sent: 0, peers: {} }),
    dropConnection: () => session.drop(),
    unread: () => unreadCount,
  };
}

main();
