"""A fleet's Janus bridges under browsers: a meeting zone's conference on one of two registered Janus servers
keeps its media while that Janus drains, and moves to the other, media and all, when it is killed."""

import os
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOM_ADMIN_KEY, browser_support
from failure_reports import test_failed
from plaza_processes import free_port, stop
from test_zones import bridge, conference, enter_zone, wait_for_media

wait_for, screenshot = browser_support.wait_for, browser_support.screenshot
ROOM = "fleet-zone"
# The fleet's timings, short so that the test does not wait for production ones.
TIMINGS = {"PLAZA_CLUSTER_HEARTBEAT_INTERVAL": "0.5", "PLAZA_CLUSTER_HEARTBEAT_TTL": "2.5", "PLAZA_CLUSTER_LEASE_TTL": "2.5"}


class Fleet:
    """`plaza directory`, one `plaza node` and a `plaza agent --kind janus` per Janus, on one SQLite store."""

    def __init__(self, binary: str, janus_servers: list, admin_secret: str):
        self.binary = binary
        self.folder = Path(tempfile.mkdtemp(prefix="plaza-media-fleet-"))
        self.store_path = self.folder / "fleet.sqlite"
        self.environment = {
            **os.environ, **TIMINGS, "PLAZA_AUTH_SECRET": secrets.token_hex(32),
            "PLAZA_MEDIA_JANUS_ADMIN_SECRET": admin_secret, "PLAZA_MEDIA_JANUS_ROOM_ADMIN_KEY": ROOM_ADMIN_KEY,
            "PLAZA_LOG_LEVEL": "notice",
        }
        self.processes = {}
        self.directory_port, self.node_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.directory_port}"
        store = f"sqlite:{self.store_path}"
        self.start("directory", ["directory", "--store", store, "--port", str(self.directory_port)], self.directory_port)
        self.start("node", ["node", "--store", store, "--node-id", "node-1", "--port", str(self.node_port),
                            "--public-url", f"http://127.0.0.1:{self.node_port}"], self.node_port)
        for index, janus in enumerate(janus_servers, start=1):
            self.start(f"agent-{index}", [
                "agent", "--kind", "janus", "--store", store, "--instance-id", f"janus-{index}",
                "--api", janus.api_url, "--internal-api", janus.admin_url, "--public-url", janus.ws_url,
                "--admin-secret", admin_secret, "--interval", "0.5"])

    def start(self, name, arguments, port=None):
        log = open(self.folder / f"{name}.log", "wb")
        self.processes[name] = subprocess.Popen([self.binary, *arguments], stdout=log, stderr=log, env=self.environment)
        if port is None:
            return
        deadline = time.monotonic() + 30
        while True:
            assert self.processes[name].poll() is None, self.log(name)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    return
            except OSError:
                assert time.monotonic() < deadline, f"{name} did not start:\n{self.log(name)}"
                time.sleep(0.1)

    def log(self, name) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")[-3000:]

    def bridges(self) -> dict:
        """Each registered Janus's state, as the registry has it."""
        with sqlite3.connect(self.store_path, timeout=5) as db:
            return dict(db.execute("SELECT id, state FROM nodes WHERE kind = 'janus'").fetchall())

    def drain(self, instance: str):
        """What the autoscaler does to an instance it picked for scale-in (`requestDrain`)."""
        with sqlite3.connect(self.store_path, timeout=5) as db:
            db.execute("UPDATE nodes SET drain_requested = 1, state = 'draining' WHERE id = ?", (instance,))

    def stop(self):
        for process in self.processes.values():
            stop(process)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def fleet_of_two(janus_factory, binary, request):
    admin_secret = secrets.token_urlsafe(18)
    servers = [janus_factory(f"fleet-{n}", admin_secret=admin_secret) for n in (1, 2)]
    fleet = Fleet(binary, servers, admin_secret)
    deadline = time.monotonic() + 40
    while set(fleet.bridges()) != {"janus-1", "janus-2"}:
        assert time.monotonic() < deadline, f"the agents did not register: {fleet.log('agent-1')}"
        time.sleep(0.2)
    yield fleet, servers
    if test_failed(request):
        for name in fleet.processes:
            print(f"--- {name}:\n{fleet.log(name)}")
    fleet.stop()


def test_a_zone_keeps_its_media_while_its_janus_drains_and_moves_with_it_when_that_janus_dies(fleet_of_two, browsers):
    fleet, servers = fleet_of_two
    windows, ids = enter_zone(browsers, fleet, 2, room=ROOM, timeout=20)
    first = conference(windows[0])
    home = next(index for index, server in enumerate(servers) if first["url"] == server.ws_url)
    wait_for_media(windows[0], [ids[1]])
    wait_for_media(windows[1], [ids[0]])

    # The home Janus drains: nothing moves, and the media keeps flowing.
    fleet.drain(f"janus-{home + 1}")
    before = bridge(windows[0])["peers"][ids[1]]
    time.sleep(3)
    after = bridge(windows[0])["peers"][ids[1]]
    assert after["audio"] > before["audio"] and after["video"] > before["video"], "media stopped on a draining bridge"
    assert conference(windows[0])["url"] == first["url"]

    # It dies. Within a heartbeat TTL (2.5 s here) and a few seconds, everyone is on the other Janus, media flowing.
    servers[home].kill9()
    killed = time.monotonic()
    other = servers[1 - home]
    for driver in windows:
        wait_for(driver, "const c = window.plaza.conference(); return c && c.url === arguments[0];", 20,
                 "the conference did not move to the other Janus", other.ws_url)
    wait_for_media(windows[0], [ids[1]], timeout=20)
    wait_for_media(windows[1], [ids[0]], timeout=20)
    resumed = time.monotonic() - killed
    print(f"media resumed on the other Janus {resumed:.1f} s after the kill")
    assert resumed < 2.5 + 12, f"media resumed only after {resumed:.1f} s"
    screenshot(windows[0], "media-fleet-failover.png")
