"""A real ACME CA for the tests of Plaza's HTTPS with automatic certificates: Debian's `pebble` (Let's Encrypt's
ACME test server) with `pebble-challtestsrv` as its DNS server, on free loopback ports, in a temporary folder.

- `TestCA`: a certificate authority made at test time with the `openssl` command line. Pebble serves its ACME API
  (and its management interface) over HTTPS with a certificate for 127.0.0.1 and localhost that this CA signs;
  its PEM file is what Plaza is given as `tls.acmeCA`, the CA to trust for the ACME server itself.
- `Pebble`: the CA's two processes. Every name resolves to 127.0.0.1 (A) and to nothing (AAAA), so Pebble's
  validator comes to Plaza on 127.0.0.1 at the ports the caller gives: `http_port` for HTTP-01 (Plaza's
  `tls.httpPort`) and `tls_port` for TLS-ALPN-01 (Plaza's https port). Certificates Pebble issues chain to a root
  it makes at each start, which `issuing_roots_pem()` fetches: a client checking Plaza's certificate trusts it.
- Ways to make issuance fail, for the tests of failed renewals: `refuse_validation(name)` (DNS answers SERVFAIL
  for the name, so every challenge of it turns invalid), `point(name, address)` (the validator goes elsewhere),
  `stop_dns()` (every lookup fails), `stop_acme()`/`start_acme()` (the ACME server is gone; a new start, on the
  same ports, is a new CA with new roots that knows no account: an old account's requests get accountDoesNotExist).
- `resolve(name, port)`: a DNS A query over UDP, to look at what the mock DNS answers.

Standard library and the `openssl` command only.
"""

import json
import os
import secrets
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Support"))
from plaza_processes import free_port, stop  # noqa: E402

def _binary(variable: str, name: str, package: str) -> str:
    for candidate in (os.environ.get(variable), shutil.which(name), f"/usr/bin/{name}"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(f"{name} not found: install Debian's {package}")


def pebble_binary() -> str:
    """`pebble`: $PEBBLE, or the one on the PATH (Debian's package `pebble`)."""
    return _binary("PEBBLE", "pebble", "pebble")


def challtestsrv_binary() -> str:
    """`pebble-challtestsrv`: $PEBBLE_CHALLTESTSRV, or the one on the PATH (also in Debian's `pebble`)."""
    return _binary("PEBBLE_CHALLTESTSRV", "pebble-challtestsrv", "pebble")


def openssl_binary() -> str:
    return _binary("OPENSSL", "openssl", "openssl")


# MARK: Ports


# MARK: A test certificate authority


def _openssl(*arguments: str, cwd: Path):
    result = subprocess.run([openssl_binary(), *arguments], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(arguments)} failed:\n{result.stderr}")
    return result.stdout


class TestCA:
    """A CA key and self-signed certificate (P-256, valid two days) in `directory`, and certificates it signs.

    `ca_pem_path` is the CA's certificate; `server_cert_path`/`server_key_path` a certificate for 127.0.0.1 and
    localhost (SAN IP:127.0.0.1, DNS:localhost), made by the constructor, which Pebble serves.
    """

    __test__ = False  # not a test class, though its name starts with "Test"

    def __init__(self, directory: Path, name: str = "Plaza test ACME server CA"):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca_key_path = self.directory / "ca.key"
        self.ca_pem_path = self.directory / "ca.pem"
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(self.ca_key_path),
                 cwd=self.directory)
        _openssl("req", "-x509", "-new", "-key", str(self.ca_key_path), "-sha256", "-days", "2",
                 "-subj", f"/CN={name}", "-set_serial", f"0x{secrets.token_hex(8)}",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-addext", "subjectKeyIdentifier=hash",
                 "-out", str(self.ca_pem_path), cwd=self.directory)
        self.server_cert_path, self.server_key_path = self.issue("acme-server", ["IP:127.0.0.1", "DNS:localhost"])

    def issue(self, stem: str, subject_alt_names: list[str], days: int = 2) -> tuple[Path, Path]:
        """A server certificate signed by this CA for `subject_alt_names` (openssl form: "DNS:a.test",
        "IP:127.0.0.1"), written to `<stem>.pem` and its key to `<stem>.key`; returns the two paths."""
        key = self.directory / f"{stem}.key"
        csr = self.directory / f"{stem}.csr"
        cert = self.directory / f"{stem}.pem"
        extensions = self.directory / f"{stem}.ext"
        extensions.write_text(
            "basicConstraints = critical, CA:FALSE\n"
            "keyUsage = critical, digitalSignature\n"
            "extendedKeyUsage = serverAuth\n"
            "subjectKeyIdentifier = hash\n"
            "authorityKeyIdentifier = keyid\n"
            f"subjectAltName = {', '.join(subject_alt_names)}\n"
        )
        common_name = subject_alt_names[0].split(":", 1)[1]
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key),
                 cwd=self.directory)
        _openssl("req", "-new", "-key", str(key), "-subj", f"/CN={common_name}", "-out", str(csr), cwd=self.directory)
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(self.ca_pem_path), "-CAkey", str(self.ca_key_path),
                 "-set_serial", f"0x{secrets.token_hex(8)}", "-days", str(days), "-sha256",
                 "-extfile", str(extensions), "-out", str(cert), cwd=self.directory)
        csr.unlink()
        extensions.unlink()
        return cert, key

    def context(self) -> ssl.SSLContext:
        """A client context trusting only this CA (hostnames checked)."""
        return ssl.create_default_context(cafile=str(self.ca_pem_path))


# MARK: DNS


@dataclass
class DNSAnswer:
    rcode: int  # 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN
    addresses: list[str]


def resolve(name: str, port: int, server: str = "127.0.0.1", timeout: float = 2.0) -> DNSAnswer:
    """An A query for `name` to the DNS server at `server:port` over UDP: the response code and the addresses."""
    query_id = secrets.randbits(16)
    question = b"".join(bytes([len(label)]) + label.encode("ascii") for label in name.rstrip(".").split("."))
    question += b"\x00" + struct.pack("!HH", 1, 1)  # QTYPE A, QCLASS IN
    packet = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + question  # recursion desired, one question
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, (server, port))
        while True:
            response, _ = s.recvfrom(4096)
            if len(response) >= 12 and struct.unpack("!H", response[:2])[0] == query_id:
                break
    _, flags, questions, answers, _, _ = struct.unpack("!HHHHHH", response[:12])
    offset = 12
    for _ in range(questions):
        offset = _skip_name(response, offset) + 4
    addresses = []
    for _ in range(answers):
        offset = _skip_name(response, offset)
        record_type, _, _, length = struct.unpack("!HHIH", response[offset:offset + 10])
        offset += 10
        if record_type == 1 and length == 4:
            addresses.append(socket.inet_ntoa(response[offset:offset + 4]))
        offset += length
    return DNSAnswer(rcode=flags & 0x000F, addresses=addresses)


def _skip_name(message: bytes, offset: int) -> int:
    while True:
        length = message[offset]
        if length == 0:
            return offset + 1
        if length & 0xC0 == 0xC0:  # a compression pointer ends the name
            return offset + 2
        offset += 1 + length


# MARK: Pebble


class ProcessExited(RuntimeError):
    pass


class Pebble:
    """Pebble and its mock DNS server, started by `start()`, stopped by `stop()` (also a context manager).

    - `test_ca`: the `TestCA` whose server certificate Pebble serves (its `ca_pem_path` is `ca_pem_path` here).
    - `http_port`, `tls_port`: where Pebble's validator connects on 127.0.0.1 for HTTP-01 and TLS-ALPN-01.
    - `validity_period`: seconds each issued certificate is valid (config `certificateValidityPeriod`).
    - `nonce_reject`: percent of good nonces Pebble rejects as badNonce (`PEBBLE_WFE_NONCEREJECT`); None keeps
      Pebble's own 5%, so a client's retry on badNonce is exercised.
    - `authz_reuse`: percent of new orders that reuse a valid authorization (`PEBBLE_AUTHZREUSE`); default 0, so
      every order, renewals included, is validated afresh (Pebble's own 50% would let a renewal through now and
      then however validation is set to fail).
    - `always_valid`: every challenge passes without a validation request (`PEBBLE_VA_ALWAYS_VALID`).
    - `validation_sleep`: None for no sleep before validations (`PEBBLE_VA_NOSLEEP=1`); else at most this many
      seconds at random (`PEBBLE_VA_SLEEPTIME`).
    - `chain_length`: certificates between the leaf and the root (`PEBBLE_CHAIN_LENGTH`; Pebble's default 1).
    - `blocked_domains`: names Pebble refuses to issue for (config `domainBlocklist`).
    - `environment`: more environment variables for `pebble` (the caller's own PEBBLE_* variables are not passed
      on, so a developer's shell does not change what the tests see).
    - `directory`: where the configuration and the logs go (`pebble.log`, `challtestsrv.log`); a new temporary
      folder by default, removed by `stop()` unless `keep` is set.

    What Pebble 2.4 does, as seen from a client: each challenge is checked with three requests (three GETs with
    `Host: <name>:<http_port>`, or three TLS handshakes with SNI `<name>` offering only `acme-tls/1`); an issued
    certificate's notBefore is the moment of issue (no backdating) and its notAfter one second short of
    `validity_period` after it; the chain is the leaf then the intermediate(s), without the root.
    """

    def __init__(self, test_ca: TestCA, http_port: int, tls_port: int, *, validity_period: int = 3600,
                 nonce_reject: int | None = None, authz_reuse: int | None = 0, always_valid: bool = False,
                 validation_sleep: int | None = None, chain_length: int | None = None,
                 blocked_domains: list[str] | None = None, environment: dict[str, str] | None = None,
                 directory: Path | None = None, keep: bool = False):
        self.test_ca = test_ca
        self.http_port = http_port
        self.tls_port = tls_port
        self.validity_period = validity_period
        self.nonce_reject = nonce_reject
        self.authz_reuse = authz_reuse
        self.always_valid = always_valid
        self.validation_sleep = validation_sleep
        self.chain_length = chain_length
        self.blocked_domains = blocked_domains or []
        self.extra_environment = environment or {}
        self.keep = keep or directory is not None
        self.directory = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="plaza-pebble-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config_path = self.directory / "pebble-config.json"
        self.pebble_log_path = self.directory / "pebble.log"
        self.challtestsrv_log_path = self.directory / "challtestsrv.log"
        self.acme_port: int | None = None
        self.management_port: int | None = None
        self.dns_port: int | None = None
        self.dns_management_port: int | None = None
        self._pebble: subprocess.Popen | None = None
        self._challtestsrv: subprocess.Popen | None = None

    # MARK: Addresses

    @property
    def ca_pem_path(self) -> Path:
        """The CA of Pebble's own HTTPS certificate: Plaza's `tls.acmeCA`."""
        return self.test_ca.ca_pem_path

    @property
    def directory_url(self) -> str:
        """The ACME directory: Plaza's `tls.acmeDirectory`."""
        return f"https://127.0.0.1:{self.acme_port}/dir"

    @property
    def management_url(self) -> str:
        return f"https://127.0.0.1:{self.management_port}"

    @property
    def dns_management_url(self) -> str:
        return f"http://127.0.0.1:{self.dns_management_port}"

    def tls_settings(self, domains: list[str], challenge: str = "http-01") -> dict:
        """Plaza's `tls` settings for obtaining `domains` from this Pebble with `challenge` (http-01 answered on
        `http_port`, tls-alpn-01 on `tls_port`, which must be Plaza's https port)."""
        return {"domains": list(domains), "acmeDirectory": self.directory_url, "acmeCA": str(self.ca_pem_path),
                "challenge": challenge, "httpPort": self.http_port}

    # MARK: Lifecycle

    def start(self) -> "Pebble":
        self.start_dns()
        try:
            self.start_acme()
        except BaseException:
            self.stop_dns()
            raise
        return self

    def stop(self):
        self.stop_acme()
        self.stop_dns()
        if not self.keep:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "Pebble":
        return self.start()

    def __exit__(self, *_):
        self.stop()

    def start_dns(self):
        """Starts `pebble-challtestsrv` as a DNS server only (its challenge servers off: the challenge ports are
        Plaza's), answering A queries with 127.0.0.1 and AAAA queries with nothing. Keeps its ports across
        restarts, so Pebble, told its address once, finds it again."""
        if self._challtestsrv is not None:
            return
        keep_ports = self.dns_port is not None
        for attempt in range(5):
            if not keep_ports:
                self.dns_port = free_port(udp=True)
                self.dns_management_port = free_port()
            log = open(self.challtestsrv_log_path, "ab")
            self._challtestsrv = subprocess.Popen(
                [challtestsrv_binary(), "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
                 "-dns01", f"127.0.0.1:{self.dns_port}", "-management", f"127.0.0.1:{self.dns_management_port}",
                 "-http01", "", "-https01", "", "-tlsalpn01", ""],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            log.close()
            try:
                self._wait_for_dns()
                return
            except ProcessExited:
                self._challtestsrv = None
                if keep_ports or attempt == 4:
                    raise

    def stop_dns(self):
        """Stops the DNS server: Pebble's lookups are refused (on loopback, at once) and its validations fail."""
        stop(self._challtestsrv)
        self._challtestsrv = None

    def start_acme(self):
        """Starts `pebble` (a fresh CA: new roots, no accounts, no orders) on free loopback ports, or on its
        previous ones after `stop_acme()`, so `directory_url` stays the same."""
        if self._pebble is not None:
            return
        keep_ports = self.acme_port is not None
        for attempt in range(5):
            if not keep_ports:
                self.acme_port = free_port()
                self.management_port = free_port()
            self.config_path.write_text(json.dumps({"pebble": self._config()}, indent=2))
            log = open(self.pebble_log_path, "ab")
            self._pebble = subprocess.Popen(
                [pebble_binary(), "-config", str(self.config_path), "-dnsserver", f"127.0.0.1:{self.dns_port}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self._environment(),
                start_new_session=True)
            log.close()
            try:
                self._wait_for_directory()
                return
            except ProcessExited:
                self._pebble = None
                if keep_ports or attempt == 4:
                    raise

    def stop_acme(self):
        """Stops Pebble: ACME requests are refused. Everything it knew is lost; `start_acme()` starts afresh."""
        stop(self._pebble)
        self._pebble = None

    def restart_acme(self):
        self.stop_acme()
        self.start_acme()

    def _config(self) -> dict:
        config = {
            "listenAddress": f"127.0.0.1:{self.acme_port}",
            "managementListenAddress": f"127.0.0.1:{self.management_port}",
            "certificate": str(self.test_ca.server_cert_path),
            "privateKey": str(self.test_ca.server_key_path),
            "httpPort": self.http_port,
            "tlsPort": self.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "certificateValidityPeriod": self.validity_period,
        }
        if self.blocked_domains:
            config["domainBlocklist"] = list(self.blocked_domains)
        return config

    def _environment(self) -> dict[str, str]:
        environment = {key: value for key, value in os.environ.items() if not key.startswith("PEBBLE_")}
        if self.validation_sleep is None:
            environment["PEBBLE_VA_NOSLEEP"] = "1"
        else:
            environment["PEBBLE_VA_SLEEPTIME"] = str(self.validation_sleep)
        if self.nonce_reject is not None:
            environment["PEBBLE_WFE_NONCEREJECT"] = str(self.nonce_reject)
        if self.authz_reuse is not None:
            environment["PEBBLE_AUTHZREUSE"] = str(self.authz_reuse)
        if self.always_valid:
            environment["PEBBLE_VA_ALWAYS_VALID"] = "1"
        if self.chain_length is not None:
            environment["PEBBLE_CHAIN_LENGTH"] = str(self.chain_length)
        environment.update(self.extra_environment)
        return environment

    def _wait_for_dns(self, timeout: float = 20):
        deadline = time.monotonic() + timeout
        while True:
            if self._challtestsrv.poll() is not None:
                raise ProcessExited(f"pebble-challtestsrv exited with {self._challtestsrv.returncode}:\n"
                                    f"{_tail(self.challtestsrv_log_path)}")
            try:
                if resolve("ready.plaza.test", self.dns_port, timeout=0.5).addresses:
                    urllib.request.urlopen(self.dns_management_url + "/", timeout=1).close()
                    return
            except urllib.error.HTTPError:
                return  # the management interface answers (404 at /)
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop_dns()
                raise RuntimeError(f"pebble-challtestsrv did not answer within {timeout} s:\n"
                                   f"{_tail(self.challtestsrv_log_path)}")
            time.sleep(0.1)

    def _wait_for_directory(self, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while True:
            if self._pebble.poll() is not None:
                raise ProcessExited(f"pebble exited with {self._pebble.returncode}:\n{_tail(self.pebble_log_path)}")
            try:
                if "newNonce" in self.directory_document():
                    return
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                self.stop_acme()
                raise RuntimeError(f"pebble's directory did not answer within {timeout} s:\n"
                                   f"{_tail(self.pebble_log_path)}")
            time.sleep(0.1)

    # MARK: The ACME server and its management interface

    def _get(self, url: str, method: str = "GET", timeout: float = 10) -> tuple[int, dict, bytes]:
        request = urllib.request.Request(url, method=method)
        try:
            with urllib.request.urlopen(request, context=self.test_ca.context(), timeout=timeout) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def directory_document(self) -> dict:
        """The ACME directory (JSON), fetched over HTTPS trusting only the test CA."""
        status, _, body = self._get(self.directory_url, timeout=2)
        if status != 200:
            raise ValueError(f"directory answered HTTP {status}")
        return json.loads(body)

    def new_nonce(self) -> str:
        """A fresh nonce: `Replay-Nonce` of `HEAD newNonce`."""
        status, headers, _ = self._get(self.directory_document()["newNonce"], method="HEAD")
        nonce = {key.lower(): value for key, value in headers.items()}.get("replay-nonce")
        if status not in (200, 204) or not nonce:
            raise ValueError(f"newNonce answered HTTP {status} without a Replay-Nonce")
        return nonce

    def _management_pem(self, path: str) -> str:
        status, _, body = self._get(self.management_url + path)
        if status != 200:
            raise ValueError(f"{path} answered HTTP {status}")
        return body.decode("ascii")

    def issuing_roots_pem(self) -> str:
        """The root the certificates Pebble issues chain to (made anew at each start of Pebble), as PEM: what a
        client checking a certificate Plaza obtained trusts."""
        return self._management_pem("/roots/0")

    def issuing_intermediate_pem(self) -> str:
        """The intermediate that signs the certificates Pebble issues (with `chain_length` 1), as PEM."""
        return self._management_pem("/intermediates/0")

    def write_issuing_roots(self, path: Path | None = None) -> Path:
        """`issuing_roots_pem()` written to `path` (default `issuing-roots.pem` in the folder); returns the path."""
        path = Path(path) if path else self.directory / "issuing-roots.pem"
        path.write_text(self.issuing_roots_pem())
        return path

    def certificate_status(self, serial_hex: str) -> dict:
        """What Pebble knows of the certificate with this serial (hex, no 0x): `Status` ("Valid"/"Revoked"),
        `Certificate` (PEM), `Serial`, and for revoked ones `Reason` and `RevokedAt`."""
        status, _, body = self._get(f"{self.management_url}/cert-status-by-serial/{serial_hex.lower()}")
        if status != 200:
            raise ValueError(f"cert-status-by-serial/{serial_hex} answered HTTP {status}: {body[:200]!r}")
        return json.loads(body)

    # MARK: The mock DNS

    def _dns_post(self, path: str, body: dict):
        request = urllib.request.Request(self.dns_management_url + path, data=json.dumps(body).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            if response.status != 200:
                raise ValueError(f"pebble-challtestsrv {path} answered HTTP {response.status}")
            return response.read()

    @staticmethod
    def _fqdn(name: str) -> str:
        return name if name.endswith(".") else name + "."

    def point(self, name: str, *addresses: str):
        """A queries for `name` answer `addresses` instead of 127.0.0.1 (e.g. 127.0.0.2, where nothing listens,
        so validations of `name` fail with a refused connection)."""
        self._dns_post("/add-a", {"host": self._fqdn(name), "addresses": list(addresses)})

    def unpoint(self, name: str):
        """A queries for `name` answer the default, 127.0.0.1, again."""
        self._dns_post("/clear-a", {"host": self._fqdn(name)})

    def refuse_validation(self, name: str):
        """DNS answers SERVFAIL for `name`, so Pebble cannot reach it and every new challenge of it turns
        invalid (with `authz_reuse` 0, renewals included)."""
        self._dns_post("/set-servfail", {"host": self._fqdn(name)})

    def allow_validation(self, name: str):
        """Undoes `refuse_validation(name)`."""
        self._dns_post("/clear-servfail", {"host": self._fqdn(name)})

    def set_default_ipv4(self, address: str):
        """What A queries for names without their own answer get (127.0.0.1 to begin with)."""
        self._dns_post("/set-default-ipv4", {"ip": address})

    def dns_queries(self, name: str) -> list[dict]:
        """The DNS queries for `name` the mock DNS has received, oldest first, each
        `{"Question": {"Name": "<name>.", "Qtype": 1, "Qclass": 1}}` (Qtype 1 A, 28 AAAA): Pebble's validator
        looks a name up before each validation request."""
        # The history is kept under the name without its final dot (unlike the DNS data above).
        return json.loads(self._dns_post("/dns-request-history", {"host": name.rstrip(".")}) or b"[]")

    def clear_dns_queries(self, name: str):
        self._dns_post("/clear-request-history", {"host": name.rstrip("."), "type": "dns"})

    def resolve(self, name: str) -> DNSAnswer:
        """What the mock DNS answers an A query for `name` (what Pebble's validator gets)."""
        return resolve(name, self.dns_port)

    # MARK: Logs

    def logs(self, limit: int = 8000) -> str:
        """The end of both logs, for a failing test's report."""
        return (f"--- pebble.log ---\n{_tail(self.pebble_log_path, limit)}\n"
                f"--- challtestsrv.log ---\n{_tail(self.challtestsrv_log_path, limit)}")


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return text[-limit:]
