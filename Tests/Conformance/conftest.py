"""Fixtures of the conformance tests: a real `plaza serve` on a free loopback port, configured through its JSON
configuration file so each test can set the small limits and timeouts it exercises.

- `plaza`: one server for the whole session, with settings every WebSocket test can share (messages up to
  70000 bytes, so a 65535-byte message fits; server pings rare enough not to interleave with a test).
- `plaza_with(settings)`: a fresh server with these settings (merged over the shared ones), stopped at the
  end of the test.
- `session(server)`: a joined WebSocket: join over HTTP, upgrade, `hello`, `welcome` received.
"""

import copy
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.register_assert_rewrite("wire")

import wire  # noqa: E402  (after the assertion rewrite is registered)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Support"))
from plaza_processes import free_port, plaza_binary, stop  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

# Settings of the shared server, and the base of every `plaza_with` server.
BASE_SETTINGS = {
    "log": {"level": "notice"},
    "limits": {"frameBytes": 70000},
    "websocket": {"pingInterval": 60},
}

ROOM = "conf"


def merged(base: dict, overrides: dict) -> dict:
    """`base` with `overrides` applied key by key, nested objects merged."""
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


class PlazaServer:
    """`plaza serve` on a loopback port with its own data directory and configuration file."""

    def __init__(self, binary: str, settings: dict, file_limit: int | None = None):
        self.binary = binary
        self.settings = settings
        self.file_limit = file_limit
        self.directory = Path(tempfile.mkdtemp(prefix="plaza-conformance-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = self.directory / "plaza.json"
        self.config.write_text(json.dumps(settings))
        self.log = open(self.directory / "plaza.log", "ab")
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "serve", "--port", str(self.port), "--data-dir", str(self.directory / "data"),
             "--config", str(self.config)],
            stdout=self.log, stderr=self.log, preexec_fn=self._limit_files if self.file_limit else None,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.directory / "plaza.log").read_text(errors="replace")
                raise RuntimeError(f"plaza exited with {self.process.returncode}:\n{log[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("plaza did not become healthy within 30 s")

    def _limit_files(self):
        """In the child: soft and hard open-file limit `file_limit`, as a service manager would set them."""
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.file_limit, self.file_limit))

    def stop(self):
        stop(self.process)
        self.process = None
        self.log.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def http(self, method: str, path: str, body=None, headers=None, timeout: float = wire.READ_TIMEOUT):
        """A request through urllib: (status, parsed JSON body or None)."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None

    def join(self, name: str = "Tester", room: str = ROOM) -> dict:
        """POST /api/v1/join as a guest; the answer (with `token`)."""
        status, answer = self.http("POST", "/api/v1/join", {"room": room, "name": name})
        assert status == 200, f"join answered {status}: {answer}"
        return answer

    def websocket(self, source: str | None = None, receive_buffer: int | None = None) -> wire.WebSocket:
        return wire.WebSocket.open(self.port, source=source, receive_buffer=receive_buffer)

    def metric(self, series: str) -> float:
        """The value of one series of `/metrics` (`name{label="value"}` as Prometheus prints it), 0 if absent."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=wire.READ_TIMEOUT) as response:
            text = response.read().decode()
        for line in text.splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
        return 0.0

    def pid(self) -> int:
        return self.process.pid


@pytest.fixture(scope="session")
def binary():
    return plaza_binary()


@pytest.fixture(scope="session")
def plaza(binary):
    server = PlazaServer(binary, BASE_SETTINGS)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def plaza_with(binary):
    """A factory: `plaza_with({"limits": {"frameBytes": 4096}})` starts a server with these settings merged
    over the shared ones (and, with `file_limit=`, that open-file limit); every server it started is stopped when
    the test ends."""
    started = []

    def start(settings: dict, file_limit: int | None = None) -> PlazaServer:
        server = PlazaServer(binary, merged(BASE_SETTINGS, settings), file_limit=file_limit)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def session():
    """A factory of joined WebSockets: `session(server)` joins room `conf`, upgrades, sends `hello` and waits
    for `welcome`. The sockets are closed when the test ends."""
    opened = []

    def open_session(server: PlazaServer, receive_buffer: int | None = None) -> wire.WebSocket:
        token = server.join()["token"]
        ws = server.websocket(receive_buffer=receive_buffer)
        opened.append(ws)
        ws.send_json({"type": "hello", "token": token})
        ws.expect_json("welcome")
        return ws

    yield open_session
    for ws in opened:
        ws.close()
