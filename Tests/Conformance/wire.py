"""Raw-socket clients for the conformance tests: HTTP/1.1 exchanges and RFC 6455 WebSocket frames, built and
parsed byte by byte.

No HTTP or WebSocket library is used on purpose: the tests must be able to send what a well-behaved library
never would (reserved bits and opcodes, unmasked or oversized control frames, invalid UTF-8, broken
fragmentation, half a request head, …) and to see exactly what the server answers: its status line, its
close code, or nothing at all. Every read has a deadline, so a server that stays silent makes a test fail,
never hang.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import time
from dataclasses import dataclass, field

# How long a test waits for something it expects the server to do at once.
READ_TIMEOUT = 5.0

# RFC 6455 opcodes.
CONTINUATION = 0x0
TEXT = 0x1
BINARY = 0x2
CLOSE = 0x8
PING = 0x9
PONG = 0xA

OPCODE_NAMES = {CONTINUATION: "continuation", TEXT: "text", BINARY: "binary", CLOSE: "close", PING: "ping",
                PONG: "pong"}

# The bits of the first header byte.
FIN = 0x80
RSV1 = 0x40
RSV2 = 0x20
RSV3 = 0x10

WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# Frames a room sends on its own (other participants coming, going, moving); a test waiting for the answer
# to its own frame skips them.
ROOM_TRAFFIC = {"joined", "left", "moves", "enter", "exit", "media", "chat", "app", "signal"}


# ---------------------------------------------------------------------------------------------------------
# Frames

def encode_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bool = True,
                 mask_key: bytes | None = None) -> bytes:
    """One WebSocket frame, exactly as given: `rsv` is OR-ed into the first byte unchecked, any opcode is
    accepted, and the payload length uses the shortest of the 7-, 16- and 64-bit encodings. Client frames are
    masked (with a random key unless `mask_key` is given) unless `mask` is false."""
    first = (FIN if fin else 0) | rsv | (opcode & 0x0F)
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        header = struct.pack("!BB", first, mask_bit | length)
    elif length <= 0xFFFF:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not mask:
        return header + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    return header + key + apply_mask(payload, key)


def apply_mask(payload: bytes, key: bytes) -> bytes:
    """XORs `payload` with the repeated 4-byte `key` (masking and unmasking are the same operation)."""
    if not payload:
        return b""
    repeated = (key * (len(payload) // 4 + 1))[:len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(payload), "big")


def close_payload(code: int | None = None, reason: bytes = b"") -> bytes:
    """The payload of a close frame: a 2-byte status code and a reason, or nothing without a code."""
    return b"" if code is None else struct.pack("!H", code) + reason


def padded_ping(length: int) -> bytes:
    """`{"type":"ping"}` padded with JSON whitespace (spaces before the closing brace) to exactly `length` bytes."""
    core = b'{"type":"ping"'
    if length < len(core) + 1:
        raise ValueError(f"a ping needs at least {len(core) + 1} bytes")
    return core + b" " * (length - len(core) - 1) + b"}"


@dataclass
class Frame:
    """One frame as the server sent it."""
    fin: bool
    rsv: int
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int | None:
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    @property
    def close_reason(self) -> bytes:
        return self.payload[2:]

    def describe(self) -> str:
        name = OPCODE_NAMES.get(self.opcode, f"opcode {self.opcode:#x}")
        if self.opcode == CLOSE:
            if self.close_code is None:
                return "a close frame without a status code"
            return f"a close frame with code {self.close_code} reason {self.close_reason!r}"
        shown = self.payload[:200]
        return f"a {name} frame {shown!r}{'…' if len(self.payload) > 200 else ''}"


class ServerClosed(Exception):
    """The TCP connection ended (EOF or reset) where a frame or an answer was expected."""


class ServerSilent(Exception):
    """Nothing arrived before the deadline."""


# ---------------------------------------------------------------------------------------------------------
# Sockets

def connect(port: int, host: str = "127.0.0.1", source: str | None = None, timeout: float = READ_TIMEOUT,
            receive_buffer: int | None = None) -> socket.socket:
    """A TCP connection to the server, optionally from a chosen loopback source address (127.0.0.2, …) and with
    a small receive buffer (a client that stops reading then fills up fast)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    if source is not None:
        sock.bind((source, 0))
    sock.settimeout(timeout)
    sock.connect((host, port))
    return sock


def recv_until_eof(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """Everything the server sends within `timeout`, and whether the connection ended (EOF or reset) in time."""
    deadline = time.monotonic() + timeout
    received = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return received, False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return received, False
        except (ConnectionResetError, BrokenPipeError):
            return received, True
        if not chunk:
            return received, True
        received += chunk


def safe_send(sock: socket.socket, data: bytes) -> bool:
    """Sends `data`; false if the server had already closed the connection."""
    try:
        sock.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


# ---------------------------------------------------------------------------------------------------------
# HTTP

@dataclass
class HTTPResponse:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    status_line: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)


def request_bytes(method: str, target: str, headers: list[tuple[str, str]] | None = None, body: bytes = b"",
                  host: str = "127.0.0.1") -> bytes:
    """An HTTP/1.1 request: `Host` first, then `headers` in order, then `Content-Length` when there is a body."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse_head(head: bytes) -> tuple[int, str, dict[str, str], str]:
    """The status code, reason, headers (lower-case names) and status line of a response head."""
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0]
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise AssertionError(f"not an HTTP status line: {status_line!r}")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers, status_line


class HTTPConnection:
    """A raw HTTP/1.1 connection: send any bytes, read one response at a time (Content-Length, chunked, or up
    to EOF), then see whether the server keeps the connection or ends it."""

    def __init__(self, port: int, source: str | None = None):
        self.port = port
        self.sock = connect(port, source=source)
        self.buffer = b""
        self.eof = False

    def close(self):
        self.sock.close()

    def send(self, data: bytes) -> bool:
        return safe_send(self.sock, data)

    def request(self, method: str, target: str, headers=None, body: bytes = b"",
                timeout: float = READ_TIMEOUT) -> HTTPResponse:
        self.send(request_bytes(method, target, headers, body))
        return self.read_response(timeout)

    def _fill(self, deadline: float):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ServerSilent("no complete HTTP response before the deadline"
                               + (f" (received {self.buffer[:200]!r})" if self.buffer else ""))
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise ServerSilent("no complete HTTP response before the deadline"
                               + (f" (received {self.buffer[:200]!r})" if self.buffer else "")) from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            raise ServerClosed("connection ended" + (f" after {self.buffer[:200]!r}" if self.buffer else
                                                     " without any answer"))
        self.buffer += chunk

    def read_response(self, timeout: float = READ_TIMEOUT) -> HTTPResponse:
        """The next response. Raises ServerClosed if the connection ends before a status line and head arrive,
        ServerSilent if nothing complete arrives in time."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buffer:
            self._fill(deadline)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status, reason, headers, status_line = parse_head(head)
        if status in (101, 204, 304) or 100 <= status < 200:
            body = b""
        elif "content-length" in headers:
            length = int(headers["content-length"])
            while len(self.buffer) < length:
                try:
                    self._fill(deadline)
                except ServerClosed:
                    break
            body, self.buffer = self.buffer[:length], self.buffer[length:]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked(deadline)
        else:
            while True:
                try:
                    self._fill(deadline)
                except ServerClosed:
                    break
            body, self.buffer = self.buffer, b""
        return HTTPResponse(status, reason, headers, body, status_line)

    def _read_chunked(self, deadline: float) -> bytes:
        body = b""
        while True:
            while b"\r\n" not in self.buffer:
                self._fill(deadline)
            size_line, self.buffer = self.buffer.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(self.buffer) < size + 2:
                self._fill(deadline)
            body += self.buffer[:size]
            self.buffer = self.buffer[size + 2:]
            if size == 0:
                return body

    def wait_closed(self, timeout: float) -> tuple[bool, bytes]:
        """Whether the server ends the connection within `timeout`, and any bytes it sent meanwhile."""
        if self.eof:
            return True, self.buffer
        data, ended = recv_until_eof(self.sock, timeout)
        return ended, self.buffer + data


def exchange(port: int, raw: bytes, timeout: float = READ_TIMEOUT, source: str | None = None) -> HTTPResponse:
    """Sends raw request bytes on a new connection and returns the first response."""
    connection = HTTPConnection(port, source=source)
    try:
        connection.send(raw)
        return connection.read_response(timeout)
    finally:
        connection.close()


# ---------------------------------------------------------------------------------------------------------
# WebSocket

@dataclass
class WebSocket:
    """A client WebSocket on a raw socket. Sending is frame by frame, exactly as asked; reading gives frames,
    or JSON frames split out of the server's text messages (which may batch several, separated by "\\n")."""

    sock: socket.socket
    buffer: bytes = b""
    pending_json: list = field(default_factory=list)
    eof: bool = False

    @classmethod
    def open(cls, port: int, path: str = "/ws", source: str | None = None,
             receive_buffer: int | None = None, tls: "tuple[ssl.SSLContext, str] | None" = None) -> "WebSocket":
        """Performs the opening handshake (no subprotocol, no extension) and checks the 101 answer. With `tls`
        (a client context and the server name to send and verify), the connection is wss."""
        sock = connect(port, source=source, receive_buffer=receive_buffer)
        if tls is not None:
            context, server_name = tls
            sock = context.wrap_socket(sock, server_hostname=server_name)
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(request_bytes("GET", path, [
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]))
        buffer = b""
        deadline = time.monotonic() + READ_TIMEOUT
        while b"\r\n\r\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ServerSilent(f"no answer to the WebSocket upgrade (received {buffer!r})")
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                raise ServerClosed(f"connection ended during the WebSocket upgrade (received {buffer!r})")
            buffer += chunk
        head, rest = buffer.split(b"\r\n\r\n", 1)
        status, _, headers, status_line = parse_head(head)
        if status != 101:
            raise AssertionError(f"WebSocket upgrade answered {status_line!r}")
        expected = base64.b64encode(hashlib.sha1(key.encode() + WEBSOCKET_GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise AssertionError(f"wrong Sec-WebSocket-Accept {headers.get('sec-websocket-accept')!r}")
        return cls(sock, rest)

    def close(self):
        self.sock.close()

    # Sending

    def send_frame(self, opcode: int, payload: bytes = b"", **options) -> bool:
        """Sends one frame (see `encode_frame` for the options); false if the server had already closed."""
        return safe_send(self.sock, encode_frame(opcode, payload, **options))

    def send_raw(self, data: bytes) -> bool:
        return safe_send(self.sock, data)

    def send_text(self, text: str | bytes) -> bool:
        return self.send_frame(TEXT, text.encode() if isinstance(text, str) else text)

    def send_json(self, value) -> bool:
        return self.send_text(json.dumps(value, separators=(",", ":")))

    def send_close(self, code: int | None = 1000, reason: bytes = b"") -> bool:
        return self.send_frame(CLOSE, close_payload(code, reason))

    # Reading

    def _fill(self, deadline: float):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ServerSilent("nothing more from the server before the deadline")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise ServerSilent("nothing more from the server before the deadline") from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            raise ServerClosed("the TCP connection ended without a close frame")
        self.buffer += chunk

    def _take(self, count: int, deadline: float) -> bytes:
        while len(self.buffer) < count:
            self._fill(deadline)
        taken, self.buffer = self.buffer[:count], self.buffer[count:]
        return taken

    def read_frame(self, timeout: float = READ_TIMEOUT) -> Frame:
        """The next frame the server sends. Server frames must not be masked."""
        deadline = time.monotonic() + timeout
        first, second = self._take(2, deadline)
        if second & 0x80:
            raise AssertionError("the server sent a masked frame")
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._take(2, deadline))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._take(8, deadline))[0]
        payload = self._take(length, deadline)
        return Frame(bool(first & FIN), first & 0x70, first & 0x0F, payload)

    def next_event(self, timeout: float = READ_TIMEOUT):
        """The next thing the server says: a JSON frame (a dict, split out of a text message) or a control or
        binary frame (a Frame). Fragmented server messages are reassembled."""
        if self.pending_json:
            return self.pending_json.pop(0)
        deadline = time.monotonic() + timeout
        frame = self.read_frame(deadline - time.monotonic())
        if frame.opcode != TEXT:
            return frame
        payload = frame.payload
        while not frame.fin:
            frame = self.read_frame(deadline - time.monotonic())
            if frame.opcode == CONTINUATION:
                payload += frame.payload
            elif frame.opcode >= CLOSE:
                return frame  # A close or control frame in the middle: report it, drop the partial message.
            else:
                raise AssertionError(f"the server interleaved {frame.describe()} into a fragmented message")
        for part in payload.decode("utf-8").split("\n"):
            self.pending_json.append(json.loads(part))
        return self.pending_json.pop(0)

    def expect_json(self, frame_type: str, timeout: float = READ_TIMEOUT) -> dict:
        """Waits for the next JSON frame of `frame_type`, skipping server pings and the room's own traffic;
        anything else (an error frame, a close frame, the connection ending) fails with what it was."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.next_event(deadline - time.monotonic())
            except ServerSilent:
                raise AssertionError(f"expected a {frame_type!r} frame; the server sent nothing within "
                                     f"{timeout:g} s") from None
            except ServerClosed:
                raise AssertionError(f"expected a {frame_type!r} frame; the TCP connection ended") from None
            if isinstance(event, Frame):
                if event.opcode == PING:
                    continue
                raise AssertionError(f"expected a {frame_type!r} frame; the server sent {event.describe()}")
            if event.get("type") == frame_type:
                return event
            if event.get("type") in ROOM_TRAFFIC:
                continue
            raise AssertionError(f"expected a {frame_type!r} frame; the server sent {event}")

    def expect_pong_frame(self, payload: bytes, timeout: float = READ_TIMEOUT) -> Frame:
        """Waits for a WebSocket pong frame and checks it carries `payload`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.next_event(deadline - time.monotonic())
            except ServerSilent:
                raise AssertionError(f"expected a pong frame; the server sent nothing within {timeout:g} s") from None
            except ServerClosed:
                raise AssertionError("expected a pong frame; the TCP connection ended") from None
            if isinstance(event, Frame):
                if event.opcode == PING:
                    continue
                if event.opcode == PONG:
                    assert event.payload == payload, f"pong payload {event.payload!r}, expected {payload!r}"
                    return event
                raise AssertionError(f"expected a pong frame; the server sent {event.describe()}")
            if event.get("type") in ROOM_TRAFFIC:
                continue
            raise AssertionError(f"expected a pong frame; the server sent {event}")

    def assert_alive(self):
        """The connection still works: an application ping is answered with a pong."""
        assert self.send_json({"type": "ping"}), "the server closed the connection"
        self.expect_json("pong")

    def read_close(self, timeout: float = READ_TIMEOUT) -> Frame:
        """Reads until the server's close frame (skipping its pings and the room's traffic) and returns it.
        Anything else before it — an answer to a frame that should have been refused — fails the test."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.next_event(deadline - time.monotonic())
            except ServerSilent:
                raise AssertionError(f"expected a close frame; the server sent nothing within {timeout:g} s "
                                     "and kept the connection open") from None
            except ServerClosed:
                raise AssertionError("expected a close frame; the TCP connection ended without one") from None
            if isinstance(event, Frame):
                if event.opcode == CLOSE:
                    return event
                if event.opcode == PING:
                    continue
                raise AssertionError(f"expected a close frame; the server sent {event.describe()}")
            if event.get("type") in ROOM_TRAFFIC:
                continue
            raise AssertionError(f"expected a close frame; the server sent {event}")

    def expect_tcp_end(self, timeout: float = READ_TIMEOUT):
        """The server ends the TCP connection within `timeout` and sends nothing more."""
        data, ended = recv_until_eof(self.sock, timeout)
        data = self.buffer + data
        self.buffer = b""
        assert not data, f"the server sent {data[:200]!r} after its close frame"
        assert ended, f"the server kept the TCP connection open {timeout:g} s after its close frame"

    def expect_close(self, *codes: int, reply: bool = True, timeout: float = READ_TIMEOUT) -> Frame:
        """The server sends a close frame with one of `codes`, then ends the TCP connection. With `reply`, the
        close is answered first (echoing the code), as a client completing the closing handshake does."""
        frame = self.read_close(timeout)
        wanted = " or ".join(str(code) for code in codes)
        assert frame.close_code in codes, f"expected close code {wanted}; the server sent {frame.describe()}"
        if reply:
            self.send_close(frame.close_code)
        self.expect_tcp_end(timeout)
        return frame
