"""A TURN relay for the browser tests, and just enough of a TURN client to ask it for an allocation.

`TurnServer` runs Debian's coturn (`turnserver`) on free loopback ports in a temporary folder, in the
shared-secret mode Plaza's `turn.secret` is for (`use-auth-secret`). `allocate` is a minimal STUN/TURN client
(RFC 5389, RFC 5766) over UDP with the long-term credential mechanism: an Allocate without credentials to learn
the realm and nonce, then one signed with MESSAGE-INTEGRITY. Standard library only.
"""

import base64
import hashlib
import hmac
import os
import random
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

# MARK: STUN messages

MAGIC_COOKIE = 0x2112A442

BINDING = 0x0001
ALLOCATE = 0x0003
REFRESH = 0x0004

REQUEST = 0x0000
SUCCESS = 0x0100
ERROR = 0x0110

ATTR_MAPPED_ADDRESS = 0x0001
ATTR_USERNAME = 0x0006
ATTR_MESSAGE_INTEGRITY = 0x0008
ATTR_ERROR_CODE = 0x0009
ATTR_LIFETIME = 0x000D
ATTR_REALM = 0x0014
ATTR_NONCE = 0x0015
ATTR_XOR_RELAYED_ADDRESS = 0x0016
ATTR_REQUESTED_TRANSPORT = 0x0019
ATTR_XOR_MAPPED_ADDRESS = 0x0020
ATTR_FINGERPRINT = 0x8028

UDP_PROTOCOL = 17


class StunError(Exception):
    """The server did not answer, or answered with something that is not a STUN response to our request."""


@dataclass
class Message:
    method: int
    cls: int
    transaction: bytes
    attributes: list  # [(type, value bytes)], in order
    raw: bytes = b""

    def get(self, kind):
        return next((value for t, value in self.attributes if t == kind), None)


def _attribute(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def encode(method: int, cls: int, transaction: bytes, attributes: list, key: bytes = None) -> bytes:
    """A STUN message; with `key`, signed with MESSAGE-INTEGRITY (HMAC-SHA1 over everything before it, with the
    header's length already counting the MESSAGE-INTEGRITY attribute) and closed with a FINGERPRINT."""
    body = b"".join(_attribute(kind, value) for kind, value in attributes)
    kind = (method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) | cls

    def header(length):
        return struct.pack("!HHI", kind, length, MAGIC_COOKIE) + transaction

    if key is not None:
        signed = header(len(body) + 24) + body
        body += _attribute(ATTR_MESSAGE_INTEGRITY, hmac.new(key, signed, hashlib.sha1).digest())
        crc = (zlib.crc32(header(len(body) + 8) + body) ^ 0x5354554E) & 0xFFFFFFFF
        body += _attribute(ATTR_FINGERPRINT, struct.pack("!I", crc))
    return header(len(body)) + body


def decode(data: bytes) -> Message:
    if len(data) < 20:
        raise StunError("short STUN message")
    kind, length, cookie = struct.unpack("!HHI", data[:8])
    if cookie != MAGIC_COOKIE or kind & 0xC000 or len(data) < 20 + length:
        raise StunError("not a STUN message")
    method = (kind & 0x000F) | ((kind & 0x00E0) >> 1) | ((kind & 0x3E00) >> 2)
    attributes = []
    offset = 20
    while offset + 4 <= 20 + length:
        t, n = struct.unpack("!HH", data[offset:offset + 4])
        attributes.append((t, data[offset + 4:offset + 4 + n]))
        offset += 4 + n + (-n % 4)
    return Message(method, kind & 0x0110, data[8:20], attributes, data[:20 + length])


def integrity_valid(message: Message, key: bytes) -> bool:
    """Whether the message's MESSAGE-INTEGRITY is the HMAC-SHA1 of what precedes it, keyed with `key`."""
    data = message.raw
    offset = 20
    while offset + 4 <= len(data):
        t, n = struct.unpack("!HH", data[offset:offset + 4])
        if t == ATTR_MESSAGE_INTEGRITY:
            signed = data[:2] + struct.pack("!H", offset + 24 - 20) + data[4:offset]
            return hmac.compare_digest(hmac.new(key, signed, hashlib.sha1).digest(), data[offset + 4:offset + 24])
        offset += 4 + n + (-n % 4)
    return False


def xor_address(value: bytes, transaction: bytes):
    """(ip, port) of an XOR-MAPPED-ADDRESS or XOR-RELAYED-ADDRESS."""
    family, port = struct.unpack("!xBH", value[:4])
    port ^= MAGIC_COOKIE >> 16
    if family == 0x01:
        address = bytes(a ^ b for a, b in zip(value[4:8], struct.pack("!I", MAGIC_COOKIE)))
        return socket.inet_ntop(socket.AF_INET, address), port
    mask = struct.pack("!I", MAGIC_COOKIE) + transaction
    address = bytes(a ^ b for a, b in zip(value[4:20], mask))
    return socket.inet_ntop(socket.AF_INET6, address), port


def error_code(message: Message):
    """(code, reason) of an error response's ERROR-CODE, or None."""
    value = message.get(ATTR_ERROR_CODE)
    if value is None:
        return None
    return (value[2] & 0x07) * 100 + value[3], value[4:].decode("utf-8", "replace").rstrip("\0")


def long_term_key(username: str, realm: str, password: str) -> bytes:
    """The long-term credential key: MD5(username ":" realm ":" password) (RFC 5389 §15.4; SASLprep is the
    identity for the ASCII names used here)."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).digest()


def transact(sock: socket.socket, server, method: int, attributes: list, key: bytes = None, timeout=3.0) -> Message:
    """Sends a request and returns its response, retransmitting over UDP (every 0.25 s, doubling)."""
    transaction = secrets.token_bytes(12)
    request = encode(method, REQUEST, transaction, attributes, key)
    deadline = time.monotonic() + timeout
    wait = 0.25
    while time.monotonic() < deadline:
        sock.sendto(request, server)
        sock.settimeout(min(wait, max(0.01, deadline - time.monotonic())))
        try:
            while True:
                data, _ = sock.recvfrom(65536)
                try:
                    response = decode(data)
                except StunError:
                    continue
                if response.transaction == transaction and response.method == method:
                    return response
        except socket.timeout:
            wait *= 2
    raise StunError(f"no answer from {server[0]}:{server[1]} within {timeout} s")


# MARK: TURN allocations

@dataclass
class Allocation:
    """What an authenticated Allocate came back with: a relayed address, or the error the server gave."""
    ok: bool
    relayed: tuple = None  # (ip, port)
    mapped: tuple = None
    lifetime: int = None
    error: int = None
    reason: str = ""
    realm: str = None
    integrity_checked: bool = False


def binding(server, timeout=1.0):
    """A STUN Binding request: our address as the server sees it (XOR-MAPPED-ADDRESS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        response = transact(sock, server, BINDING, [], timeout=timeout)
        value = response.get(ATTR_XOR_MAPPED_ADDRESS)
        if response.cls != SUCCESS or value is None:
            raise StunError(f"binding refused: {error_code(response)}")
        return xor_address(value, response.transaction)


def allocate(server, username: str, password: str, lifetime: int = None, release=True) -> Allocation:
    """Asks `server` ((host, port), UDP) for a UDP relay with the long-term credential `username`/`password`.

    The first Allocate carries no credentials and must be refused with 401 and the server's REALM and NONCE; the
    second is signed with them. A success is checked for the server's own MESSAGE-INTEGRITY (the server derived
    the same key), and, with `release`, the allocation is given back at once (a Refresh with lifetime 0).
    """
    transport = [(ATTR_REQUESTED_TRANSPORT, struct.pack("!B3x", UDP_PROTOCOL))]
    if lifetime is not None:
        transport.append((ATTR_LIFETIME, struct.pack("!I", lifetime)))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        challenge = transact(sock, server, ALLOCATE, transport)
        if challenge.cls != ERROR or (error_code(challenge) or (0,))[0] != 401:
            raise StunError(f"an Allocate without credentials was not challenged: {error_code(challenge)}")
        realm = challenge.get(ATTR_REALM)
        nonce = challenge.get(ATTR_NONCE)
        if realm is None or nonce is None:
            raise StunError("the 401 challenge carries no REALM or NONCE")
        key = long_term_key(username, realm.decode(), password)
        for _ in range(2):  # once more after a 438 (stale nonce), with the new nonce
            credentials = [(ATTR_USERNAME, username.encode()), (ATTR_REALM, realm), (ATTR_NONCE, nonce)]
            response = transact(sock, server, ALLOCATE, transport + credentials, key)
            code = error_code(response)
            if response.cls == ERROR and code and code[0] == 438 and response.get(ATTR_NONCE):
                nonce = response.get(ATTR_NONCE)
                continue
            break
        if response.cls != SUCCESS:
            code, reason = error_code(response) or (None, "")
            return Allocation(False, error=code, reason=reason, realm=realm.decode())
        relayed = response.get(ATTR_XOR_RELAYED_ADDRESS)
        mapped = response.get(ATTR_XOR_MAPPED_ADDRESS)
        granted = response.get(ATTR_LIFETIME)
        result = Allocation(
            True,
            relayed=xor_address(relayed, response.transaction) if relayed else None,
            mapped=xor_address(mapped, response.transaction) if mapped else None,
            lifetime=struct.unpack("!I", granted)[0] if granted else None,
            realm=realm.decode(),
            integrity_checked=integrity_valid(response, key),
        )
        if release:
            credentials = [(ATTR_USERNAME, username.encode()), (ATTR_REALM, realm), (ATTR_NONCE, nonce)]
            try:
                transact(sock, server, REFRESH, [(ATTR_LIFETIME, struct.pack("!I", 0))] + credentials, key, timeout=1)
            except StunError:
                pass  # it expires on its own
        return result


def shared_secret_credential(secret: str, user: str, expires: int):
    """A TURN REST API credential, as Plaza's join hands them out: username `<expiry>:<user>`, password
    base64(HMAC-SHA1(secret, username))."""
    username = f"{expires}:{user}"
    password = base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()
    return username, password


# MARK: coturn

def _free_on_both(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_udp_tcp_port() -> int:
    """A loopback port free for both UDP and TCP (coturn listens on both)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if _free_on_both(port):
            return port
    raise RuntimeError("no free port")


def free_port_range(count: int):
    """(first, last): `count` consecutive loopback UDP ports that are free now, outside the ephemeral range."""
    for _ in range(200):
        first = random.randrange(20000, 32000 - count)
        if all(_free_on_both(port) for port in range(first, first + count)):
            return first, first + count - 1
    raise RuntimeError("no free port range")


def turnserver_binary() -> str:
    for candidate in (os.environ.get("TURNSERVER"), shutil.which("turnserver"), "/usr/bin/turnserver"):
        if candidate and os.path.exists(candidate):
            return candidate
    raise RuntimeError("turnserver not found: install Debian's coturn")


class TurnServer:
    """coturn on a free loopback port, relaying on loopback, with shared-secret (time-limited) credentials.

    Started with `-n`, so /etc/turnserver.conf (Debian's sends the log to syslog) plays no part; every file it
    writes (log, pid, its SQLite user database) is in its own temporary folder. It runs as any user.
    """

    REALM = "plaza.test"

    def __init__(self, secret: str, relay_ports: int = 32):
        self.secret = secret
        self.directory = Path(tempfile.mkdtemp(prefix="plaza-coturn-"))
        self.port = free_udp_tcp_port()
        self.min_port, self.max_port = free_port_range(relay_ports)
        self.log_path = self.directory / "turnserver.log"
        self.process = None

    @property
    def address(self):
        return ("127.0.0.1", self.port)

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def start(self):
        arguments = [
            turnserver_binary(), "-n",
            "--listening-ip=127.0.0.1", f"--listening-port={self.port}", "--relay-ip=127.0.0.1",
            f"--min-port={self.min_port}", f"--max-port={self.max_port}",
            "--use-auth-secret", f"--static-auth-secret={self.secret}", f"--realm={self.REALM}",
            # Peers are relays on 127.0.0.1 too, which coturn refuses unless told otherwise.
            "--allow-loopback-peers",
            "--no-tls", "--no-dtls", "--no-cli", "--no-stun-backward-compatibility",
            f"--log-file={self.log_path}", "--simple-log", "--no-stdout-log", "--verbose",
            f"--pidfile={self.directory / 'turnserver.pid'}", f"--userdb={self.directory / 'turndb'}",
        ]
        self.output = open(self.directory / "turnserver.out", "ab")
        self.process = subprocess.Popen(arguments, stdout=self.output, stderr=self.output, cwd=self.directory)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"turnserver exited with {self.process.returncode}:\n{self.log()}")
            try:
                binding(self.address, timeout=0.3)
                return self
            except (StunError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"turnserver did not answer within 15 s:\n{self.log()}")

    def log(self) -> str:
        parts = []
        for path in (self.log_path, self.directory / "turnserver.out"):
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "".join(parts)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
        if getattr(self, "output", None):
            self.output.close()

    def cleanup(self):
        shutil.rmtree(self.directory, ignore_errors=True)
