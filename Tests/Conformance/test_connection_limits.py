"""Connections past what the server can hold, under the open-file limit a service manager sets (1024: systemd's
default soft limit, here set as the hard limit too so Plaza cannot raise it).

- 1,100 idle connections from one host: the host is held to `limits.connectionsPerAddress`, and `/healthz`, join
  and `hello` from everyone else answer at once.
- Past `limits.connections`, only the health endpoints are answered; the rest get 503 `connection_limit`.
- When files run out anyway (`limits.connections` set above the file limit), accepting backs off and is
  counted (`plaza_accept_backoffs_total`) instead of spinning, and the server serves again once files free up.
"""

import resource
import socket
import time

import pytest

import wire

ATTACKER = "127.0.0.2"


@pytest.fixture(autouse=True)
def enough_files_for_the_attacker():
    """This test process opens more sockets than a default soft limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_idle(server, count, source=ATTACKER) -> list[socket.socket]:
    """`count` TCP connections that send nothing (those the server refuses or closes are counted all the same)."""
    sockets = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((source, 0))
        sock.settimeout(5)
        try:
            sock.connect(("127.0.0.1", server.port))
        except OSError:
            sock.close()
            continue
        sockets.append(sock)
    return sockets


def close_all(sockets):
    for sock in sockets:
        sock.close()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in USER_HZ ticks of 1/100 s


def assert_served_at_once(server):
    started = time.monotonic()
    response = wire.exchange(server.port, wire.request_bytes("GET", "/healthz"), timeout=2)
    assert response.status == 200, response.status_line
    token = server.join(name="Visitor")["token"]
    ws = server.websocket()
    try:
        ws.send_json({"type": "hello", "token": token})
        ws.expect_json("welcome", timeout=2)
    finally:
        ws.close()
    assert time.monotonic() - started < 2, "health, join and hello took over 2 s"


def test_1100_idle_connections_from_one_host_leave_health_and_joins_answering(plaza_with):
    server = plaza_with({"http": {"headerTimeout": 60}}, file_limit=1024)
    attacker = open_idle(server, 1100)
    try:
        time.sleep(0.5)
        assert_served_at_once(server)
        assert server.metric('plaza_connections_refused_total{reason="per_address"}') >= 1100 - 256
    finally:
        close_all(attacker)


def test_past_the_connection_limit_only_health_endpoints_answer(plaza_with):
    server = plaza_with({"limits": {"connections": 40, "connectionsPerAddress": 1000}, "http": {"headerTimeout": 60}})
    attacker = open_idle(server, 40)
    try:
        time.sleep(0.5)
        for path in ("/healthz", "/readyz", "/metrics"):
            response = wire.exchange(server.port, wire.request_bytes("GET", path), timeout=2)
            assert response.status == 200, f"{path}: {response.status_line}"
        response = wire.exchange(
            server.port, wire.request_bytes("POST", "/api/v1/join", [("Content-Type", "application/json")],
                                            b'{"room":"conf","name":"Late"}'), timeout=2)
        assert response.status == 503, response.status_line
        assert response.json()["error"]["code"] == "connection_limit"
        assert response.header("retry-after") == "1"
    finally:
        close_all(attacker)
    time.sleep(0.5)
    assert_served_at_once(server)


def test_accept_backs_off_when_files_run_out_and_recovers(plaza_with):
    server = plaza_with(
        {"limits": {"connections": 100000, "connectionsPerAddress": 100000}, "http": {"headerTimeout": 60}},
        file_limit=256)
    attacker = open_idle(server, 400)  # the kernel completes what the server cannot accept, up to its backlog
    try:
        time.sleep(1)
        before = cpu_seconds(server.pid())
        time.sleep(3)
        spent = cpu_seconds(server.pid()) - before
        assert spent < 1.0, f"the server spent {spent:.2f} s of CPU in 3 s out of files: it is spinning"
    finally:
        close_all(attacker)
    deadline = time.monotonic() + 10
    while True:
        try:
            response = wire.exchange(server.port, wire.request_bytes("GET", "/healthz"), timeout=2)
            if response.status == 200:
                break
        except (wire.ServerClosed, wire.ServerSilent, OSError):
            pass
        assert time.monotonic() < deadline, "the server did not serve again once files were free"
        time.sleep(0.2)
    assert server.metric("plaza_accept_backoffs_total") >= 1
