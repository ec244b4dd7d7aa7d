"""HTTP hardening of Plaza's listener, and the error codes docs/protocol.md promises.

- Timeouts (`http.headerTimeout`, `http.idleTimeout`): a client that connects and sends nothing, sends half a
  request head, or keeps an idle keep-alive connection must not hold a socket (and a file descriptor) forever;
  a slow head is answered 408.
- Request-head limits (`limits.headerBytes`, `limits.headerCount`, `limits.urlBytes`): oversized heads are
  refused with 431 or 414 and the connection is closed, while normal requests keep working.
- Connections per client address (`limits.connectionsPerAddress`): one address cannot take every socket; others
  (here 127.0.0.1, while 127.0.0.2 is at its limit) are still served at once. Behind a trusted proxy
  (`http.trustedProxies`) the address is the one in `X-Forwarded-For`; from anyone else that header is ignored,
  or any client could dodge the limit by inventing addresses.
- Error codes: numeric `since` values that are not 64-bit non-negative integers are `invalid_frame` (not a
  crash or a close); a JSON `null` message is `invalid_json`; the wrong method on join is 405 `invalid_request`.
- Display names: bidirectional overrides and invisible-only names are refused as `invalid_name`, a missing name
  is `invalid_name` saying a name is required, and names are NFC-normalised so "é" is one name however typed.

Limits and timeouts are set small in each test's configuration file; the timing assertions allow 2 s of slack.
"""

import time

import pytest

import wire
from wire import HTTPConnection, ServerClosed, ServerSilent

SLACK = 2.0


def healthz_request(headers=None) -> bytes:
    return wire.request_bytes("GET", "/healthz", headers)


def assert_healthz_ok(server, source=None):
    response = wire.exchange(server.port, healthz_request(), timeout=2, source=source)
    assert response.status == 200, response.status_line


# ---------------------------------------------------------------------------------------------------------
# Timeouts

def test_silent_connection_is_closed_after_header_timeout(plaza_with):
    server = plaza_with({"http": {"headerTimeout": 1, "idleTimeout": 30}})
    connection = HTTPConnection(server.port)
    started = time.monotonic()
    ended, _ = connection.wait_closed(1 + SLACK)
    connection.close()
    assert ended, f"the server kept a silent connection open for {time.monotonic() - started:.1f} s"


def test_half_request_head_gets_408_and_close(plaza_with):
    server = plaza_with({"http": {"headerTimeout": 1, "idleTimeout": 30}})
    connection = HTTPConnection(server.port)
    connection.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
    ended, data = connection.wait_closed(1 + SLACK)
    connection.close()
    answer = f"answered {data[:100]!r}" if data else "sent nothing"
    assert data.startswith(b"HTTP/1.1 408"), f"the server {answer} and " + (
        "closed the connection" if ended else f"kept the connection open for {1 + SLACK:g} s")
    assert ended, "the server answered 408 but kept the connection open"


def test_idle_keep_alive_connection_is_closed_after_idle_timeout(plaza_with):
    server = plaza_with({"http": {"idleTimeout": 1, "headerTimeout": 30}})
    connection = HTTPConnection(server.port)
    response = connection.request("GET", "/healthz")
    assert response.status == 200, response.status_line
    started = time.monotonic()
    ended, _ = connection.wait_closed(1 + SLACK)
    connection.close()
    assert ended, f"the server kept an idle keep-alive connection open for {time.monotonic() - started:.1f} s"


# ---------------------------------------------------------------------------------------------------------
# Request-head limits

HEAD_LIMITS = {"limits": {"headerBytes": 4096, "headerCount": 20, "urlBytes": 1024}}


def assert_refused_and_closed(server, raw: bytes, status: int):
    connection = HTTPConnection(server.port)
    try:
        connection.send(raw)
        try:
            response = connection.read_response()
        except (ServerClosed, ServerSilent) as failure:
            pytest.fail(f"expected HTTP {status}: {failure}")
        assert response.status_line.startswith(f"HTTP/1.1 {status}"), response.status_line
        ended, _ = connection.wait_closed(wire.READ_TIMEOUT)
        assert ended, f"the server answered {status} but kept the connection open"
    finally:
        connection.close()


def test_oversized_request_head_is_431(plaza_with):
    server = plaza_with(HEAD_LIMITS)
    assert_refused_and_closed(server, healthz_request([("X-Padding", "a" * 5000)]), 431)


def test_too_many_header_fields_is_431(plaza_with):
    server = plaza_with(HEAD_LIMITS)
    # Host plus 20 more: 21 fields.
    assert_refused_and_closed(server, healthz_request([(f"X-Field-{i}", "1") for i in range(20)]), 431)


def test_oversized_request_target_is_414(plaza_with):
    server = plaza_with(HEAD_LIMITS)
    assert_refused_and_closed(server, wire.request_bytes("GET", "/healthz?pad=" + "a" * 1100), 414)


def test_normal_requests_pass_head_limits(plaza_with):
    server = plaza_with(HEAD_LIMITS)
    assert_healthz_ok(server)
    # Exactly at the field-count limit: Host plus 19 more.
    response = wire.exchange(server.port, healthz_request([(f"X-Field-{i}", "1") for i in range(19)]))
    assert response.status == 200, response.status_line
    status, answer = server.http("POST", "/api/v1/join", {"room": "conf", "name": "Tester"})
    assert status == 200, answer


# ---------------------------------------------------------------------------------------------------------
# Connections per client address

ADDRESS_LIMIT = 20


def open_served(server, count, source=None, forwarded_for=None):
    """`count` keep-alive connections, each served one /healthz (so the server has accepted and counted it),
    then left idle. `forwarded_for(i)` gives the X-Forwarded-For of the i-th."""
    connections = []
    for index in range(count):
        connection = HTTPConnection(server.port, source=source)
        connections.append(connection)
        headers = [("X-Forwarded-For", forwarded_for(index))] if forwarded_for else None
        connection.send(healthz_request(headers))
        try:
            response = connection.read_response()
        except (ServerClosed, ServerSilent) as failure:
            pytest.fail(f"connection {index + 1} of {count} was not served: {failure}")
        assert response.status == 200, f"connection {index + 1} of {count}: {response.status_line}"
    return connections


def assert_refused(server, source=None, headers=None):
    """A new connection is refused: a 429 or 503 answer, or the connection ends without any 200."""
    connection = HTTPConnection(server.port, source=source)
    try:
        connection.send(healthz_request(headers))
        try:
            response = connection.read_response()
        except ServerClosed:
            return
        except ServerSilent:
            pytest.fail("the connection over the limit was neither answered nor closed")
        assert response.status in (429, 503), f"the connection over the limit got {response.status_line}"
    finally:
        connection.close()


def test_connections_per_address_limit(plaza_with):
    server = plaza_with({"limits": {"connectionsPerAddress": ADDRESS_LIMIT},
                         "http": {"headerTimeout": 60, "idleTimeout": 60}})
    connections = open_served(server, ADDRESS_LIMIT, source="127.0.0.2")
    try:
        assert_refused(server, source="127.0.0.2")
        # Other addresses are served at once.
        assert_healthz_ok(server)
        started = time.monotonic()
        status, answer = server.http("POST", "/api/v1/join", {"room": "conf", "name": "Tester"}, timeout=2)
        assert status == 200, answer
        assert time.monotonic() - started < 2
    finally:
        for connection in connections:
            connection.close()


def test_trusted_proxy_forwarded_address_is_limited(plaza_with):
    server = plaza_with({"limits": {"connectionsPerAddress": ADDRESS_LIMIT},
                         "http": {"headerTimeout": 60, "idleTimeout": 60, "trustedProxies": ["127.0.0.1"]}})
    connections = open_served(server, ADDRESS_LIMIT, forwarded_for=lambda _: "10.0.0.7")
    try:
        assert_refused(server, headers=[("X-Forwarded-For", "10.0.0.7")])
        response = wire.exchange(server.port, healthz_request([("X-Forwarded-For", "10.0.0.8")]), timeout=2)
        assert response.status == 200, response.status_line
    finally:
        for connection in connections:
            connection.close()


def test_forwarded_for_is_ignored_from_untrusted_address(plaza_with):
    server = plaza_with({"limits": {"connectionsPerAddress": ADDRESS_LIMIT},
                         "http": {"headerTimeout": 60, "idleTimeout": 60}})
    # Twenty different claimed addresses from one real one: all count against 127.0.0.1.
    connections = open_served(server, ADDRESS_LIMIT, forwarded_for=lambda index: f"10.0.0.{index + 1}")
    try:
        assert_refused(server, headers=[("X-Forwarded-For", "10.0.0.99")])
    finally:
        for connection in connections:
            connection.close()


# ---------------------------------------------------------------------------------------------------------
# Error codes

@pytest.mark.parametrize("since", ["1.5", "9223372036854775808", "1e400"])
def test_hello_with_non_integer_since_is_invalid_frame(plaza, since):
    token = plaza.join()["token"]
    ws = plaza.websocket()
    try:
        ws.send_text('{"type":"hello","token":"%s","since":%s}' % (token, since))
        error = ws.expect_json("error")
        assert error["code"] == "invalid_frame", error
        # The connection stays open: a corrected hello is welcomed.
        ws.send_json({"type": "hello", "token": token})
        ws.expect_json("welcome")
    finally:
        ws.close()


def test_null_message_is_invalid_json(plaza, session):
    ws = session(plaza)
    ws.send_text("null")
    error = ws.expect_json("error")
    assert error["code"] == "invalid_json", error
    ws.assert_alive()


def test_get_join_is_405_invalid_request(plaza):
    status, answer = plaza.http("GET", "/api/v1/join")
    assert status == 405, (status, answer)
    assert answer and answer["error"]["code"] == "invalid_request", answer


# ---------------------------------------------------------------------------------------------------------
# Display names

@pytest.mark.parametrize("name", ["Ann\u202eevil", "\u200b", "\u200b\u200b\u200b"],
                         ids=["right-to-left-override", "zero-width-space", "zero-width-spaces"])
def test_join_refuses_invisible_or_reordering_names(plaza, name):
    status, answer = plaza.http("POST", "/api/v1/join", {"room": "conf", "name": name})
    assert status == 400, (status, answer)
    assert answer["error"]["code"] == "invalid_name", answer


def test_join_without_name_says_a_name_is_required(plaza):
    status, answer = plaza.http("POST", "/api/v1/join", {"room": "conf"})
    assert status == 400, (status, answer)
    assert answer["error"]["code"] == "invalid_name", answer
    assert "required" in answer["error"]["message"].lower(), answer


def test_join_normalises_name_to_nfc(plaza):
    status, answer = plaza.http("POST", "/api/v1/join", {"room": "conf", "name": "Ren" + "e\u0301"})
    assert status == 200, (status, answer)
    assert answer["name"] == "Ren\u00e9", ascii(answer["name"])


def test_tokens_never_reach_the_log_even_at_trace_level(plaza_with, session):
    """A session at the most verbose log level: joins, a renewal, hello, chat, a refused token. No token (nor the
    admin token) appears in any log line."""
    server = plaza_with({"log": {"level": "trace"}, "auth": {"adminToken": "admin-" + "x" * 40}})
    socket = session(server)
    socket.send_json({"type": "chat", "id": "t-1", "text": "hello"})
    socket.expect_json("ack")
    answer = server.join(name="Bob")
    status, renewed = server.http("POST", "/api/v1/join", {"room": "conf", "name": "Bob"},
                                  headers={"Authorization": f"Bearer {answer['token']}"})
    assert status == 200, renewed
    status, _ = server.http("POST", "/api/v1/join", {"room": "conf", "name": "Eve"},
                            headers={"Authorization": "Bearer " + answer["token"][:-4] + "AAAA"})
    assert status == 401
    status, _ = server.http("GET", "/api/v1/rooms", headers={"Authorization": "Bearer admin-" + "x" * 40})
    assert status == 200
    server.log.flush()
    log = (server.directory / "plaza.log").read_text(errors="replace")
    assert "trace" in log or "debug" in log, "the server logged at the verbose levels"
    for secret in [answer["token"], renewed["token"], answer["token"][:-4] + "AAAA", "admin-" + "x" * 40]:
        assert secret not in log
        assert secret.split(".")[-1] not in log, "a token's signature is in the log"
