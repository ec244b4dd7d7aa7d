"""Calls through a TURN relay: Plaza's join hands out credentials that coturn accepts, and with
`ice.transportPolicy` `relay` two browsers talk through it."""

import base64
import hashlib
import hmac
import json
import time
import urllib.request

import pytest

from conftest import PlazaProcess, calls, join, position, screenshot, wait_for, wait_for_call
from turn_support import TurnServer, allocate, shared_secret_credential

SECRET = "plaza-test-turn-secret-7f3a91c2"
TTL = 600
ROOM = "relayed"


@pytest.fixture
def coturn():
    server = TurnServer(SECRET).start()
    yield server
    server.stop()
    server.cleanup()


def relay_settings(coturn, **extra):
    settings = {
        "turn": {"urls": [coturn.url], "secret": SECRET, "ttl": TTL},
        "ice": {"servers": json.dumps([{"urls": f"stun:127.0.0.1:{coturn.port}"}])},
        "log": {"level": "notice"},
    }
    for section, values in extra.items():
        settings.setdefault(section, {}).update(values)
    return settings


def plaza_join(plaza, room, name=None, token=None):
    body = {"room": room, **({"name": name} if name else {})}
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(plaza.url + "/api/v1/join", data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def turn_entry(answer):
    """The join answer's TURN server: the entry with credentials (after the configured `ice.servers`)."""
    entries = [entry for entry in answer["iceServers"] if "credential" in entry]
    assert len(entries) == 1, answer["iceServers"]
    return entries[0]


def test_join_hands_out_turn_credentials_that_coturn_accepts(binary, coturn, tmp_path):
    plaza = PlazaProcess(binary, tmp_path, relay_settings(coturn))
    plaza.start()
    try:
        before = time.time()
        answer = plaza_join(plaza, ROOM, "Ann")
        after = time.time()
        participant = answer["participant"]
        assert answer["iceTransportPolicy"] == "all"
        # The configured servers first, unchanged; then the relay with this participant's credentials.
        assert answer["iceServers"][0] == {"urls": f"stun:127.0.0.1:{coturn.port}"}
        entry = turn_entry(answer)
        assert entry is answer["iceServers"][-1]
        assert entry["urls"] == [coturn.url]
        expiry, _, user = entry["username"].partition(":")
        assert user == participant
        assert int(before) + TTL - 1 <= int(expiry) <= after + TTL + 1, f"expiry {expiry} is not now + turn.ttl"
        expected = base64.b64encode(hmac.new(SECRET.encode(), entry["username"].encode(), hashlib.sha1).digest()).decode()
        assert entry["credential"] == expected, "credential = base64(HMAC-SHA1(turn.secret, username))"

        relayed = allocate(coturn.address, entry["username"], entry["credential"])
        assert relayed.ok, f"coturn refused Plaza's credentials: {relayed.error} {relayed.reason}"
        assert relayed.relayed and relayed.relayed[0] == "127.0.0.1" and coturn.min_port <= relayed.relayed[1] <= coturn.max_port
        assert relayed.integrity_checked, "coturn's answer is signed with the same long-term key"
        assert relayed.realm == TurnServer.REALM

        # A renewal (join with the room token) keeps the participant and brings credentials of its own.
        time.sleep(1.1)
        renewed = plaza_join(plaza, ROOM, token=answer["token"])
        assert renewed["participant"] == participant
        fresh = turn_entry(renewed)
        fresh_expiry, _, fresh_user = fresh["username"].partition(":")
        assert fresh_user == participant and int(fresh_expiry) > int(expiry)
        assert allocate(coturn.address, fresh["username"], fresh["credential"]).ok

        # What coturn refuses: a credential whose expiry has passed (correctly signed with the shared secret),
        # one signed with another secret, and Plaza's username with another participant's password.
        expired = allocate(coturn.address, *shared_secret_credential(SECRET, participant, int(time.time()) - 60))
        assert not expired.ok and expired.error == 401, expired
        forged = allocate(coturn.address, *shared_secret_credential("not-the-shared-secret-0000", participant,
                                                                    int(time.time()) + TTL))
        assert not forged.ok and forged.error == 401, forged
        other = plaza_join(plaza, ROOM, "Bob")
        mixed = allocate(coturn.address, entry["username"], turn_entry(other)["credential"])
        assert not mixed.ok and mixed.error == 401, mixed
    finally:
        plaza.stop()


# MARK: a call through the relay

# Records every setConfiguration on the page's peer connections (installed before the client's scripts run).
RECORD_SET_CONFIGURATION = """
window.__plazaTest = { configured: [] };
const originalSetConfiguration = RTCPeerConnection.prototype.setConfiguration;
RTCPeerConnection.prototype.setConfiguration = function (configuration) {
  const result = originalSetConfiguration.call(this, configuration);
  const applied = this.getConfiguration();
  window.__plazaTest.configured.push({
    policy: applied.iceTransportPolicy,
    usernames: applied.iceServers.map((server) => server.username ?? null),
  });
  return result;
};
"""


def turn_username(driver):
    return driver.execute_script(
        "return window.plaza.session.iceServers.filter((s) => s.credential).map((s) => s.username)[0] ?? null;")


def test_relay_only_call_carries_media_through_coturn(binary, coturn, browsers, tmp_path):
    # Tokens renewed every 8 s: the call also lives through a renewal that hands out new TURN credentials.
    settings = relay_settings(coturn, ice={"transportPolicy": "relay"}, auth={"tokenTTL": 12},
                              space={"proximityRadius": 160})
    plaza = PlazaProcess(binary, tmp_path, settings)
    plaza.start()
    try:
        ann, bob = browsers(), browsers()
        for driver in (ann, bob):
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_SET_CONFIGURATION})
        ann_id = join(ann, plaza, ROOM, "Ann")
        bob_id = join(bob, plaza, ROOM, "Bob")
        assert ann.execute_script("return window.plaza.session.iceTransportPolicy;") == "relay"

        # Ann walks up to Bob (they may already be close: both start at the spawn point).
        home = position(bob)
        assert ann.execute_script("return window.plaza.walkTo(arguments[0], arguments[1]);", home[0] + 30, home[1])
        wait_for(ann, "return !window.plaza.isWalking();", 20, "walk did not finish")

        wait_for_call(ann, bob, ann_id, bob_id, 30, lambda: f"\ncoturn:\n{coturn.log()[-4000:]}")

        def flowing(seconds):
            """Both sides of the call are connected through the relay, and media arrives on both."""
            def now():
                return {"ann": calls(ann).get(bob_id, {}), "bob": calls(bob).get(ann_id, {})}
            first = now()
            time.sleep(seconds)
            second = now()
            for side in ("ann", "bob"):
                assert second[side].get("state") == "connected", f"the call dropped: {first} → {second}"
                assert second[side]["localCandidateType"] == "relay", f"{side}'s call does not go through the relay: {second}"
                assert second[side]["remoteCandidateType"] in ("relay", "prflx"), second
                assert second[side]["bytesReceived"] > first[side]["bytesReceived"] > 0, \
                    f"media bytes do not flow to {side}: {first[side]} → {second[side]}"

        flowing(3)

        # Both browsers allocated their relays with credentials Plaza issued to them.
        log = coturn.log()
        for participant in (ann_id, bob_id):
            assert f":{participant}>: incoming packet ALLOCATE processed, success" in log, \
                f"no allocation for {participant} in coturn's log"

        # A token renewal brings new TURN credentials, and the open call takes them without dropping.
        for driver in (ann, bob):
            first_username = turn_username(driver)
            assert first_username and first_username.endswith(":" + driver.execute_script("return window.plaza.you().id"))
            wait_for(driver, """
                const current = window.plaza.session.iceServers.filter((s) => s.credential).map((s) => s.username)[0];
                const applied = window.__plazaTest.configured;
                return current !== arguments[0] && applied.length > 0
                    && applied[applied.length - 1].usernames.includes(current)
                    && applied[applied.length - 1].policy === 'relay';
            """, 20, "a renewal's TURN credentials were not applied to the open call", first_username)
        flowing(2)

        wait_for(bob, "return document.querySelector(`#videos .tile[data-id='${arguments[0]}'] video`) !== null;", 5,
                 "no video tile", ann_id)
        wait_for(bob, """
            const video = document.querySelector(`#videos .tile[data-id='${arguments[0]}'] video`);
            return video.readyState >= 2 && video.videoWidth > 0;
        """, 10, "Ann's video does not play on Bob's screen", ann_id)
        path = screenshot(bob, "turn-relay-call.png")
        assert path.stat().st_size > 10_000
    finally:
        plaza.stop()
