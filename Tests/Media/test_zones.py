"""Meeting zones on a real Janus: browsers that walk in hear and see each other through the bridge."""

import time

from conftest import browser_support

join, walk, wait_for, screenshot = browser_support.join, browser_support.walk, browser_support.wait_for, browser_support.screenshot
ROOM = "zones"
# Spots inside the built-in map's meeting room (x 480–1056, y 32–224), a few steps apart.
MEETING = [(560, 120), (700, 120), (840, 120), (980, 120), (560, 190), (700, 190), (840, 190), (980, 190)]
OUTSIDE = (300, 600)


def bridge(driver):
    """What `driver` receives through the bridge, by participant: inbound RTP bytes per kind."""
    return driver.execute_async_script("window.plaza.bridge().then(arguments[arguments.length - 1]);")


def conference(driver):
    return driver.execute_script("return window.plaza.conference();")


def wait_for_media(driver, senders, timeout=30):
    """Waits until `driver` receives audio and video from each of `senders`, and both keep growing."""
    deadline = time.monotonic() + timeout
    first = None
    while time.monotonic() < deadline:
        peers = bridge(driver)["peers"]
        if all(peers.get(s, {}).get("audio", 0) > 0 and peers.get(s, {}).get("video", 0) > 0 for s in senders):
            if first is None:
                first = peers
            elif all(peers[s]["audio"] > first[s]["audio"] and peers[s]["video"] > first[s]["video"] for s in senders):
                return peers
        time.sleep(0.5)
    raise AssertionError(f"no media from {senders}: {bridge(driver)}; conference {conference(driver)}")


def enter_zone(browsers, plaza, count, room=ROOM, timeout=15):
    """`count` windows join `room` of `plaza` (a server or a fleet's directory) and walk into the meeting room;
    returns them and their participant ids once each is in the zone's conference."""
    windows, ids = [], []
    for index in range(count):
        driver = browsers(960, 600)
        ids.append(join(driver, plaza, room, f"Guest {index + 1}"))
        windows.append(driver)
    for driver, spot in zip(windows, MEETING):
        walk(driver, *spot)
    for driver in windows:
        wait_for(driver, "const c = window.plaza.conference(); return c && c.zone === 'meeting-room';", timeout,
                 "not in the meeting room's conference")
    return windows, ids


def test_three_in_a_meeting_zone_hear_and_see_each_other_through_janus(janus, plaza_with, browsers):
    plaza = plaza_with(janus)
    windows, ids = enter_zone(browsers, plaza, 3)
    for driver, you in zip(windows, ids):
        wait_for_media(driver, [other for other in ids if other != you])
        assert browser_support.calls(driver) == {}, "no peer-to-peer call inside a conference"
    assert "Meeting room" in windows[0].find_element("id", "conference").text
    screenshot(windows[0], "media-meeting-zone.png")

    # The third walks out: back to peer-to-peer, and the others' subscriptions to it end.
    leaver = ids[2]
    walk(windows[2], *OUTSIDE)
    wait_for(windows[2], "return window.plaza.conference() === null;", 10, "still in the conference")
    for driver in windows[:2]:
        wait_for(driver, "return window.plaza.bridge().then(b => !(arguments[0] in b.peers));", 15,
                 "the leaver's streams are still subscribed", leaver)
    wait_for(windows[2], "return window.plaza.bridge().then(b => Object.keys(b.peers).length === 0);", 10,
             "the leaver still receives the bridge")
    # The two left keep hearing each other.
    wait_for_media(windows[0], [ids[1]])


def test_a_bubble_moves_to_the_bridge_past_p2p_max_and_back_after_the_hysteresis(janus, plaza_with, browsers):
    """The bubble rule with `space.p2pMax` 3, so that four windows show it: three talk peer-to-peer; a fourth
    joining them moves all four to the bridge; when two walk away, each alone goes back to peer-to-peer at once,
    and the pair left, below three, waits out the hysteresis (6 s here) on the bridge first, then calls again."""
    plaza = plaza_with(janus, p2pMax=3, bridgeHysteresis=6)
    spots = [(300, 600), (360, 600), (420, 600), (360, 660)]
    windows, ids = [], []
    for index in range(3):
        driver = browsers(960, 600)
        ids.append(join(driver, plaza, ROOM, f"Guest {index + 1}"))
        walk(driver, *spots[index])
        windows.append(driver)
    browser_support.wait_for_call(windows[0], windows[1], ids[0], ids[1], 30)
    assert conference(windows[0]) is None

    fourth = browsers(960, 600)
    ids.append(join(fourth, plaza, ROOM, "Guest 4"))
    walk(fourth, *spots[3])
    windows.append(fourth)
    for driver in windows:
        wait_for(driver, "const c = window.plaza.conference(); return c && c.conference.startsWith('bubble-');", 15,
                 "the bubble did not move to the bridge")
    for driver, you in zip(windows, ids):
        wait_for_media(driver, [other for other in ids if other != you])
    wait_for(windows[0], "return window.plaza.calls().then(c => Object.keys(c).length === 0);", 10,
             "peer-to-peer calls did not end on the bridge")
    screenshot(windows[0], "media-bubble.png")

    # One walks away: the three left are not below three, so they stay on the bridge. A second walks away: the
    # pair left, below three, waits out the hysteresis there.
    walk(windows[2], 900, 900)
    wait_for(windows[2], "return window.plaza.conference() === null;", 15, "the walker stayed on the bridge")
    assert conference(windows[0]) is not None
    assert windows[3].execute_script("return window.plaza.walkTo(300, 1200);")
    wait_for(windows[3], "return window.plaza.conference() === null;", 15, "the walker stayed on the bridge")
    assert conference(windows[0]) is not None, "the hysteresis keeps the pair on the bridge at first"
    wait_for(windows[0], "return window.plaza.conference() === null;", 10, "not back after the hysteresis")
    browser_support.wait_for_call(windows[0], windows[1], ids[0], ids[1], 30)


def test_four_in_one_meeting_zone_each_receive_everyone(janus, plaza_with, browsers):
    """The most windows a 2-core CI machine holds in one zone: four, each encoding its camera once and decoding
    the three others through Janus. With five, the windows themselves took the machine (the lobby's device list
    alone took over 15 s), not Janus (docs/web-client.md)."""
    count = 4
    plaza = plaza_with(janus)
    windows, ids = enter_zone(browsers, plaza, count)
    started = time.monotonic()
    for driver, you in zip(windows, ids):
        wait_for_media(driver, [other for other in ids if other != you], timeout=60)
    print(f"{count} windows: every stream flowing {time.monotonic() - started:.1f} s after the last arrived")
    screenshot(windows[0], f"media-zone-{count}.png")
