"""The client side of the tests of Plaza's HTTPS: TLS connections to 127.0.0.1 under any server name.

- `peer_certificate(port, server_name, trust)`: a TLS handshake with SNI `server_name`, trusting the PEM
  certificates `trust` (a path or PEM text; None checks nothing), optionally offering ALPN protocols. Returns the
  certificate the server presented (DER, SHA-256 fingerprint, validity, names, issuer) and the protocol agreed.
  With `trust` set, the handshake checks the chain and that the certificate is for `server_name`: trusting only
  an ACME CA's root, it also checks that the server sends the intermediate (Python fetches no missing ones).
- `wait_for_certificate(...)`: the same, again and again until a condition holds (a renewal, say).
- `https_get(port, server_name, path, trust)`: an HTTPS request to 127.0.0.1 with SNI and Host `server_name`.
- `http_get(port, path, host)`: a plain HTTP request to 127.0.0.1 with any Host (the HTTP-01 port's redirect).

Standard library, and the `openssl` command to read certificates.
"""

import calendar
import hashlib
import http.client
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


@dataclass
class PeerCertificate:
    der: bytes
    sha256: str  # lowercase hex, no colons
    not_before: datetime  # UTC
    not_after: datetime  # UTC
    subject: str  # openssl's one-line form, e.g. "CN=party.plaza.test"
    issuer: str
    serial: str  # hex as openssl prints it (uppercase, no 0x): Pebble's cert-status-by-serial wants it lowercase
    dns_names: list[str] = field(default_factory=list)
    alpn_protocol: str | None = None  # what the handshake agreed on, if ALPN was offered
    tls_version: str | None = None

    @property
    def lifetime(self) -> float:
        """notAfter − notBefore, in seconds."""
        return (self.not_after - self.not_before).total_seconds()

    @property
    def pem(self) -> str:
        return ssl.DER_cert_to_PEM_cert(self.der)


def client_context(trust: str | Path | None = None, alpn: list[str] | None = None) -> ssl.SSLContext:
    """A TLS client context: trusting only the certificates in `trust` (a PEM file's path, or PEM text), hostname
    checked; or, with `trust` None, checking nothing. Offers `alpn` when given."""
    if trust is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname
        if isinstance(trust, Path) or (isinstance(trust, str) and "-----BEGIN" not in trust):
            context.load_verify_locations(cafile=str(trust))
        else:
            context.load_verify_locations(cadata=trust)
    if alpn:
        context.set_alpn_protocols(list(alpn))
    return context


def peer_certificate(port: int, server_name: str, trust: str | Path | None = None, *, alpn: list[str] | None = None,
                     host: str = "127.0.0.1", timeout: float = 10) -> PeerCertificate:
    """The certificate the server at `host:port` presents to a client sending SNI `server_name`. Raises
    `ssl.SSLCertVerificationError` when `trust` is given and the certificate is not trusted for `server_name`,
    `ssl.SSLError` when the handshake fails (for example when no offered ALPN protocol is acceptable)."""
    context = client_context(trust, alpn)
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            der = tls.getpeercert(binary_form=True)
            agreed = tls.selected_alpn_protocol()
            version = tls.version()
    certificate = read_certificate(der)
    certificate.alpn_protocol = agreed
    certificate.tls_version = version
    return certificate


def wait_for_certificate(port: int, server_name: str, trust: str | Path | None = None, *,
                         until: Callable[[PeerCertificate], bool] = lambda _: True, timeout: float = 120,
                         interval: float = 0.5, alpn: list[str] | None = None) -> PeerCertificate:
    """`peer_certificate(...)` every `interval` seconds until one passes `until` (handshake errors count as not
    yet); raises `TimeoutError` with the last certificate or error after `timeout` seconds.
    E.g. `until=lambda c: c.sha256 != first.sha256` waits for a renewal."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            certificate = peer_certificate(port, server_name, trust, alpn=alpn, timeout=min(timeout, 10))
            if until(certificate):
                return certificate
            last = certificate
        except (OSError, ssl.SSLError) as error:
            last = error
        if time.monotonic() > deadline:
            raise TimeoutError(f"no certificate for {server_name} on port {port} as awaited within {timeout} s; "
                               f"last: {last!r}")
        time.sleep(interval)


def read_certificate(der: bytes) -> PeerCertificate:
    """A DER certificate read with the `openssl` command."""
    result = subprocess.run(
        [OPENSSL, "x509", "-inform", "DER", "-noout", "-startdate", "-enddate", "-serial", "-subject", "-issuer",
         "-nameopt", "RFC2253", "-ext", "subjectAltName"],
        input=der, capture_output=True, check=True)
    fields: dict[str, str] = {}
    dns_names: list[str] = []
    for line in result.stdout.decode().splitlines():
        stripped = line.strip()
        if "=" in line and not line.startswith((" ", "\t")) and not stripped.startswith("X509v3"):
            key, value = line.split("=", 1)
            fields[key.strip()] = value.strip()
        elif stripped.startswith(("DNS:", "IP Address:")):
            dns_names += [part.strip()[4:] for part in stripped.split(",") if part.strip().startswith("DNS:")]
    return PeerCertificate(
        der=der, sha256=hashlib.sha256(der).hexdigest(),
        not_before=_openssl_time(fields["notBefore"]), not_after=_openssl_time(fields["notAfter"]),
        subject=fields.get("subject", ""), issuer=fields.get("issuer", ""), serial=fields.get("serial", ""),
        dns_names=dns_names)


def _openssl_time(text: str) -> datetime:
    """"Jun  1 12:00:00 2026 GMT" (openssl's and the ssl module's form) as a UTC datetime."""
    return datetime.fromtimestamp(calendar.timegm(time.strptime(text, "%b %d %H:%M:%S %Y %Z")), tz=timezone.utc)


# MARK: HTTP


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # names lowercased; a repeated header's values joined with ", "
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to `address` (not to whatever `server_name` resolves to), with SNI and Host `server_name`."""

    def __init__(self, address: str, port: int, server_name: str, context: ssl.SSLContext, timeout: float):
        super().__init__(server_name, port, context=context, timeout=timeout)
        self._address = address
        self._tls_context = context

    def connect(self):
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls_context.wrap_socket(raw, server_hostname=self.host)


def _collect(response: http.client.HTTPResponse) -> Response:
    headers: dict[str, str] = {}
    for name, value in response.getheaders():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return Response(status=response.status, headers=headers, body=response.read())


def https_get(port: int, server_name: str, path: str = "/", trust: str | Path | None = None, *,
              method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None,
              host: str = "127.0.0.1", timeout: float = 10) -> Response:
    """An HTTPS request to `host:port` with SNI `server_name` and Host `server_name:port` (a `Host` in `headers`
    replaces it), trusting `trust` (see `client_context`). Redirects are not followed."""
    connection = _PinnedHTTPSConnection(host, port, server_name, client_context(trust), timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        return _collect(connection.getresponse())
    finally:
        connection.close()


def http_get(port: int, path: str = "/", host_header: str | None = None, *, method: str = "GET",
             headers: dict[str, str] | None = None, host: str = "127.0.0.1", timeout: float = 10) -> Response:
    """A plain HTTP request to `host:port` with Host `host_header` (when given). Redirects are not followed."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    all_headers = dict(headers or {})
    if host_header is not None:
        all_headers["Host"] = host_header
    try:
        connection.request(method, path, headers=all_headers)
        return _collect(connection.getresponse())
    finally:
        connection.close()
