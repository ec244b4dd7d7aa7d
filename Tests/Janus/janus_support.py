"""A real Janus WebRTC server for Plaza's tests, and just enough of a client of its APIs to drive it.

`JanusServer` runs Debian's `janus` (1.1.x) in a temporary folder of its own, with configuration files written
there (nothing under /etc/janus is read or changed), on free loopback ports:

- the Janus API over WebSocket (`janus.transport.websockets`, plain ws, subprotocol `janus-protocol`): what a
  browser speaks;
- the Janus API over plain HTTP (`/janus`, where `plaza agent --kind janus` reads `/info`) and the Admin API over
  plain HTTP (`/admin`, with an `admin_secret`: where Plaza adds and removes tokens and the agent counts
  sessions), both from `janus.transport.http`;
- stored-token authentication (`token_auth = true`, no `token_auth_secret`): every request but `info` and `ping`
  must carry a token added through the Admin API;
- the VideoRoom plugin (and the tiny EchoTest plugin, so a test can show that a token limited to the VideoRoom
  cannot attach another plugin); every other plugin, transport, logger and event handler is disabled;
- no STUN server, no 1:1 NAT mapping, mDNS candidates ignored, and ICE gathering on the interfaces named by
  `ice_enforce_list` (see `JanusServer.__init__`: Janus never gathers on loopback);
- logging at level 4 to `janus.log` in its folder.

Several can run at once (each has its own folder and ports). `stop()` sends SIGTERM then SIGKILL by PID;
`kill9()` is a crash, for failover tests; `start()` again brings the same server back on the same ports, empty
(Janus keeps its rooms and tokens only in memory).

The clients use only the standard library: `JanusConnection` is a WebSocket to the Janus API (the framing comes
from Tests/Conformance/wire.py; the opening handshake, which has to ask for the `janus-protocol` subprotocol, is
here), with `JanusSession`, `JanusHandle` and `VideoRoomHandle` on top; `JanusAdmin` posts Admin API requests
over HTTP.
"""

from __future__ import annotations

import atexit
import base64
import ctypes
import glob
import hashlib
import itertools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "Conformance"))
sys.path.insert(0, str(TESTS / "Support"))
import wire  # noqa: E402
from plaza_processes import free_port  # noqa: E402

VIDEOROOM = "janus.plugin.videoroom"
ECHOTEST = "janus.plugin.echotest"

# The Janus API's error codes the tests look at (Janus's apierror.h).
UNAUTHORIZED = 403  # no token, or one Janus does not know (or no api_secret/admin_secret, or a wrong one)
UNAUTHORIZED_PLUGIN = 405  # the token may not attach this plugin
SESSION_NOT_FOUND = 458
HANDLE_NOT_FOUND = 459
PLUGIN_NOT_FOUND = 460
NOT_ACCEPTING_SESSIONS = 472

# The VideoRoom plugin's error codes (janus_videoroom.c).
VIDEOROOM_NO_SUCH_ROOM = 426
VIDEOROOM_ROOM_EXISTS = 427
VIDEOROOM_MISSING_ELEMENT = 429
VIDEOROOM_INVALID_ELEMENT = 430
VIDEOROOM_UNAUTHORIZED = 433
VIDEOROOM_PUBLISHERS_FULL = 432

READ_TIMEOUT = 10.0


# MARK: Finding Janus

def janus_binary() -> str:
    """The `janus` executable: $JANUS_BIN, or Debian's."""
    for candidate in (os.environ.get("JANUS_BIN"), shutil.which("janus"), "/usr/bin/janus"):
        if candidate and os.path.exists(candidate):
            return candidate
    raise RuntimeError("janus not found: install Debian's janus package (apt-get install janus)")


def janus_library_folder() -> Path:
    """The folder holding Janus's `plugins/`, `transports/`, `events/` and `loggers/` (Debian:
    /usr/lib/<multiarch>/janus), or $JANUS_LIB."""
    candidates = [os.environ.get("JANUS_LIB")] if os.environ.get("JANUS_LIB") else []
    candidates += sorted(glob.glob("/usr/lib/*/janus")) + ["/usr/lib/janus", "/usr/local/lib/janus",
                                                          "/opt/janus/lib/janus"]
    for candidate in candidates:
        if (Path(candidate) / "plugins" / "libjanus_videoroom.so").exists():
            return Path(candidate)
    raise RuntimeError("Janus's plugins not found (libjanus_videoroom.so): install Debian's janus package")


def janus_version() -> str:
    """What `janus --version` prints first, e.g. "1.1.2" (it exits 1 after printing it, with
    "Unknown option --version": the banner comes before option parsing)."""
    output = subprocess.run([janus_binary(), "--version"], capture_output=True, text=True).stdout
    for line in output.splitlines():
        if line.startswith("Janus version:") and "(" in line:
            return line.split("(", 1)[1].rstrip(")").strip()
    raise RuntimeError(f"no version in janus --version's output: {output!r}")


# MARK: Configuration

def _value(value) -> str:
    """A libconfig value (Janus's .jcfg files are libconfig)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def jcfg(sections: dict) -> str:
    """A .jcfg file: `{"general": {"key": value, …}, …}` → `general: { key = value … }`."""
    lines = []
    for name, items in sections.items():
        lines.append(f"{name}: {{")
        lines += [f"\t{key} = {_value(value)}" for key, value in items.items() if value is not None]
        lines.append("}")
        lines.append("")
    return "\n".join(lines)


def _modules(folder: Path) -> list[str]:
    """The `libjanus_*.so` names in one of Janus's module folders (the names a `disable` list takes)."""
    return sorted(path.name for path in folder.glob("libjanus_*.so"))


# MARK: The server

class JanusServer:
    """Janus on free loopback ports in its own temporary folder. See the module's documentation."""

    def __init__(self, name: str = "janus", *, admin_secret: str | None = None, token_auth: bool = True,
                 api_secret: str | None = None, session_timeout: int = 60, debug_level: int = 4,
                 ice_enforce_list: str | None = None, plugins=("videoroom", "echotest"),
                 videoroom_admin_key: str | None = None, general: dict | None = None, nat: dict | None = None):
        """`ice_enforce_list` names the interfaces (or address prefixes) Janus may gather ICE candidates on.
        Janus (1.1, and its main branch still) skips every interface flagged IFF_LOOPBACK when it gathers, and
        when nothing it allowed is left it adds no address and libnice falls back to gathering on every
        non-loopback interface. So `"lo"` cannot limit ICE to loopback: it means "everything but loopback", like
        no list at all, which is the default here. Nothing is sent that way unless a peer hands Janus remote
        candidates (the signalling tests never do). Media tests need a non-loopback interface that carries the
        address to use, e.g. one end of a veth pair inside a network namespace of their own, named here (see
        the research notes of the "Groups past peer-to-peer" work).

        `plugins` are the plugin short names to keep loaded (`libjanus_<name>.so`); `videoroom_admin_key` sets
        the VideoRoom's `admin_key`, which `create` must then carry. `general` and `nat` add or override items
        of those sections of janus.jcfg (e.g. `nat={"full_trickle": True}`)."""
        self.name = name
        self.admin_secret = admin_secret or secrets.token_urlsafe(18)
        self.token_auth = token_auth
        self.api_secret = api_secret
        self.session_timeout = session_timeout
        self.debug_level = debug_level
        self.ice_enforce_list = ice_enforce_list
        self.plugins = tuple(plugins)
        self.videoroom_admin_key = videoroom_admin_key
        self.extra_general = dict(general or {})
        self.extra_nat = dict(nat or {})
        self.directory = Path(tempfile.mkdtemp(prefix=f"plaza-janus-{name}-"))
        self.config_folder = self.directory / "conf"
        self.config_folder.mkdir()
        self.log_path = self.directory / "janus.log"
        self.output_path = self.directory / "janus.out"
        self.process: subprocess.Popen | None = None
        self._output = None
        self.ws_port = self.http_port = self.admin_port = 0
        self.startup_seconds: float | None = None
        self._log_marks: dict[Path, int] = {}

    # Addresses

    @property
    def ws_url(self) -> str:
        """The Janus API over WebSocket (subprotocol `janus-protocol`): what a browser opens."""
        return f"ws://127.0.0.1:{self.ws_port}"

    @property
    def api_url(self) -> str:
        """The Janus API over HTTP (`plaza agent --api`)."""
        return f"http://127.0.0.1:{self.http_port}/janus"

    @property
    def admin_url(self) -> str:
        """The Admin API over HTTP (`plaza agent --internal-api`)."""
        return f"http://127.0.0.1:{self.admin_port}/admin"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # Configuration files

    def write_configuration(self):
        library = janus_library_folder()
        plugin_files = _modules(library / "plugins")
        wanted = {f"libjanus_{plugin}.so" for plugin in self.plugins}
        missing = wanted - set(plugin_files)
        if missing:
            raise RuntimeError(f"Janus plugins missing from {library / 'plugins'}: {sorted(missing)}")
        transports_off = [name for name in _modules(library / "transports")
                          if name not in ("libjanus_websockets.so", "libjanus_http.so")]
        general = {
            "configs_folder": str(self.config_folder),
            "plugins_folder": str(library / "plugins"),
            "transports_folder": str(library / "transports"),
            "events_folder": str(library / "events"),
            "loggers_folder": str(library / "loggers"),
            "log_to_stdout": False,
            "log_to_file": str(self.log_path),
            "debug_level": self.debug_level,
            "debug_timestamps": True,
            "debug_colors": False,
            "server_name": f"plaza-test-{self.name}",
            # The address Janus reports as `local-ip` (and puts on SDP c= lines) instead of one it detects.
            "interface": "127.0.0.1",
            "session_timeout": self.session_timeout,
            "token_auth": self.token_auth,
            "api_secret": self.api_secret,
            "admin_secret": self.admin_secret,
            # Recordings and packet captures nowhere but the temporary folder.
            "protected_folders": ["/bin", "/boot", "/dev", "/etc", "/lib", "/proc", "/sbin", "/sys", "/usr", "/var"],
        }
        general.update(self.extra_general)
        nat = {
            "nice_debug": False,
            "ice_enforce_list": self.ice_enforce_list,
            # mDNS (.local) candidates from browsers are dropped instead of resolved: resolving one sends
            # multicast queries on the machine's network, nothing here would answer, and the browser tests pass
            # Chromium the flag that makes it show plain addresses.
            "ignore_mdns": True,
        }
        nat.update(self.extra_nat)
        files = {
            "janus.jcfg": {
                "general": general,
                "certificates": {},  # a self-signed DTLS certificate is generated at start
                "media": {},
                "nat": nat,
                "plugins": {"disable": ",".join(name for name in plugin_files if name not in wanted)},
                "transports": {"disable": ",".join(transports_off)},
                "loggers": {"disable": ",".join(_modules(library / "loggers"))},
                "events": {"broadcast": False, "disable": ",".join(_modules(library / "events"))},
            },
            "janus.transport.websockets.jcfg": {
                # Compact JSON: one message per frame, no newlines.
                "general": {"json": "compact", "ws": True, "ws_port": self.ws_port, "ws_ip": "127.0.0.1",
                            "wss": False, "ws_logging": "err,warn"},
                "admin": {"admin_ws": False, "admin_wss": False},
            },
            "janus.transport.http.jcfg": {
                "general": {"json": "compact", "base_path": "/janus", "http": True, "port": self.http_port,
                            "ip": "127.0.0.1", "https": False},
                "admin": {"admin_base_path": "/admin", "admin_http": True, "admin_port": self.admin_port,
                          "admin_ip": "127.0.0.1", "admin_https": False},
            },
            "janus.plugin.videoroom.jcfg": {
                # No static rooms: the tests and Plaza create theirs.
                "general": {"admin_key": self.videoroom_admin_key},
            },
            "janus.plugin.echotest.jcfg": {"general": {}},
        }
        for file_name, sections in files.items():
            (self.config_folder / file_name).write_text(jcfg(sections))

    # Lifecycle

    def start(self, timeout: float = 20.0) -> "JanusServer":
        """Starts Janus (choosing free ports the first time) and waits until its WebSocket answers `info` and
        its Admin API answers `ping`. A start that fails because another process took a port in the meantime
        is tried again on other ports."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        for attempt in range(3):
            if not self.ws_port or attempt:
                self.ws_port, self.http_port, self.admin_port = _distinct_free_ports(3)
            self.write_configuration()
            try:
                return self._start_once(timeout)
            except PortTaken:
                self._terminate()
        raise RuntimeError(f"{self.name} could not get free ports:\n{self.log()}")

    def _start_once(self, timeout: float) -> "JanusServer":
        arguments = [janus_binary(), "--config", str(self.config_folder / "janus.jcfg"),
                     "--configs-folder", str(self.config_folder), "--disable-colors"]
        self._output = open(self.output_path, "ab")
        self._log_marks = {path: path.stat().st_size if path.exists() else 0
                           for path in (self.output_path, self.log_path)}
        began = time.monotonic()
        self.process = subprocess.Popen(arguments, stdout=self._output, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, cwd=self.directory,
                                        preexec_fn=_die_with_parent)
        _running.add(self)
        deadline = began + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if self._port_taken():
                    raise PortTaken()
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
            if self._port_taken():
                raise PortTaken()
            if self._answers():
                self.startup_seconds = time.monotonic() - began
                return self
            time.sleep(0.05)
        log = self.log()
        self._terminate()
        raise RuntimeError(f"{self.name} did not answer within {timeout:g} s:\n{log}")

    def _answers(self) -> bool:
        try:
            with JanusConnection(self.ws_port, timeout=1.0) as connection:
                if connection.info().get("janus") != "server_info":
                    return False
            return JanusAdmin(self.admin_url, self.admin_secret, timeout=1.0).ping()
        except (OSError, wire.ServerClosed, wire.ServerSilent, AssertionError, JanusError, ValueError):
            return False

    def _log_of_this_start(self) -> str:
        parts = []
        for path, mark in self._log_marks.items():
            if path.exists():
                with open(path, "rb") as file:
                    file.seek(mark)
                    parts.append(file.read().decode(errors="replace"))
        return "".join(parts)

    def _port_taken(self) -> bool:
        # Janus keeps running when a transport cannot bind its port, without that transport.
        text = self._log_of_this_start()
        return ("Address already in use" in text or "Couldn't start" in text
                or "Error creating vhost" in text or "ERROR on binding" in text)

    def stop(self, timeout: float = 10.0):
        """SIGTERM (Janus closes its sessions and exits), then SIGKILL if it is still there after `timeout`."""
        self._terminate(timeout)

    def _terminate(self, timeout: float = 10.0):
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._close_output()

    def kill9(self):
        """SIGKILL at once: a crash. Sessions, rooms and tokens are gone; clients see their connections end."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._close_output()

    def _close_output(self):
        _running.discard(self)
        if self._output is not None:
            self._output.close()
            self._output = None

    def cleanup(self):
        """Stops it if it still runs and removes its folder."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def log(self) -> str:
        parts = []
        for path in (self.output_path, self.log_path):
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "".join(parts)

    # Clients

    def connect(self, token: str | None = None, timeout: float = READ_TIMEOUT) -> "JanusConnection":
        """A WebSocket to the Janus API; `token`, if given, goes into every request."""
        return JanusConnection(self.ws_port, token=token, api_secret=self.api_secret if token is None else None,
                               timeout=timeout)

    def admin(self) -> "JanusAdmin":
        return JanusAdmin(self.admin_url, self.admin_secret)


# Servers started by this process: killed at exit if a test run ends without stopping them.
_running: "set[JanusServer]" = set()


@atexit.register
class JanusServers:
    """The Janus servers one test starts (`start(name, **settings)`, with `defaults` under the settings given),
    each in a folder of its own; `finish(failed)` prints the logs of a failed test's servers and removes them all."""

    def __init__(self, **defaults):
        self.defaults = defaults
        self.started: list[JanusServer] = []

    def start(self, name: str = "janus", **settings) -> JanusServer:
        server = JanusServer(f"{name}-{len(self.started) + 1}", **{**self.defaults, **settings})
        self.started.append(server)
        return server.start()

    def finish(self, failed: bool):
        for server in self.started:
            if failed:
                print(f"--- {server.name} log ({server.log_path}):")
                print(server.log()[-6000:])
            server.cleanup()


def _kill_leftovers():
    for server in list(_running):
        server.kill9()


def _die_with_parent():
    """In the child, before exec: ask Linux for SIGKILL when the test process dies (prctl PR_SET_PDEATHSIG),
    so a test run killed outright leaves no Janus behind."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class PortTaken(Exception):
    """Janus could not bind one of its ports (another process took it after it was chosen)."""


def _distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


# MARK: Errors

class JanusError(Exception):
    """`{"janus": "error", "error": {"code": …, "reason": …}}` from the Janus or Admin API."""

    def __init__(self, answer: dict):
        error = answer.get("error") or {}
        self.code = error.get("code")
        self.reason = error.get("reason")
        self.answer = answer
        super().__init__(f"Janus error {self.code}: {self.reason}")


class PluginError(Exception):
    """A plugin's own error inside a successful Janus answer: `plugindata.data` has `error_code` and `error`."""

    def __init__(self, data: dict):
        self.code = data.get("error_code")
        self.reason = data.get("error")
        self.data = data
        super().__init__(f"plugin error {self.code}: {self.reason}")


# MARK: The Janus API over WebSocket

def open_websocket(port: int, subprotocol: str, path: str = "/", host: str = "127.0.0.1",
                   timeout: float = READ_TIMEOUT) -> wire.WebSocket:
    """The opening handshake, asking for `subprotocol` and checking the server chose it; then wire.py's frame
    reader and writer. (Janus's libwebsockets server falls back to its first protocol, "http-only", when the
    client names none, so the subprotocol is required.)"""
    sock = wire.connect(port, host=host, timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(wire.request_bytes("GET", path, [
        ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Protocol", subprotocol)], host=f"{host}:{port}"))
    buffer = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            sock.close()
            raise wire.ServerSilent(f"no answer to the WebSocket upgrade (received {buffer!r})")
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            sock.close()
            raise wire.ServerClosed(f"connection ended during the WebSocket upgrade (received {buffer!r})")
        buffer += chunk
    head, rest = buffer.split(b"\r\n\r\n", 1)
    status, _, headers, status_line = wire.parse_head(head)
    expected = base64.b64encode(hashlib.sha1(key.encode() + wire.WEBSOCKET_GUID).digest()).decode()
    if status != 101 or headers.get("sec-websocket-accept") != expected:
        sock.close()
        raise AssertionError(f"WebSocket upgrade answered {status_line!r} {headers}")
    if headers.get("sec-websocket-protocol") != subprotocol:
        sock.close()
        raise AssertionError(f"the server chose subprotocol {headers.get('sec-websocket-protocol')!r}, "
                             f"not {subprotocol!r}")
    return wire.WebSocket(sock, rest)


class JanusConnection:
    """One WebSocket to the Janus API (one thread at a time). `request` waits for the answer carrying its
    transaction (skipping the `ack` of an asynchronous plugin request, whose real
    answer is a later `event` with the same transaction) and keeps everything else that arrives meanwhile (a
    room's notifications, `webrtcup`, `hangup`, `timeout`, `detached`, …) in `events`."""

    _transactions = itertools.count(1)

    def __init__(self, port: int, token: str | None = None, api_secret: str | None = None,
                 timeout: float = READ_TIMEOUT):
        self.token = token
        self.api_secret = api_secret
        self.timeout = timeout
        self.socket = open_websocket(port, "janus-protocol", timeout=timeout)
        self.events: list[dict] = []
        self.closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.socket.send_close(1000)
            except OSError:
                pass
            self.socket.close()

    # Messages

    def send(self, message: dict, *, authenticate: bool = True) -> str:
        """Sends `message` with a new transaction (and the connection's token or API secret); returns the
        transaction."""
        message = dict(message)
        transaction = message.setdefault("transaction", f"plaza-{next(self._transactions)}-{secrets.token_hex(4)}")
        if authenticate and self.token is not None:
            message.setdefault("token", self.token)
        if authenticate and self.api_secret is not None:
            message.setdefault("apisecret", self.api_secret)
        if not self.socket.send_json(message):
            raise wire.ServerClosed("Janus had closed the WebSocket")
        return transaction

    def receive(self, timeout: float | None = None) -> dict:
        """The next JSON message; answers pings, raises wire.ServerClosed on a close frame or the end of the
        connection, wire.ServerSilent when nothing comes in time."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        payload = b""
        while True:
            frame = self.socket.read_frame(max(0.0, deadline - time.monotonic()))
            if frame.opcode == wire.PING:
                self.socket.send_frame(wire.PONG, frame.payload)
                continue
            if frame.opcode == wire.PONG:
                continue
            if frame.opcode == wire.CLOSE:
                self.closed = True
                raise wire.ServerClosed(f"Janus closed the WebSocket ({frame.describe()})")
            payload += frame.payload
            if frame.fin:
                return json.loads(payload)

    def request(self, message: dict, *, authenticate: bool = True, timeout: float | None = None,
                check: bool = True) -> dict:
        """Sends `message` and returns its answer: the first message with its transaction that is not an
        `ack` (an `ack` is the answer to `keepalive` and `trickle`). With `check`, `{"janus": "error"}` raises
        JanusError."""
        transaction = self.send(message, authenticate=authenticate)
        final_ack = message.get("janus") in ("keepalive", "trickle")
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise wire.ServerSilent(f"no answer to {message.get('janus')!r} within the deadline")
            answer = self.receive(remaining)
            if answer.get("transaction") != transaction:
                self.events.append(answer)
                continue
            if answer.get("janus") == "ack" and not final_ack:
                continue
            if check and answer.get("janus") == "error":
                raise JanusError(answer)
            return answer

    def wait_event(self, predicate, timeout: float | None = None) -> dict:
        """The first event (kept or arriving) for which `predicate(event)` is true; the kept events before it
        that do not match stay kept."""
        for index, event in enumerate(self.events):
            if predicate(event):
                return self.events.pop(index)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise wire.ServerSilent("no matching event within the deadline")
            event = self.receive(remaining)
            if predicate(event):
                return event
            self.events.append(event)

    # Requests at the top level

    def info(self) -> dict:
        """`{"janus": "info"}`: answered without a token."""
        return self.request({"janus": "info"}, authenticate=False)

    def ping(self) -> dict:
        return self.request({"janus": "ping"}, authenticate=False)

    def create_session(self) -> "JanusSession":
        answer = self.request({"janus": "create"})
        return JanusSession(self, answer["data"]["id"])


class JanusSession:
    """A Janus session on a connection. Janus destroys it after `session_timeout` seconds without a request
    (a `keepalive` counts), and at once when the WebSocket that created it closes."""

    def __init__(self, connection: JanusConnection, session_id: int):
        self.connection = connection
        self.id = session_id

    def request(self, message: dict, **options) -> dict:
        return self.connection.request({**message, "session_id": self.id}, **options)

    def keepalive(self, **options) -> dict:
        return self.request({"janus": "keepalive"}, **options)

    def attach(self, plugin: str, opaque_id: str | None = None) -> "JanusHandle":
        message = {"janus": "attach", "plugin": plugin}
        if opaque_id:
            message["opaque_id"] = opaque_id
        answer = self.request(message)
        handle_id = answer["data"]["id"]
        kind = VideoRoomHandle if plugin == VIDEOROOM else JanusHandle
        return kind(self, handle_id, plugin)

    def videoroom(self, opaque_id: str | None = None) -> "VideoRoomHandle":
        return self.attach(VIDEOROOM, opaque_id)

    def destroy(self, **options) -> dict:
        return self.request({"janus": "destroy"}, **options)


class JanusHandle:
    """A handle: one session's attachment to a plugin (one PeerConnection at most)."""

    def __init__(self, session: JanusSession, handle_id: int, plugin: str):
        self.session = session
        self.id = handle_id
        self.plugin = plugin

    def request(self, message: dict, **options) -> dict:
        return self.session.request({**message, "handle_id": self.id}, **options)

    def message(self, body: dict, jsep: dict | None = None, *, check: bool = True,
                timeout: float | None = None) -> tuple[dict, dict | None]:
        """Sends `{"janus": "message", "body": body[, "jsep": jsep]}` and returns the plugin's data and its
        JSEP, if any: from the `success` answer of a synchronous request (create, exists, list, …) or from the
        `event` that answers an asynchronous one (join, configure, publish, …). With `check`, a plugin error
        raises PluginError."""
        message = {"janus": "message", "body": body}
        if jsep is not None:
            message["jsep"] = jsep
        answer = self.request(message, timeout=timeout)
        data = (answer.get("plugindata") or {}).get("data") or {}
        if check and "error_code" in data:
            raise PluginError(data)
        return data, answer.get("jsep")

    def detach(self, **options) -> dict:
        return self.request({"janus": "detach"}, **options)

    def hangup(self, **options) -> dict:
        return self.request({"janus": "hangup"}, **options)


class VideoRoomHandle(JanusHandle):
    """The VideoRoom requests Plaza uses. Room ids are numbers unless the plugin runs with `string_ids`."""

    def create(self, room: int | None = None, *, secret: str | None = None, pin: str | None = None,
               publishers: int = 6, bitrate: int = 0, description: str | None = None,
               is_private: bool = False, permanent: bool = False, admin_key: str | None = None,
               **settings) -> dict:
        """Creates a room; returns `{"videoroom": "created", "room": id, "permanent": false}`."""
        body = {"request": "create", "publishers": publishers, "bitrate": bitrate, "is_private": is_private,
                "permanent": permanent}
        for key, value in (("room", room), ("secret", secret), ("pin", pin), ("description", description),
                           ("admin_key", admin_key)):
            if value is not None:
                body[key] = value
        body.update(settings)
        return self.message(body)[0]

    def exists(self, room) -> bool:
        return bool(self.message({"request": "exists", "room": room})[0]["exists"])

    def list_rooms(self, admin_key: str | None = None) -> list[dict]:
        body = {"request": "list"}
        if admin_key is not None:
            body["admin_key"] = admin_key
        return self.message(body)[0]["list"]

    def listparticipants(self, room) -> list[dict]:
        """`[{"id": …, "display": …, "publisher": bool, "talking"?: bool}, …]`: everyone joined as a publisher,
        sending or not."""
        return self.message({"request": "listparticipants", "room": room})[0]["participants"]

    def destroy(self, room, secret: str | None = None, permanent: bool = False) -> dict:
        body = {"request": "destroy", "room": room, "permanent": permanent}
        if secret is not None:
            body["secret"] = secret
        return self.message(body)[0]

    def join_publisher(self, room, *, pin: str | None = None, display: str | None = None,
                       feed_id=None, check: bool = True) -> dict:
        """Joins as a publisher without publishing yet (no SDP): `{"videoroom": "joined", "room", "id",
        "private_id", "publishers": [...]}`, or the plugin's error."""
        body = {"request": "join", "ptype": "publisher", "room": room}
        for key, value in (("pin", pin), ("display", display), ("id", feed_id)):
            if value is not None:
                body[key] = value
        return self.message(body, check=check)[0]

    def kick(self, room, participant_id, secret: str | None = None) -> dict:
        """Removes a participant from the room (the room's secret, if it has one): they get `leaving: "ok"`,
        `reason: "kicked"`, everyone else `kicked: <id>`. Their handle stays but cannot join again; a new
        handle can, with a valid token and the pin."""
        body = {"request": "kick", "room": room, "id": participant_id}
        if secret is not None:
            body["secret"] = secret
        return self.message(body)[0]

    def leave(self) -> dict:
        return self.message({"request": "leave"})[0]


# MARK: The Admin API over HTTP

class JanusAdmin:
    """The Admin API over HTTP: POST a JSON request to /admin (session- and handle-level ones to
    /admin/<session>[/<handle>]); the answer is HTTP 200 with `{"janus": "success" | "error", …}`."""

    def __init__(self, url: str, secret: str | None, timeout: float = READ_TIMEOUT):
        self.url = url.rstrip("/")
        self.secret = secret
        self.timeout = timeout

    def call(self, janus: str, path: str = "", *, check: bool = True, authenticate: bool = True,
             **fields) -> dict:
        """Posts `{"janus": janus, "transaction": …, "admin_secret": …, **fields}` to the Admin API + `path`."""
        body = {"janus": janus, "transaction": secrets.token_hex(6), **fields}
        if authenticate and self.secret is not None:
            body.setdefault("admin_secret", self.secret)
        http_request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                              headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(http_request, timeout=self.timeout) as response:
            answer = json.loads(response.read())
        if check and answer.get("janus") == "error":
            raise JanusError(answer)
        return answer

    def ping(self) -> bool:
        return self.call("ping", authenticate=False).get("janus") == "pong"

    def info(self) -> dict:
        return self.call("info", authenticate=False)

    def get_status(self) -> dict:
        return self.call("get_status")["status"]

    # Tokens (stored-token mode)

    def add_token(self, token: str, plugins=(VIDEOROOM,)) -> list[str]:
        """Adds `token`, allowed to attach only `plugins`; returns the plugins it may attach. Beware: an empty
        list allows every plugin, and plugin names Janus does not know are skipped silently."""
        answer = self.call("add_token", token=token, plugins=list(plugins))
        return answer["data"]["plugins"]

    def remove_token(self, token: str) -> dict:
        return self.call("remove_token", token=token)

    def list_tokens(self) -> list[dict]:
        """`[{"token": …, "allowed_plugins": [...]}, …]` (tokens allowed no plugin are left out)."""
        return self.call("list_tokens")["data"]["tokens"]

    def allow_token(self, token: str, plugins) -> list[str]:
        return self.call("allow_token", token=token, plugins=list(plugins))["data"]["plugins"]

    def disallow_token(self, token: str, plugins) -> list[str]:
        return self.call("disallow_token", token=token, plugins=list(plugins))["data"]["plugins"]

    # Load and control

    def list_sessions(self) -> list[int]:
        return self.call("list_sessions")["sessions"]

    def list_handles(self, session_id: int) -> list[int]:
        return self.call("list_handles", f"/{session_id}")["handles"]

    def handle_info(self, session_id: int, handle_id: int) -> dict:
        return self.call("handle_info", f"/{session_id}/{handle_id}")["info"]

    def destroy_session(self, session_id: int) -> dict:
        return self.call("destroy_session", f"/{session_id}")

    def accept_new_sessions(self, accept: bool) -> dict:
        return self.call("accept_new_sessions", accept=accept)

    def message_plugin(self, plugin: str, request: dict) -> dict:
        """A synchronous plugin request without any session (`{"janus": "message_plugin", "plugin", "request"}`):
        returns the plugin's response (for the VideoRoom: what `create`, `destroy`, `list`, … answer)."""
        return self.call("message_plugin", plugin=plugin, request=request)["response"]
