"""The Janus fixture and client against a real Janus (Debian's 1.1.x): what Plaza will rely on when it creates
VideoRoom rooms for a conference and hands each participant a token of their own.

- the server answers `info` over WebSocket (subprotocol `janus-protocol`), over HTTP (where `plaza agent`
  reads its health) and on the Admin API, and reports stored-token authentication;
- with `token_auth`, a request without a token, or with one Janus does not know, is refused (403); a token
  added through the Admin API for the VideoRoom plugin opens a session that can attach the VideoRoom and
  nothing else (405);
- a room created with a `secret` and a `pin` refuses a publisher's `join` without the pin (429) or with a wrong
  one (433), accepts the right one, and can be destroyed only with its secret;
- `remove_token` stops new sessions at once; an existing session is not closed, but every further request on
  it is refused, keepalives included, so it ends at the session timeout (or when its WebSocket closes), and
  only then does its participant leave the room. To remove someone at once Plaza removes their token and
  kicks them with the room's secret (or destroys their session through the Admin API);
- with the VideoRoom's `admin_key` set, only who has it creates rooms: Plaza, through the Admin API's
  `message_plugin`, with no session or token of its own;
- `kill9()` takes a server down at once, `start()` brings it back empty on the same ports, and a second server
  runs alongside with its own ports, tokens and rooms.
"""

import json
import os
import secrets
import time
import urllib.error
import urllib.request

import pytest

import wire
from janus_support import (ECHOTEST, PLUGIN_NOT_FOUND, UNAUTHORIZED, UNAUTHORIZED_PLUGIN, VIDEOROOM,
                           VIDEOROOM_MISSING_ELEMENT, VIDEOROOM_NO_SUCH_ROOM, VIDEOROOM_UNAUTHORIZED, JanusAdmin,
                           JanusError, PluginError, janus_version, open_websocket)


def new_room_settings(**overrides):
    settings = {"secret": secrets.token_urlsafe(12), "pin": secrets.token_urlsafe(8), "publishers": 4,
                "bitrate": 512000, "description": "plaza test conference"}
    settings.update(overrides)
    return settings


def error_code(excinfo) -> int:
    return excinfo.value.code


# MARK: The server answers

def test_info_answers_over_websocket_http_and_admin(janus, connect):
    info = connect().info()
    assert info["janus"] == "server_info"
    assert info["version_string"] == janus_version()
    assert info["version_string"].startswith("1.")
    assert info["auth_token"] is True and info["api_secret"] is False
    assert info["server-name"] == f"plaza-test-{janus.name}"
    assert info["local-ip"] == "127.0.0.1"
    assert set(info["plugins"]) == {VIDEOROOM, ECHOTEST}
    assert set(info["transports"]) == {"janus.transport.websockets", "janus.transport.http"}
    assert info["full-trickle"] is False and info["ice-lite"] is False and info["ice-tcp"] is False
    assert "stun-server" not in info and "public-ips" not in info

    # The HTTP API: what `plaza agent --kind janus --api …/janus` polls for health.
    with urllib.request.urlopen(f"{janus.api_url}/info", timeout=5) as response:
        assert response.status == 200
        assert json.loads(response.read())["janus"] == "server_info"

    # The Admin API: `info` and `ping` need no secret, everything else does.
    assert janus.admin().info()["janus"] == "server_info"
    assert JanusAdmin(janus.admin_url, None).ping()
    with pytest.raises(JanusError) as refused:
        JanusAdmin(janus.admin_url, "not-the-secret").list_sessions()
    assert error_code(refused) == UNAUTHORIZED
    status = janus.admin().get_status()
    assert status["token_auth"] is True and status["session_timeout"] == 60


def test_the_websocket_needs_the_janus_subprotocol(janus):
    # Without a subprotocol libwebsockets hands the upgrade to the "http-only" protocol, and Janus drops it.
    with pytest.raises(wire.ServerClosed):
        wire.WebSocket.open(janus.ws_port, path="/").close()
    socket = open_websocket(janus.ws_port, "janus-protocol")
    socket.close()


# MARK: Stored tokens

def test_requests_without_a_known_token_are_refused(janus, connect):
    connection = connect()
    with pytest.raises(JanusError) as missing:
        connection.create_session()
    assert error_code(missing) == UNAUTHORIZED
    assert "token" in missing.value.reason

    connection.token = secrets.token_urlsafe(24)  # never added
    with pytest.raises(JanusError) as unknown:
        connection.create_session()
    assert error_code(unknown) == UNAUTHORIZED

    # `info` and `ping` are the only requests answered without one.
    assert connection.info()["janus"] == "server_info"
    assert connection.ping()["janus"] == "pong"


def test_an_added_token_opens_sessions_for_the_videoroom_only(janus, admin, connect):
    token = secrets.token_urlsafe(24)
    assert admin.add_token(token, plugins=[VIDEOROOM]) == [VIDEOROOM]
    try:
        assert {"token": token, "allowed_plugins": [VIDEOROOM]} in admin.list_tokens()

        session = connect(token).create_session()
        assert session.id in admin.list_sessions()
        room_handle = session.videoroom()
        assert admin.list_handles(session.id) == [room_handle.id]
        assert admin.handle_info(session.id, room_handle.id)["token"] == token

        with pytest.raises(JanusError) as other_plugin:
            session.attach(ECHOTEST)
        assert error_code(other_plugin) == UNAUTHORIZED_PLUGIN
        with pytest.raises(JanusError) as no_plugin:
            session.attach("janus.plugin.nosuchthing")
        assert error_code(no_plugin) == PLUGIN_NOT_FOUND
        assert admin.list_handles(session.id) == [room_handle.id]
    finally:
        admin.remove_token(token)


def test_token_plugin_lists_are_taken_literally(janus, admin, connect):
    # No plugin named: every plugin is allowed. So Plaza always names the VideoRoom.
    open_token = secrets.token_urlsafe(24)
    assert set(admin.add_token(open_token, plugins=[])) == {VIDEOROOM, ECHOTEST}
    # Only unknown plugins named: they are skipped silently, the token opens sessions but attaches nothing,
    # and list_tokens leaves it out.
    useless_token = secrets.token_urlsafe(24)
    assert admin.add_token(useless_token, plugins=["janus.plugin.videoroom.typo"]) == []
    try:
        session = connect(open_token).create_session()
        session.attach(ECHOTEST)
        session.videoroom()

        assert useless_token not in [entry["token"] for entry in admin.list_tokens()]
        useless = connect(useless_token).create_session()
        with pytest.raises(JanusError) as refused:
            useless.videoroom()
        assert error_code(refused) == UNAUTHORIZED_PLUGIN
    finally:
        admin.remove_token(open_token)
        admin.remove_token(useless_token)


# MARK: Rooms

def test_a_room_with_a_pin_admits_only_publishers_who_give_it(janus, token, connect):
    owner = connect(token).create_session().videoroom()
    settings = new_room_settings(publishers=3, bitrate=256000)
    created = owner.create(**settings)
    assert created["videoroom"] == "created" and created["permanent"] is False
    room = created["room"]
    assert owner.exists(room)
    listed = next(entry for entry in owner.list_rooms() if entry["room"] == room)
    assert listed["pin_required"] is True
    assert listed["max_publishers"] == 3 and listed["bitrate"] == 256000
    assert listed["num_participants"] == 0

    guest = connect(token).create_session().videoroom()
    with pytest.raises(PluginError) as no_pin:
        guest.join_publisher(room, display="no pin")
    assert error_code(no_pin) == VIDEOROOM_MISSING_ELEMENT
    with pytest.raises(PluginError) as wrong_pin:
        guest.join_publisher(room, pin=settings["pin"] + "x", display="wrong pin")
    assert error_code(wrong_pin) == VIDEOROOM_UNAUTHORIZED
    assert owner.listparticipants(room) == []

    joined = guest.join_publisher(room, pin=settings["pin"], display="guest")
    assert joined["videoroom"] == "joined" and joined["room"] == room
    assert isinstance(joined["id"], int) and isinstance(joined["private_id"], int)
    assert joined["publishers"] == []
    # Joined, not publishing: listed, with "publisher": false (a room's `publishers` caps only those whose
    # PeerConnection is up, so any number may join).
    assert owner.listparticipants(room) == [{"id": joined["id"], "display": "guest", "publisher": False}]

    # The room's secret guards its destruction; the joined participant is told it is gone.
    with pytest.raises(PluginError) as wrong_secret:
        owner.destroy(room, secret="not-the-secret")
    assert error_code(wrong_secret) == VIDEOROOM_UNAUTHORIZED
    assert owner.destroy(room, secret=settings["secret"]) == {"videoroom": "destroyed", "room": room,
                                                               "permanent": False}
    assert not owner.exists(room)
    event = guest.session.connection.wait_event(
        lambda e: e.get("plugindata", {}).get("data", {}).get("videoroom") == "destroyed")
    assert event["sender"] == guest.id and event["plugindata"]["data"]["room"] == room
    with pytest.raises(PluginError) as gone:
        owner.listparticipants(room)
    assert error_code(gone) == VIDEOROOM_NO_SUCH_ROOM


def test_a_participant_leaving_is_announced_to_the_others(janus, token, connect):
    owner = connect(token).create_session().videoroom()
    settings = new_room_settings()
    room = owner.create(**settings)["room"]
    alice = connect(token).create_session().videoroom()
    bob_connection = connect(token)
    bob = bob_connection.create_session().videoroom()
    alice.join_publisher(room, pin=settings["pin"], display="alice")
    bob_id = bob.join_publisher(room, pin=settings["pin"], display="bob")["id"]

    assert bob.leave() == {"videoroom": "event", "room": room, "leaving": "ok"}
    event = alice.session.connection.wait_event(lambda e: "leaving" in e.get("plugindata", {}).get("data", {}))
    assert event["plugindata"]["data"] == {"videoroom": "event", "room": room, "leaving": bob_id}

    # A participant whose WebSocket closes leaves too: Janus ends the sessions a closed WebSocket created.
    carol_connection = connect(token)
    carol = carol_connection.create_session().videoroom()
    carol_id = carol.join_publisher(room, pin=settings["pin"], display="carol")["id"]
    carol_connection.close()
    event = alice.session.connection.wait_event(lambda e: "leaving" in e.get("plugindata", {}).get("data", {}))
    assert event["plugindata"]["data"]["leaving"] == carol_id
    owner.destroy(room, secret=settings["secret"])


def test_an_admin_key_keeps_room_creation_to_plaza(janus_factory):
    admin_key = secrets.token_urlsafe(16)
    server = janus_factory("admin-key", videoroom_admin_key=admin_key)
    admin = server.admin()
    token = secrets.token_urlsafe(24)
    admin.add_token(token)
    with server.connect(token) as connection:
        browser = connection.create_session().videoroom()
        with pytest.raises(PluginError) as missing:
            browser.create(**new_room_settings())
        assert error_code(missing) == VIDEOROOM_MISSING_ELEMENT
        with pytest.raises(PluginError) as wrong:
            browser.create(admin_key="guess", **new_room_settings())
        assert error_code(wrong) == VIDEOROOM_UNAUTHORIZED

        # Plaza creates it through the Admin API (`message_plugin`): no session, no token.
        settings = new_room_settings()
        request = {"request": "create", "admin_key": admin_key, "publishers": 4, "bitrate": 512000,
                   "secret": settings["secret"], "pin": settings["pin"], "is_private": True, "permanent": False}
        created = admin.message_plugin(VIDEOROOM, request)
        assert created["videoroom"] == "created"
        room = created["room"]
        assert browser.exists(room)
        # A private room is not listed, except to who has the admin key.
        assert room not in [entry["room"] for entry in browser.list_rooms()]
        assert room in [entry["room"] for entry in browser.list_rooms(admin_key=admin_key)]
        joined = browser.join_publisher(room, pin=settings["pin"], display="browser")
        participants = admin.message_plugin(VIDEOROOM, {"request": "listparticipants", "room": room})
        assert [p["id"] for p in participants["participants"]] == [joined["id"]]
        destroyed = admin.message_plugin(VIDEOROOM, {"request": "destroy", "room": room,
                                                     "secret": settings["secret"]})
        assert destroyed["videoroom"] == "destroyed"


# MARK: Revoking a token

def test_removing_a_token_stops_new_sessions_at_once(janus, admin, connect):
    token = secrets.token_urlsafe(24)
    admin.add_token(token)
    connect(token).create_session()
    admin.remove_token(token)
    assert token not in [entry["token"] for entry in admin.list_tokens()]
    with pytest.raises(JanusError) as refused:
        connect(token).create_session()
    assert error_code(refused) == UNAUTHORIZED
    # Removing it twice is an error (490), which Plaza's cleanup should tolerate.
    with pytest.raises(JanusError):
        admin.remove_token(token)


def test_an_existing_session_outlives_its_token_until_the_session_timeout(janus_factory):
    """What `remove_token` does to a session already open: nothing at once. The session and its handle stay,
    and so does its participant in the room, but every request on it is refused from then on, keepalives too,
    so Janus ends it `session_timeout` seconds after its last accepted request (its watchdog looks every 2 s):
    a `timeout` event, and the room announces the participant `leaving`. Plaza, to remove someone at once,
    kicks them from the room (`kick` with the room's secret) or destroys their session through the Admin API,
    besides removing their token."""
    server = janus_factory("timeout", session_timeout=3)
    admin = server.admin()
    owner_token, guest_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    admin.add_token(owner_token)
    admin.add_token(guest_token)
    with server.connect(owner_token) as owner_connection, server.connect(guest_token) as guest_connection:
        owner_session = owner_connection.create_session()
        owner = owner_session.videoroom()
        settings = new_room_settings()
        room = owner.create(**settings)["room"]
        owner.join_publisher(room, pin=settings["pin"], display="owner")
        guest_session = guest_connection.create_session()
        guest = guest_session.videoroom()
        guest_id = guest.join_publisher(room, pin=settings["pin"], display="guest")["id"]

        admin.remove_token(guest_token)
        revoked_at = time.monotonic()
        with pytest.raises(JanusError) as keepalive:
            guest_session.keepalive()
        assert error_code(keepalive) == UNAUTHORIZED
        with pytest.raises(JanusError) as message:
            guest.listparticipants(room)
        assert error_code(message) == UNAUTHORIZED
        # Still there: the session, its handle, the participant.
        assert guest_session.id in admin.list_sessions()
        assert admin.list_handles(guest_session.id) == [guest.id]
        assert guest_id in [p["id"] for p in owner.listparticipants(room)]

        # The owner keeps its session alive; the guest's times out.
        timed_out = None
        deadline = time.monotonic() + 3 + 2 + 4
        while time.monotonic() < deadline and timed_out is None:
            owner_session.keepalive()
            try:
                timed_out = guest_connection.wait_event(lambda e: e.get("janus") == "timeout", timeout=0.5)
            except wire.ServerSilent:
                pass
        assert timed_out is not None, "the guest's session did not time out"
        assert timed_out["session_id"] == guest_session.id
        assert time.monotonic() - revoked_at >= 2.5
        leaving = owner_connection.wait_event(lambda e: e.get("plugindata", {}).get("data", {}).get("leaving")
                                              == guest_id)
        assert leaving["plugindata"]["data"]["room"] == room
        assert guest_session.id not in admin.list_sessions()
        assert [p["display"] for p in owner.listparticipants(room)] == ["owner"]


def test_kicking_and_removing_the_token_removes_a_participant_for_good(janus, admin, connect):
    owner_token, guest_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    admin.add_token(owner_token)
    admin.add_token(guest_token)
    owner = connect(owner_token).create_session().videoroom()
    settings = new_room_settings()
    room = owner.create(**settings)["room"]
    owner.join_publisher(room, pin=settings["pin"], display="owner")
    guest = connect(guest_token).create_session().videoroom()
    guest_id = guest.join_publisher(room, pin=settings["pin"], display="guest")["id"]

    with pytest.raises(PluginError) as wrong_secret:
        owner.kick(room, guest_id, secret="not-the-secret")
    assert error_code(wrong_secret) == VIDEOROOM_UNAUTHORIZED
    admin.remove_token(guest_token)
    assert owner.kick(room, guest_id, secret=settings["secret"]) == {"videoroom": "success"}
    kicked = guest.session.connection.wait_event(lambda e: e.get("plugindata", {}).get("data", {}).get("reason")
                                                 == "kicked")
    assert kicked["plugindata"]["data"] == {"videoroom": "event", "room": room, "leaving": "ok",
                                            "reason": "kicked"}
    told = owner.session.connection.wait_event(lambda e: "kicked" in e.get("plugindata", {}).get("data", {}))
    assert told["plugindata"]["data"]["kicked"] == guest_id
    assert [p["display"] for p in owner.listparticipants(room)] == ["owner"]
    # Without its token the guest can neither join again on its session nor open a new one.
    with pytest.raises(JanusError) as rejoin:
        guest.session.videoroom()
    assert error_code(rejoin) == UNAUTHORIZED
    with pytest.raises(JanusError) as new_session:
        connect(guest_token).create_session()
    assert error_code(new_session) == UNAUTHORIZED
    owner.destroy(room, secret=settings["secret"])
    admin.remove_token(owner_token)


def test_admin_destroy_session_removes_a_participant_at_once(janus, admin, token, connect):
    owner = connect(token).create_session().videoroom()
    settings = new_room_settings()
    room = owner.create(**settings)["room"]
    owner.join_publisher(room, pin=settings["pin"], display="owner")
    guest_session = connect(token).create_session()
    guest_id = guest_session.videoroom().join_publisher(room, pin=settings["pin"], display="guest")["id"]

    admin.destroy_session(guest_session.id)
    event = owner.session.connection.wait_event(
        lambda e: e.get("plugindata", {}).get("data", {}).get("leaving") == guest_id)
    assert event["plugindata"]["data"]["room"] == room
    assert guest_session.id not in admin.list_sessions()
    owner.destroy(room, secret=settings["secret"])


# MARK: Processes

def test_stop_ends_janus_gracefully(janus_factory):
    server = janus_factory("graceful")
    pid = server.pid
    server.stop()
    assert server.process.returncode == 0
    assert not server.running
    assert "Bye!" in server.log()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_kill9_drops_everything_and_a_restart_comes_back_empty(janus_factory):
    server = janus_factory("crash")
    admin = server.admin()
    token = secrets.token_urlsafe(24)
    admin.add_token(token)
    connection = server.connect(token)
    session = connection.create_session()
    settings = new_room_settings()
    room = session.videoroom().create(**settings)["room"]
    ports = (server.ws_port, server.http_port, server.admin_port)

    server.kill9()
    assert server.process.returncode == -9
    with pytest.raises((wire.ServerClosed, ConnectionError)):
        connection.receive(timeout=5)
    connection.close()
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        admin.list_sessions()

    server.start()
    assert (server.ws_port, server.http_port, server.admin_port) == ports
    assert admin.list_sessions() == [] and admin.list_tokens() == []
    with server.connect(token) as again:
        with pytest.raises(JanusError) as refused:
            again.create_session()
        assert error_code(refused) == UNAUTHORIZED
    admin.add_token(token)
    with server.connect(token) as again:
        assert not again.create_session().videoroom().exists(room)


def test_a_second_janus_runs_alongside(janus, janus_factory):
    second = janus_factory("second")
    assert second.running and janus.running
    assert len({janus.ws_port, janus.http_port, janus.admin_port,
                second.ws_port, second.http_port, second.admin_port}) == 6
    assert second.directory != janus.directory and second.admin_secret != janus.admin_secret
    with second.connect() as connection, janus.connect() as first_connection:
        assert connection.info()["server-name"] != first_connection.info()["server-name"]

    # Tokens and rooms are each server's own.
    token = secrets.token_urlsafe(24)
    second.admin().add_token(token)
    with janus.connect(token) as first_connection:
        with pytest.raises(JanusError) as refused:
            first_connection.create_session()
        assert error_code(refused) == UNAUTHORIZED
    with second.connect(token) as second_connection:
        assert second_connection.create_session().videoroom().create(**new_room_settings())["videoroom"] \
            == "created"

    # One crashing leaves the other serving.
    second.kill9()
    assert janus.running
    assert janus.admin().ping()
