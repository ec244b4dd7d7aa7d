"""Slow consumers, end to end: a client that stops reading is found by its queue's bytes or by time, closed
with 4002 when its socket still takes a close frame, and reset after `websocket.closeTimeout` when it does
not, so neither the server's memory nor the kernel's holds what it never reads.

The reader that stalls has a small receive buffer and the server a small send buffer
(`limits.socketSendBuffer`), so a few chat messages fill both; another participant sends the chat, evenly
paced, from its own connection.
"""

import select
import socket
import threading
import time

import wire

CHAT_TEXT = "x" * 3000
SLOW = {
    "limits": {"socketSendBuffer": 4096, "slowConsumerSeconds": 1, "framesPerSecond": 200, "frameBurst": 200},
    "websocket": {"closeTimeout": 3},
}


class Chatter:
    """Sends chat from one connection at `rate` messages a second until stopped, reading what comes back so
    that it is never a slow consumer itself (kept unparsed in the WebSocket's buffer)."""

    def __init__(self, ws: wire.WebSocket, rate: float):
        self.ws, self.interval = ws, 1 / rate
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.sent = 0

    def run(self):
        next_send = time.monotonic()
        while not self.stopped.is_set():
            if time.monotonic() >= next_send:
                self.ws.send_json({"type": "chat", "id": f"m{self.sent}", "text": CHAT_TEXT})
                self.sent += 1
                next_send += self.interval
            # Take what arrives into the WebSocket's own buffer, whole, for its reader to parse afterwards.
            readable, _, _ = select.select([self.ws.sock], [], [], max(0.0, min(0.005, next_send - time.monotonic())))
            if readable:
                self.ws.buffer += self.ws.sock.recv(1 << 20)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.stopped.set()
        self.thread.join()


def assert_answers(ws: wire.WebSocket):
    """The connection still works: a ping is answered, after whatever the chat left in flight (acks, chat)."""
    assert ws.send_json({"type": "ping"}), "the server closed the connection"
    deadline = time.monotonic() + wire.READ_TIMEOUT
    while True:
        event = ws.next_event(deadline - time.monotonic())
        if isinstance(event, dict) and event.get("type") == "pong":
            return
        assert not isinstance(event, wire.Frame) or event.opcode == wire.PING, f"the server sent {event.describe()}"
        assert isinstance(event, wire.Frame) or event.get("type") != "error", f"the server sent {event}"


def wait_for_metric(server, series: str, value: float, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = server.metric(series)
        if current >= value:
            return current
        time.sleep(0.05)
    raise AssertionError(f"{series} stayed at {server.metric(series)}, below {value}, for {timeout:g} s")


def server_sockets_to(server, client: socket.socket) -> list[str]:
    """The server's TCP sockets (from /proc/net/tcp) connected to `client`, with their kernel state."""
    client_port = client.getsockname()[1]
    found = []
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local_port = int(fields[1].split(":")[1], 16)
            remote_port = int(fields[2].split(":")[1], 16)
            if local_port == server.port and remote_port == client_port:
                found.append(fields[3])
    return found


def test_a_stalled_reader_is_closed_with_4002_by_time(plaza_with, session):
    server = plaza_with(SLOW)
    stalled = session(server, receive_buffer=4096)
    sender = session(server)
    with Chatter(sender, rate=40):
        wait_for_metric(server, 'plaza_slow_consumer_disconnects_total{cause="stalled"}', 1, timeout=10)
    # Well under its queue's bytes, found by time; its socket still takes the close frame once it reads.
    assert server.metric('plaza_slow_consumer_disconnects_total{cause="queue_bytes"}') == 0
    stalled.expect_close(4002, timeout=3)
    assert server.metric('plaza_closes_total{code="4002"}') == 1
    assert server.metric("plaza_connections_aborted_total") == 0
    assert_answers(sender)


def test_a_reader_that_never_reads_again_is_reset_after_the_close_timeout(plaza_with, session):
    server = plaza_with(SLOW)
    stalled = session(server, receive_buffer=4096)
    sender = session(server)
    with Chatter(sender, rate=40):
        wait_for_metric(server, 'plaza_slow_consumer_disconnects_total{cause="stalled"}', 1, timeout=10)
        assert server_sockets_to(server, stalled.sock), "the server's socket is already gone"
        wait_for_metric(server, "plaza_connections_aborted_total", 1, timeout=6)
    # Reset, not closed: the kernel keeps nothing of what the client never read (no FIN_WAIT with a full queue).
    deadline = time.monotonic() + 2
    while server_sockets_to(server, stalled.sock) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server_sockets_to(server, stalled.sock) == []
    assert wait_for_metric(server, "plaza_connections", 1, timeout=1) == 1
    assert_answers(sender)


def test_a_reader_whose_queue_passes_its_bytes_is_closed_with_4002(plaza_with, session):
    server = plaza_with(merged_limits(SLOW, {"outboundQueueBytes": 4096, "slowConsumerSeconds": 30}))
    stalled = session(server, receive_buffer=4096)
    sender = session(server)
    with Chatter(sender, rate=40):
        wait_for_metric(server, 'plaza_slow_consumer_disconnects_total{cause="queue_bytes"}', 1, timeout=10)
    assert server.metric('plaza_slow_consumer_disconnects_total{cause="stalled"}') == 0
    stalled.expect_close(4002, timeout=3)
    assert_answers(sender)


def merged_limits(settings: dict, limits: dict) -> dict:
    return {**settings, "limits": {**settings["limits"], **limits}}


def test_what_a_slow_consumer_missed_is_there_when_it_resumes(plaza_with, session):
    """What a slow consumer missed is not lost: it comes back with `since` and gets the chat it did not read."""
    server = plaza_with(SLOW)
    stalled = session(server, receive_buffer=4096)
    sender = session(server)
    with Chatter(sender, rate=40) as chatter:
        wait_for_metric(server, 'plaza_slow_consumer_disconnects_total{cause="stalled"}', 1, timeout=10)
    sent = chatter.sent
    stalled.expect_close(4002, timeout=3)
    token = server.join(name="Again")["token"]
    again = server.websocket()
    again.send_json({"type": "hello", "token": token, "since": 0})
    again.expect_json("welcome")
    seen = set()
    deadline = time.monotonic() + 10
    while len(seen) < sent and time.monotonic() < deadline:
        event = again.next_event(deadline - time.monotonic())
        if isinstance(event, dict) and event.get("type") == "chat":
            seen.add(event["id"])
    assert seen == {f"m{n}" for n in range(sent)}
    again.close()


def test_a_reader_that_catches_up_in_time_gets_everything_in_order(plaza_with, session):
    """Held while its socket was full, nothing is dropped or reordered for a client that reads again in time."""
    server = plaza_with(merged_limits(SLOW, {"slowConsumerSeconds": 30}))
    paused = session(server, receive_buffer=4096)
    sender = session(server)
    with Chatter(sender, rate=40) as chatter:
        time.sleep(3)
    sent = chatter.sent
    assert sent >= 100
    seen = []
    deadline = time.monotonic() + 10
    while len(seen) < sent and time.monotonic() < deadline:
        event = paused.next_event(deadline - time.monotonic())
        if isinstance(event, dict) and event.get("type") == "chat":
            seen.append(event["id"])
    assert seen == [f"m{n}" for n in range(sent)]
    assert server.metric('plaza_slow_consumer_disconnects_total{cause="stalled"}') == 0
    assert_answers(paused)
