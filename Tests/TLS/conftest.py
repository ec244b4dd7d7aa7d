"""Fixtures of the tests of Plaza's HTTPS with automatic certificates, against a real ACME CA (Debian's `pebble`;
see pebble.py) on loopback.

- `test_ca`: one `TestCA` for the session: the CA of the ACME server's own HTTPS certificate (Plaza's
  `tls.acmeCA`).
- `acme_ports`: two free loopback ports for the Plaza under test: `http`, its `tls.httpPort` (HTTP-01 answers),
  and `https`, its serving port (`--port`; TLS-ALPN-01 answers). Pebble's validator comes to these.
- `pebble`: a started `Pebble` validating on `acme_ports`, certificates valid an hour, Pebble's 5% of nonces
  refused as bad, no authorization reuse. Stopped at the end of the test.
- `pebble_with(**options)`: a started `Pebble` with other options (`validity_period=30` for renewals,
  `nonce_reject=0`, `always_valid=True`, ...; see `Pebble`), on `acme_ports` unless `http_port`/`tls_port` are
  given. Stopped at the end of the test.

Each Pebble keeps its configuration and logs (pebble.log, challtestsrv.log) in a folder of pytest's temporary
directory; when a test fails, the end of both logs is printed with its report.

    def test_obtains_a_certificate(pebble, acme_ports):
        settings = {"tls": pebble.tls_settings(["party.plaza.test"])}
        ...  # start Plaza with `settings` on port acme_ports.https
        roots = pebble.write_issuing_roots()
        certificate = tls_client.wait_for_certificate(acme_ports.https, "party.plaza.test", roots)
"""

from dataclasses import dataclass

import pytest

from pebble import Pebble, TestCA, free_port


from failure_reports import pytest_runtest_makereport, test_failed  # noqa: E402,F401


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("acme-ca"))


@dataclass(frozen=True)
class ACMEPorts:
    http: int  # Plaza's tls.httpPort: HTTP-01 (Pebble's httpPort)
    https: int  # Plaza's serving port: TLS-ALPN-01 (Pebble's tlsPort)


@pytest.fixture
def acme_ports() -> ACMEPorts:
    http = free_port()
    https = free_port()
    while https == http:
        https = free_port()
    return ACMEPorts(http=http, https=https)


@pytest.fixture
def pebble_with(test_ca, acme_ports, tmp_path_factory, request):
    started: list[Pebble] = []

    def start(**options) -> Pebble:
        options.setdefault("http_port", acme_ports.http)
        options.setdefault("tls_port", acme_ports.https)
        options.setdefault("directory", tmp_path_factory.mktemp("pebble"))
        instance = Pebble(test_ca, **options)
        started.append(instance)
        return instance.start()

    yield start
    for instance in started:
        if test_failed(request):
            print(f"\n=== Pebble in {instance.directory} (ACME {instance.directory_url}) ===\n{instance.logs()}")
        instance.stop()


@pytest.fixture
def pebble(pebble_with) -> Pebble:
    return pebble_with()
