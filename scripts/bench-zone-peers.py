#!/usr/bin/env python3
"""Synthetic participants of one meeting zone on Janus, for `plaza bench zone`: each publishes audio and video
and subscribes to every other participant's streams, with aiortc (PyPI: scripts/requirements-bench.txt) as the
WebRTC peer.

To keep the generator from being the bottleneck, the clip is encoded once at start (VP8 aiming at 300 kbit/s,
about 210 measured, and Opus at 32 kbit/s, 640×360 at 25 fps) and every publisher sends its packets, paced by the wall clock and looped, without
encoding; subscribers count the bytes they receive without decoding them. Every participant starts at a random
moment within the first second, so the load is paced, not a synchronized burst. aiortc answers the second video
m-line of a multistream offer as rejected, so each participant takes one subscription per publisher (the web
client takes one multistream subscription for all); Janus forwards the same streams either way.

A meeting may be split over several processes (one Python process uses one core), each with some of its
participants: each waits until all `publishers` of the room publish, subscribes, prints `ready`, and waits for
the file `go` to exist, so that every process measures the same window.

Input (a JSON file, argument 1): {"api": Janus's HTTP API URL, "participants": [{"id", "room", "pin", "token"}],
"publishers": publishers in the room, "go": a path, "warmup": seconds, "seconds": seconds}. Prints `window-start`
and `window-end` lines around the measured window, then one JSON line: the clip's bytes per second (audio,
video), per participant the bytes per second sent and received from each other participant (audio and video),
and this process's CPU (cores).
"""

import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from fractions import Fraction

import av
import aiortc.rtcrtpreceiver as receiver_module
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription


def count_only(loop, input_q, output_q, decode_error):
    """Replaces aiortc's decoder thread: the frames are counted by getStats, never decoded."""
    while input_q.get() is not None:
        pass


receiver_module.decoder_worker = count_only
_handle_rtp_packet = receiver_module.RTCRtpReceiver._handle_rtp_packet


async def counting_rtp_packet(self, packet, arrival_time_ms):
    """aiortc's inbound statistics have packets but no bytes: count the payload bytes here."""
    self.plaza_bytes = getattr(self, "plaza_bytes", 0) + len(packet.payload)
    await _handle_rtp_packet(self, packet, arrival_time_ms)


receiver_module.RTCRtpReceiver._handle_rtp_packet = counting_rtp_packet


def make_clip(path: str, seconds: int = 6):
    """A 640×360 VP8 video at 25 fps (aiming at 300 kbit/s) with an Opus tone, encoded once."""
    container = av.open(path, mode="w", format="webm")
    video = container.add_stream("libvpx", rate=25)
    video.width, video.height, video.pix_fmt = 640, 360, "yuv420p"
    video.bit_rate = 300_000
    audio = container.add_stream("libopus", rate=48000)
    audio.bit_rate = 32_000
    import numpy
    random_frames = numpy.random.default_rng(7)
    base = random_frames.integers(0, 255, (360, 640, 3), dtype=numpy.uint8)
    for index in range(seconds * 25):
        # A moving noisy picture: a camera's worth of detail, so the encoder spends its bitrate.
        moving = numpy.roll(base, index * 4, axis=1)
        moving[::8, :, :] = random_frames.integers(0, 255, (45, 640, 3), dtype=numpy.uint8)
        frame = av.VideoFrame.from_ndarray(moving, format="rgb24")
        for packet in video.encode(frame):
            container.mux(packet)
    samples = 960
    for index in range(seconds * 50):
        t = (numpy.arange(samples) + index * samples) / 48000
        tone = (numpy.sin(2 * numpy.pi * 440 * t) * 8000).astype(numpy.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = index * samples
        for packet in audio.encode(frame):
            container.mux(packet)
    for stream in (video, audio):
        for packet in stream.encode():
            container.mux(packet)
    container.close()


TIME_BASE = Fraction(1, 90000)


def read_clip(path: str) -> tuple[dict, float]:
    """The clip's packets by kind, as (seconds from start, payload), and its length in seconds."""
    packets = {"audio": [], "video": []}
    container = av.open(path)
    for packet in container.demux():
        if packet.size and packet.pts is not None:
            packets[packet.stream.type].append((float(packet.pts * packet.time_base), bytes(packet)))
    container.close()
    duration = max(packets["video"][-1][0] + 1 / 25, packets["audio"][-1][0] + 0.02)
    return packets, duration


class ClipTrack(MediaStreamTrack):
    """Sends one kind of the clip's packets at their times, looped: aiortc's own file player stops pacing after
    its first loop (the time stamps start over), and then sends as fast as it reads."""

    def __init__(self, kind: str, packets: list, duration: float):
        super().__init__()
        self.kind, self.packets, self.duration = kind, packets, duration
        self.index, self.loops, self.start = 0, 0, None

    async def recv(self):
        if self.start is None:
            self.start = time.monotonic()
        at, payload = self.packets[self.index]
        at += self.loops * self.duration
        wait = self.start + at - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        packet = av.Packet(payload)
        packet.time_base = TIME_BASE
        packet.pts = int(round(at / TIME_BASE))
        self.index += 1
        if self.index == len(self.packets):
            self.index, self.loops = 0, self.loops + 1
        return packet


class Janus:
    """One participant's Janus session over the HTTP API, its events read by a long-poll thread."""

    def __init__(self, api: str, token: str):
        self.api, self.token = api, token
        self.session = self.post(api, {"janus": "create"})["data"]["id"]
        self.events: dict[str, asyncio.Future] = {}
        self.loop = asyncio.get_running_loop()
        self.running = True
        threading.Thread(target=self.poll, daemon=True).start()

    def post(self, url: str, body: dict) -> dict:
        body = {**body, "transaction": uuid.uuid4().hex, "token": self.token}
        request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
        if answer.get("janus") == "error":
            raise RuntimeError(answer)
        answer["transaction"] = body["transaction"]
        return answer

    def poll(self):
        while self.running:
            try:
                with urllib.request.urlopen(f"{self.api}/{self.session}?maxev=10&token={self.token}", timeout=40) as response:
                    events = json.load(response)
            except OSError:
                time.sleep(0.1)
                continue
            for event in events if isinstance(events, list) else [events]:
                waiting = self.events.pop(event.get("transaction"), None)
                if waiting is not None:
                    self.loop.call_soon_threadsafe(lambda w=waiting, e=event: w.done() or w.set_result(e))

    async def attach(self) -> int:
        answer = await asyncio.to_thread(self.post, f"{self.api}/{self.session}", {"janus": "attach", "plugin": "janus.plugin.videoroom"})
        return answer["data"]["id"]

    async def message(self, handle: int, body: dict, jsep: dict | None = None) -> dict:
        """An asynchronous VideoRoom request; its event (plugin data and JSEP)."""
        transaction = uuid.uuid4().hex
        future = self.loop.create_future()
        self.events[transaction] = future
        message = {"janus": "message", "body": body, "transaction": transaction, "token": self.token}
        if jsep:
            message["jsep"] = jsep
        request = urllib.request.Request(f"{self.api}/{self.session}/{handle}", data=json.dumps(message).encode(),
                                         headers={"Content-Type": "application/json"})
        await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=30).read())
        event = await asyncio.wait_for(future, 30)
        data = event.get("plugindata", {}).get("data", {})
        if "error_code" in data:
            raise RuntimeError(data)
        return event

    async def keepalive(self):
        while self.running:
            await asyncio.sleep(20)
            await asyncio.to_thread(self.post, f"{self.api}/{self.session}", {"janus": "keepalive"})


class Participant:
    def __init__(self, api: str, entry: dict, clip: tuple[dict, float]):
        self.api, self.entry, self.clip = api, entry, clip
        self.publisher_pc = RTCPeerConnection()
        self.subscriber_pcs: list[RTCPeerConnection] = []
        self.mids: dict[tuple[int, str], tuple[str, str]] = {}  # (subscription, mid) → (participant, kind)

    async def publish(self):
        await asyncio.sleep(random.random())  # paced starts
        self.janus = Janus(self.api, self.entry["token"])
        asyncio.ensure_future(self.janus.keepalive())
        handle = await self.janus.attach()
        joined = await self.janus.message(handle, {"request": "join", "ptype": "publisher", "room": self.entry["room"],
                                                   "pin": self.entry["pin"], "display": self.entry["id"], "token": self.entry["token"]})
        self.private_id = joined["plugindata"]["data"]["private_id"]
        packets, duration = self.clip
        self.publisher_pc.addTrack(ClipTrack("audio", packets["audio"], duration))
        self.publisher_pc.addTrack(ClipTrack("video", packets["video"], duration))
        await self.publisher_pc.setLocalDescription(await self.publisher_pc.createOffer())
        local = self.publisher_pc.localDescription
        configured = await self.janus.message(handle, {"request": "publish"}, {"type": local.type, "sdp": local.sdp})
        await self.publisher_pc.setRemoteDescription(RTCSessionDescription(**configured["jsep"]))

    async def subscribe(self, feeds: dict[int, str]):
        """One subscription per publisher (aiortc answers a multistream offer's second video m-line as rejected)."""
        for feed, display in feeds.items():
            handle = await self.janus.attach()
            attached = await self.janus.message(handle, {"request": "join", "ptype": "subscriber", "room": self.entry["room"],
                                                         "pin": self.entry["pin"], "token": self.entry["token"],
                                                         "private_id": self.private_id, "streams": [{"feed": feed}]})
            pc = RTCPeerConnection()
            self.subscriber_pcs.append(pc)
            for stream in attached["plugindata"]["data"].get("streams", []):
                self.mids[(len(self.subscriber_pcs) - 1, stream["mid"])] = (display, stream.get("type"))
            await pc.setRemoteDescription(RTCSessionDescription(**attached["jsep"]))
            await pc.setLocalDescription(await pc.createAnswer())
            local = pc.localDescription
            await self.janus.message(handle, {"request": "start"}, {"type": local.type, "sdp": local.sdp})

    async def counts(self) -> tuple[int, dict]:
        sent = 0
        for stat in (await self.publisher_pc.getStats()).values():
            if stat.type == "outbound-rtp":
                sent += stat.bytesSent
        received = {}
        for index, pc in enumerate(self.subscriber_pcs):
            for transceiver in pc.getTransceivers():
                owner = self.mids.get((index, transceiver.mid))
                if not owner:
                    continue
                key = f"{owner[0]}/{owner[1]}"
                received[key] = received.get(key, 0) + getattr(transceiver.receiver, "plaza_bytes", 0)
        return sent, received


def cpu_seconds() -> float:
    with open("/proc/self/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def main():
    setup = json.load(open(sys.argv[1]))
    folder = tempfile.mkdtemp(prefix="plaza-zone-")
    path = os.path.join(folder, "clip.webm")
    make_clip(path)
    clip = read_clip(path)
    shutil.rmtree(folder)
    participants = [Participant(setup["api"], entry, clip) for entry in setup["participants"]]
    await asyncio.gather(*(p.publish() for p in participants))
    # Every publisher is up: each participant takes all the others (their ids in the room, from one listing).
    feeds_by_display = {}
    deadline = time.monotonic() + 20
    while len(feeds_by_display) < setup["publishers"] and time.monotonic() < deadline:
        handle = await participants[0].janus.attach()
        answer = await asyncio.to_thread(
            participants[0].janus.post, f"{setup['api']}/{participants[0].janus.session}/{handle}",
            {"janus": "message", "body": {"request": "listparticipants", "room": participants[0].entry["room"]}})
        feeds_by_display = {p["display"]: p["id"] for p in answer["plugindata"]["data"]["participants"] if p.get("publisher")}
        await asyncio.sleep(0.5)
    await asyncio.gather(*(p.subscribe({feed: display for display, feed in feeds_by_display.items() if display != p.entry["id"]})
                           for p in participants))
    print("ready", flush=True)
    while not os.path.exists(setup["go"]):
        await asyncio.sleep(0.01)
    await asyncio.sleep(setup["warmup"])
    before = [await p.counts() for p in participants]
    cpu_before, started = cpu_seconds(), time.monotonic()
    print("window-start", flush=True)
    await asyncio.sleep(setup["seconds"])
    after = [await p.counts() for p in participants]
    elapsed, cpu = time.monotonic() - started, cpu_seconds() - cpu_before
    print("window-end", flush=True)
    packets, duration = clip
    rates = {kind: sum(len(p) for _, p in packets[kind]) / duration for kind in packets}
    result = {"seconds": elapsed, "generatorCPU": cpu / elapsed, "clipBytesPerSecond": rates, "participants": []}
    for participant, (sent0, received0), (sent1, received1) in zip(participants, before, after):
        result["participants"].append({
            "id": participant.entry["id"],
            "sentPerSecond": (sent1 - sent0) / elapsed,
            "receivedPerSecond": {key: (value - received0.get(key, 0)) / elapsed for key, value in received1.items()},
        })
    print(json.dumps(result), flush=True)
    os._exit(0)  # the long-poll threads and peer connections end with the process


asyncio.run(main())
