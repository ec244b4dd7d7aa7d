"""Plaza's HTTPS against real peers on loopback: certificates obtained, renewed and refused by a real ACME CA
(Debian's Pebble, with pebble-challtestsrv answering DNS with 127.0.0.1), and certificate files replaced on
disk. Clients trust only Pebble's issuing root (or the test's own CA for files) and check the name."""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import tls_client
from pebble import free_port
from plaza_https import PlazaHTTPS, plaza_binary, wire

NAME = "party.plaza.test"


@pytest.fixture
def plaza_https(tmp_path_factory):
    started: list[PlazaHTTPS] = []

    def start(https_port: int, http_port: int, settings: dict, wait: bool = True) -> PlazaHTTPS:
        server = PlazaHTTPS(tmp_path_factory.mktemp("plaza"), https_port, http_port, settings)
        started.append(server)
        return server.start(wait=wait)

    yield start
    for server in started:
        server.stop()


def welcome_over_wss(port: int, name: str, trust, room: str = "tls") -> tuple[wire.WebSocket, dict]:
    """Joins over https, opens the join's wss URL (checking it is one) and says hello."""
    answer = tls_client.https_get(port, name, "/api/v1/join", trust, method="POST",
                                  headers={"Content-Type": "application/json"},
                                  body=json.dumps({"room": room, "name": "Ann"}).encode())
    assert answer.status == 200, answer.text
    joined = json.loads(answer.body)
    assert joined["url"] == f"wss://{name}:{port}/ws"
    socket = wire.WebSocket.open(port, tls=(tls_client.client_context(trust), name))
    socket.send_json({"type": "hello", "token": joined["token"]})
    return socket, socket.expect_json("welcome")


def chat_and_ack(socket: wire.WebSocket, message_id: str):
    socket.send_json({"type": "chat", "id": message_id, "text": f"still here ({message_id})"})
    while True:
        event = socket.next_event()
        if isinstance(event, dict) and event.get("type") == "ack" and event.get("id") == message_id:
            return event


def test_http01_certificate_serves_the_page_and_the_websocket(pebble, acme_ports, plaza_https):
    server = plaza_https(acme_ports.https, acme_ports.http, {"tls": pebble.tls_settings([NAME], "http-01")})
    roots = pebble.write_issuing_roots()
    certificate = tls_client.wait_for_certificate(acme_ports.https, NAME, roots, timeout=60)
    assert certificate.dns_names == [NAME]
    assert "Pebble" in certificate.issuer
    page = tls_client.https_get(acme_ports.https, NAME, "/", roots)
    assert page.status == 200 and b"<title>Plaza</title>" in page.body
    assert page.headers["strict-transport-security"] == "max-age=31536000"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    socket, welcome = welcome_over_wss(acme_ports.https, NAME, roots)
    assert welcome["room"] == "tls"
    chat_and_ack(socket, "m-1")
    socket.close()
    # The plain listener answers ACME and sends everything else to https.
    redirect = tls_client.http_get(acme_ports.http, "/r/tls?x=1", f"{NAME}:{acme_ports.http}")
    assert redirect.status == 308
    assert redirect.headers["location"] == f"https://{NAME}:{acme_ports.https}/r/tls?x=1"
    # The certificate's expiry is on /metrics, and the key files are the owner's only.
    metrics = tls_client.https_get(acme_ports.https, NAME, "/metrics", roots).text
    expiry = [line for line in metrics.splitlines() if line.startswith("plaza_tls_certificate_expiry_timestamp_seconds ")]
    assert expiry and abs(float(expiry[0].split()[1]) - certificate.not_after.timestamp()) < 1
    tls = server.directory / "data" / "tls"
    for path in [tls / "account.pem", tls / NAME / "key.pem", tls / NAME / "certificate.pem"]:
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert "acme: party.plaza.test: proved" in server.log()


def test_tls_alpn01_certificate(pebble, acme_ports, plaza_https):
    plaza_https(acme_ports.https, acme_ports.http, {"tls": pebble.tls_settings([NAME], "tls-alpn-01")})
    roots = pebble.write_issuing_roots()
    tls_client.wait_for_certificate(acme_ports.https, NAME, roots, timeout=60)
    socket, _ = welcome_over_wss(acme_ports.https, NAME, roots)
    chat_and_ack(socket, "m-1")
    socket.close()
    # Once proved, the challenge certificate is gone: a client offering acme-tls/1 gets the issued certificate,
    # and no acme-tls/1.
    late = tls_client.peer_certificate(acme_ports.https, NAME, roots, alpn=["acme-tls/1"])
    assert late.alpn_protocol is None and "Pebble" in late.issuer


def test_renewal_replaces_the_certificate_while_a_websocket_keeps_chatting(pebble_with, acme_ports, plaza_https):
    pebble = pebble_with(validity_period=30)
    settings = {"tls": pebble.tls_settings([NAME]) | {"reloadInterval": 1}}
    server = plaza_https(acme_ports.https, acme_ports.http, settings)
    roots = pebble.write_issuing_roots()
    first = tls_client.wait_for_certificate(acme_ports.https, NAME, roots, timeout=60)
    socket, _ = welcome_over_wss(acme_ports.https, NAME, roots)
    deadline = time.monotonic() + 60
    sent = 0
    renewed = None
    while renewed is None and time.monotonic() < deadline:
        sent += 1
        chat_and_ack(socket, f"m-{sent}")
        current = tls_client.peer_certificate(acme_ports.https, NAME, roots)
        if current.sha256 != first.sha256:
            renewed = current
        time.sleep(0.5)
    assert renewed is not None, f"not renewed within 60 s:\n{server.log()[-3000:]}"
    assert renewed.not_after > first.not_after
    for extra in range(3):
        chat_and_ack(socket, f"after-{extra}")  # the connection opened under the first certificate goes on
    socket.close()


def test_a_refused_renewal_keeps_the_certificate_in_service_and_says_why(pebble_with, acme_ports, plaza_https):
    pebble = pebble_with(validity_period=40)
    settings = {"tls": pebble.tls_settings([NAME]) | {"reloadInterval": 1}}
    server = plaza_https(acme_ports.https, acme_ports.http, settings)
    roots = pebble.write_issuing_roots()
    first = tls_client.wait_for_certificate(acme_ports.https, NAME, roots, timeout=60)
    pebble.refuse_validation(NAME)
    line = server.wait_for_log("the certificate in service stays", timeout=60, after=len(server.log()))
    # The cause, as the ACME server gave it (the validator could not resolve the name).
    assert line.split("[PlazaTLS] ", 1)[-1].startswith("acme: ") and "party.plaza.test" in line, server.log()[-3000:]
    assert tls_client.peer_certificate(acme_ports.https, NAME, roots).sha256 == first.sha256
    assert "acme: next attempt in" in server.log()


def test_certificate_files_are_reloaded_in_place_and_a_wrong_key_is_refused(test_ca, plaza_https, tmp_path):
    first_cert, first_key = test_ca.issue("first", ["DNS:localhost"])
    second_cert, second_key = test_ca.issue("second", ["DNS:localhost"], days=3)
    stranger_cert, stranger_key = test_ca.issue("stranger", ["DNS:localhost"])
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    shutil.copy(first_cert, cert)
    shutil.copy(first_key, key)
    https_port, http_port = free_port(), free_port()
    server = plaza_https(https_port, http_port, {"tls": {"certificate": str(cert), "key": str(key), "reloadInterval": 0.5}})
    trust = test_ca.ca_pem_path
    served = tls_client.peer_certificate(https_port, "localhost", trust)
    socket, _ = welcome_over_wss(https_port, "localhost", trust)
    # New files, renamed into place as an operator's tools would: served without a restart.
    for source, target in [(second_key, key), (second_cert, cert)]:
        shutil.copy(source, str(target) + ".new")
        os.replace(str(target) + ".new", target)
    renewed = tls_client.wait_for_certificate(https_port, "localhost", trust, until=lambda c: c.sha256 != served.sha256, timeout=20)
    chat_and_ack(socket, "m-1")
    # A key of another certificate: refused by name, the pair in service kept.
    shutil.copy(stranger_key, key)
    line = server.wait_for_log("does not match", timeout=20)
    assert str(key) in line and str(cert) in line
    assert tls_client.peer_certificate(https_port, "localhost", trust).sha256 == renewed.sha256
    chat_and_ack(socket, "m-2")
    socket.close()


def test_sighup_reloads_the_certificate_files(test_ca, plaza_https, tmp_path):
    first_cert, first_key = test_ca.issue("one", ["DNS:localhost"])
    second_cert, second_key = test_ca.issue("two", ["DNS:localhost"], days=3)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    shutil.copy(first_cert, cert)
    shutil.copy(first_key, key)
    https_port, http_port = free_port(), free_port()
    server = plaza_https(https_port, http_port, {"tls": {"certificate": str(cert), "key": str(key), "reloadInterval": 3600}})
    served = tls_client.peer_certificate(https_port, "localhost", test_ca.ca_pem_path)
    shutil.copy(second_cert, cert)
    shutil.copy(second_key, key)
    server.hangup()
    server.wait_for_log("reloaded (SIGHUP)", timeout=10)
    assert tls_client.peer_certificate(https_port, "localhost", test_ca.ca_pem_path).sha256 != served.sha256


def test_a_key_that_does_not_match_stops_the_start_with_its_name(test_ca, tmp_path):
    cert, _ = test_ca.issue("mine", ["DNS:localhost"])
    _, other_key = test_ca.issue("other", ["DNS:localhost"])
    result = subprocess.run(
        [plaza_binary(), "serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "data"),
         "--tls-cert", str(cert), "--tls-key", str(other_key)],
        capture_output=True, text=True, timeout=60, env=os.environ | {"PLAZA_TLS_HTTP_PORT": str(free_port())})
    assert result.returncode != 0
    assert f"{other_key} does not match the certificate in {cert}" in result.stderr
    assert "Fatal error" not in result.stderr and "SQLiteConnection" not in result.stderr


def test_a_certificate_from_another_acme_server_is_replaced(pebble_with, acme_ports, tmp_path):
    """Staging first, then production: the certificate the first CA issued is not kept for the second."""
    staging = pebble_with()
    production = pebble_with()
    server = PlazaHTTPS(tmp_path, acme_ports.https, acme_ports.http, {"tls": staging.tls_settings([NAME])}).start()
    try:
        first = tls_client.wait_for_certificate(acme_ports.https, NAME, staging.write_issuing_roots(), timeout=60)
    finally:
        server.stop()
    server = PlazaHTTPS(tmp_path, acme_ports.https, acme_ports.http, {"tls": production.tls_settings([NAME])}).start()
    try:
        second = tls_client.wait_for_certificate(acme_ports.https, NAME, production.write_issuing_roots(), timeout=60)
        assert second.sha256 != first.sha256
    finally:
        server.stop()
