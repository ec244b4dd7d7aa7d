"""The party space in a real browser: two Chromium sessions against a real `plaza serve`."""

import json
import time
import urllib.request

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from conftest import PlazaProcess, calls, join, position, screenshot, wait_for, wait_for_call, walk

ROOM = "party"


def seen(driver, participant):
    """Where `driver` draws `participant` (None if not drawn)."""
    return driver.execute_script("const a = window.plaza.avatars()[arguments[0]]; return a ? [a.x, a.y] : null;", participant)


def wait_seen_at(viewer, participant, expected, timeout=10):
    return wait_for(viewer, """
        const a = window.plaza.avatars()[arguments[0]];
        return a && Math.abs(a.x - arguments[1]) < 1 && Math.abs(a.y - arguments[2]) < 1;
    """, timeout, f"{participant} not drawn at {expected}", participant, expected[0], expected[1])


def space_description(plaza):
    with urllib.request.urlopen(plaza.url + "/api/v1/space", timeout=5) as response:
        return json.load(response)


def test_two_browsers_see_each_other_walk_and_react(plaza, browsers):
    ann, bob = browsers(), browsers()
    ann_id = join(ann, plaza, ROOM, "Ann")
    bob_id = join(bob, plaza, ROOM, "Bob")

    # Each sees the other at the position the other reports.
    wait_seen_at(ann, bob_id, position(bob))
    wait_seen_at(bob, ann_id, position(ann))

    # Keyboard: Bob walks right; Ann sees him arrive where he stopped.
    canvas = bob.find_element(By.ID, "map")
    ActionChains(bob).click(canvas).perform()
    wait_for(bob, "return !window.plaza.isWalking();")
    start = position(bob)
    ActionChains(bob).key_down(Keys.ARROW_RIGHT).pause(0.6).key_up(Keys.ARROW_RIGHT).perform()
    time.sleep(0.3)
    moved = position(bob)
    assert moved[0] > start[0] + 40, f"Bob did not walk right: {start} → {moved}"
    wait_seen_at(ann, bob_id, moved)

    # Click-to-walk: Ann clicks a spot 100 units left of her; she walks there around anything in the way.
    here = position(ann)
    target = [here[0] - 100, here[1]]
    screen = ann.execute_script("return window.plaza.mapToScreen(arguments[0], arguments[1]);", *target)
    body = ann.find_element(By.TAG_NAME, "body")
    ActionChains(ann).move_to_element_with_offset(body, screen["x"] - body.size["width"] / 2,
                                                 screen["y"] - body.size["height"] / 2).click().perform()
    wait_for(ann, "return !window.plaza.isWalking();", 20)
    arrived = position(ann)
    assert abs(arrived[0] - target[0]) < 20 and abs(arrived[1] - target[1]) < 20, f"{arrived} is not near {target}"
    wait_seen_at(bob, ann_id, arrived)

    # A reaction shows above Ann's avatar on Bob's screen.
    ann.find_element(By.ID, "map").send_keys("2")
    wait_for(bob, "const a = window.plaza.avatars()[arguments[0]]; return a && a.emote && a.emote.emoji === '🎉';",
             5, "no emote", ann_id)

    path = screenshot(ann, "space-two-avatars.png")
    assert path.stat().st_size > 10_000


def test_depth_order_behind_and_in_front_of_a_tree(plaza, browsers):
    ann = browsers()
    ann_id = join(ann, plaza, ROOM, "Ann")
    trees = [o for o in space_description(plaza)["map"]["objects"] if o["kind"] == "tree"]
    assert trees, "the default map has trees"
    spawn = position(ann)
    tree = min(trees, key=lambda t: abs(t["x"] - spawn[0]) + abs(t["y"] - spawn[1]))

    def order():
        drawn = ann.execute_script("return window.plaza.drawOrder();")
        ids = [d["id"] for d in drawn]
        tree_index = next(i for i, d in enumerate(drawn) if d["kind"] == "object" and d["id"].startswith("tree")
                          and abs(d["y"] - tree["y"]) < 0.5)
        return ids.index(ann_id), tree_index

    behind = walk(ann, tree["x"], tree["y"] - 24)
    assert behind[1] < tree["y"]
    avatar_index, tree_index = order()
    assert avatar_index < tree_index, "an avatar behind the tree is drawn before it (hidden by the canopy)"
    screenshot(ann, "behind-tree.png")

    in_front = walk(ann, tree["x"], tree["y"] + 30)
    assert in_front[1] > tree["y"]
    avatar_index, tree_index = order()
    assert avatar_index > tree_index, "an avatar in front of the tree is drawn after it"


def test_chat_both_ways_history_after_reload_and_queued_message_sent_once(plaza, browsers):
    ann, bob = browsers(), browsers()
    ann_id = join(ann, plaza, ROOM, "Ann")
    join(bob, plaza, ROOM, "Bob")

    def say(driver, text):
        field = driver.find_element(By.ID, "chat-input")
        field.send_keys(text)
        field.send_keys(Keys.ENTER)

    def shows(driver, text, timeout=10):
        wait_for(driver, """
            return [...document.querySelectorAll('#messages li:not(.pending) .text')]
                .some(e => e.textContent === arguments[0]);
        """, timeout, f"message not shown: {text}", text)

    # Keyboard only: Enter on the map focuses the chat field.
    ann.find_element(By.ID, "map").send_keys(Keys.ENTER)
    assert ann.switch_to.active_element.get_attribute("id") == "chat-input"
    say(ann, "Hello from Ann")
    shows(bob, "Hello from Ann")
    say(bob, "Hi Ann, Bob here")
    shows(ann, "Hi Ann, Bob here")

    # History after a reload.
    ann.refresh()
    assert join(ann, plaza, ROOM, "Ann") == ann_id, "a reload keeps the participant (token renewal)"
    shows(ann, "Hello from Ann")
    shows(ann, "Hi Ann, Bob here")

    # The server goes away: Ann sees the banner, writes while disconnected, and the message is sent once
    # when the server is back; her position is restored for Bob.
    walk(ann, position(ann)[0] + 40, position(ann)[1])
    before = position(ann)
    plaza.stop()
    wait_for(ann, "return !document.getElementById('banner').hidden;", 10, "no reconnecting banner")
    say(ann, "Sent while offline")
    assert ann.execute_script("return document.querySelectorAll('#messages li.pending').length") == 1
    plaza.start()
    wait_for(ann, "return document.getElementById('banner').hidden;", 30, "did not reconnect")
    shows(ann, "Sent while offline", 15)
    shows(bob, "Sent while offline", 30)
    assert ann.execute_script("return document.querySelectorAll('#messages li.pending').length") == 0
    wait_seen_at(bob, ann_id, before, 15)

    token = ann.execute_script("return window.plaza.session.token;")
    texts = [m["text"] for m in plaza.history(token, ROOM)]
    assert texts.count("Sent while offline") == 1, texts
    assert texts.count("Hello from Ann") == 1, texts
    # And on screen, once.
    assert ann.execute_script("""
        return [...document.querySelectorAll('#messages .text')].filter(e => e.textContent === 'Sent while offline').length
    """) == 1


def test_walking_close_starts_a_call_with_media_and_walking_away_ends_it(plaza, browsers):
    ann, bob = browsers(), browsers()
    ann_id = join(ann, plaza, ROOM, "Ann")
    bob_id = join(bob, plaza, ROOM, "Bob")
    radius = space_description(plaza)["proximity"]["radius"]

    # Ann walks away first (beyond the hang-up distance, but still in view), so the call starts by walking close.
    home = position(bob)
    far = None
    for dx, dy in ((radius * 1.6, 0), (-radius * 1.6, 0), (0, radius * 1.6), (0, -radius * 1.6)):
        if ann.execute_script("return window.plaza.walkTo(arguments[0], arguments[1]);", home[0] + dx, home[1] + dy):
            wait_for(ann, "return !window.plaza.isWalking();", 20)
            here = position(ann)
            if ((here[0] - home[0]) ** 2 + (here[1] - home[1]) ** 2) ** 0.5 > radius * 1.3:
                far = here
                break
    assert far, "found no spot away from Bob"
    wait_for(ann, "return window.plaza.calls().then(c => Object.keys(c).length === 0);", 15)
    assert calls(ann) == {} and calls(bob) == {}

    walk(ann, home[0] + 30, home[1])
    wait_for_call(ann, bob, ann_id, bob_id, 20)
    first = calls(bob)[ann_id]["bytesReceived"]
    time.sleep(2)
    second = calls(bob)[ann_id]["bytesReceived"]
    assert second > first > 0, f"media bytes do not flow: {first} → {second}"
    assert calls(ann)[bob_id]["bytesReceived"] > 0
    wait_for(bob, "return document.querySelector(`#videos .tile[data-id='${arguments[0]}'] video`) !== null;", 5,
             "no video tile", ann_id)
    screenshot(bob, "call.png")

    # Mute is a state set in one session and shown in the other.
    ann.find_element(By.ID, "mic-button").click()
    wait_for(bob, "return window.plaza.roster()[arguments[0]].audio === false;", 5, "mute not shown", ann_id)
    wait_for(bob, "return document.querySelector(`#people li[data-id='${arguments[0]}'] .badge.muted`) !== null;", 5,
             "no muted badge", ann_id)
    ann.find_element(By.ID, "mic-button").click()
    wait_for(bob, "return window.plaza.roster()[arguments[0]].audio === true;", 5, "unmute not shown", ann_id)

    # Walking apart hangs up on both sides.
    walk(ann, *far)
    wait_for(ann, "return window.plaza.calls().then(c => Object.keys(c).length === 0);", 15)
    wait_for(bob, "return window.plaza.calls().then(c => Object.keys(c).length === 0);", 15)


def test_initial_media_state_comes_from_the_lobby_choice(plaza, browsers):
    ann, bob = browsers(), browsers()
    join(ann, plaza, ROOM, "Ann")
    bob.get(f"{plaza.url}/r/{ROOM}")
    bob.find_element(By.ID, "name").send_keys("Bob")
    wait_for(bob, "return document.getElementById('mic').options.length > 1")
    wait_for(bob, "return !document.getElementById('join').disabled;")
    Select(bob.find_element(By.ID, "mic")).select_by_visible_text("None")
    bob.find_element(By.ID, "join").click()
    wait_for(bob, "return window.plaza && window.plaza.session.isOpen;")
    bob_id = bob.execute_script("return window.plaza.you().id")
    roster = wait_for(ann, "return window.plaza.roster()[arguments[0]];", 10, "Bob not in the roster", bob_id)
    assert roster["audio"] is False and roster["video"] is True
    assert bob.find_element(By.ID, "mic-button").get_attribute("disabled") is not None


def test_a_full_room_is_explained(binary, browsers, tmp_path):
    small = PlazaProcess(binary, tmp_path, {"limits": {"participantsPerRoom": 1}})
    small.start()
    try:
        ann, bob = browsers(), browsers()
        join(ann, small, ROOM, "Ann")
        bob.get(f"{small.url}/r/{ROOM}")
        bob.find_element(By.ID, "name").send_keys("Bob")
        wait_for(bob, "return !document.getElementById('join').disabled;", 10, "Join stays disabled")
        bob.find_element(By.ID, "join").click()
        wait_for(bob, "return document.getElementById('lobby-message').textContent.includes('full');", 10)
    finally:
        small.stop()


def test_phone_sized_screen(plaza, browsers):
    phone = browsers(390, 844)
    join(phone, plaza, ROOM, "Pat")
    assert phone.find_element(By.ID, "map").is_displayed()
    assert not phone.find_element(By.ID, "sidebar").is_displayed(), "chat opens over the map on a phone"
    phone.find_element(By.ID, "chat-button").click()
    assert phone.find_element(By.ID, "chat-input").is_displayed()
    screenshot(phone, "phone.png")


def test_history_scrolls_back_and_unread_messages_are_counted(plaza, browsers):
    ann = browsers()
    join(ann, plaza, ROOM, "Ann")
    # 130 messages, paced under the rate limit; the panel loads the newest 100.
    ann.execute_async_script("""
        const done = arguments[arguments.length - 1];
        let i = 0;
        const timer = setInterval(() => {
            i += 1;
            window.plaza.session.send({type: 'chat', id: 'bulk-' + i, text: 'message ' + i});
            if (i === 130) { clearInterval(timer); done(true); }
        }, 30);
    """)
    shown = "return [...document.querySelectorAll('#messages .text')].map(e => e.textContent);"
    wait_for(ann, "return " + shown[7:-1] + ".includes('message 130');", 15)

    phone = browsers(390, 844)  # the chat panel starts closed on a phone
    join(phone, plaza, ROOM, "Pat")
    texts = wait_for(phone, "const t = " + shown[7:-1] + "; return t.length >= 100 ? t : null;", 10)
    assert "message 130" in texts and "message 31" in texts and "message 30" not in texts

    field = ann.find_element(By.ID, "chat-input")
    field.send_keys("Are you there, Pat?", Keys.ENTER)
    wait_for(phone, "return document.getElementById('unread').textContent === '1' && !document.getElementById('unread').hidden;",
             10, "no unread count")
    assert phone.title.startswith("(1)")
    phone.find_element(By.ID, "chat-button").click()
    wait_for(phone, "return document.getElementById('unread').hidden;", 5, "unread count not cleared")

    phone.execute_script("const list = document.getElementById('messages'); list.scrollTop = 0; list.dispatchEvent(new Event('scroll'));")
    wait_for(phone, "return " + shown[7:-1] + ".includes('message 1');", 10, "older page not loaded")
    texts = phone.execute_script(shown)
    numbered = [int(t.split()[1]) for t in texts if t.startswith("message ")]
    assert numbered == list(range(1, 131)), "history in order, each message once"
    assert phone.execute_script("return document.querySelector('#messages .history-edge') !== null;")


def test_a_participant_in_two_tabs_holds_one_steady_call(plaza, browsers):
    ann, bob_tab, bob_other_tab = browsers(), browsers(), browsers()
    bob_id = join(bob_tab, plaza, ROOM, "Bob")
    # A second tab of the same participant: it carries Bob's room token, as a duplicated tab does.
    token = bob_tab.execute_script("return sessionStorage.getItem(arguments[0]);", f"plaza:token:{ROOM}")
    bob_other_tab.get(f"{plaza.url}/r/{ROOM}")
    bob_other_tab.execute_script("sessionStorage.setItem(arguments[0], arguments[1]);", f"plaza:token:{ROOM}", token)
    assert join(bob_other_tab, plaza, ROOM, "Bob") == bob_id
    ann_id = join(ann, plaza, ROOM, "Ann")

    wait_for(ann, "return window.plaza.calls().then(c => c[arguments[0]] && c[arguments[0]].state === 'connected');",
             20, "no call between Ann and Bob", bob_id)
    first = calls(ann)[bob_id]
    time.sleep(3)
    later = calls(ann)[bob_id]
    assert later["state"] == "connected" and later["bytesReceived"] > first["bytesReceived"], "the call stays up"
    holders = [tab for tab in (bob_tab, bob_other_tab) if calls(tab).get(ann_id, {}).get("state") == "connected"]
    assert len(holders) == 1, "exactly one of Bob's tabs is in the call"


def test_names_and_messages_cannot_reorder_what_surrounds_them(plaza, browsers):
    """A right-to-left name keeps its place before the time and before "(you)", and a message with a
    right-to-left override reorders only itself: each is an isolated run of text."""
    ann, bob = browsers(), browsers()
    join(ann, plaza, ROOM, "سارة")
    join(bob, plaza, ROOM, "Bob")
    field = ann.find_element(By.ID, "chat-input")
    field.send_keys("\u202eevil")
    field.send_keys(Keys.ENTER)
    field.send_keys("plain text after it")
    field.send_keys(Keys.ENTER)
    wait_for(bob, """
        return [...document.querySelectorAll('#messages li:not(.pending) .text')]
            .some(e => e.textContent === 'plain text after it');
    """, 10, "messages not shown")
    layout = bob.execute_script("""
        const items = [...document.querySelectorAll('#messages li:not(.pending)')]
            .filter(li => li.querySelector('.who')?.textContent === 'سارة');
        return items.map(li => {
            const who = li.querySelector('.who'), time = li.querySelector('time'), text = li.querySelector('.text');
            return {whoTag: who.tagName, whoRight: who.getBoundingClientRect().right,
                    timeLeft: time.getBoundingClientRect().left, dir: text.dir,
                    bidi: getComputedStyle(text).unicodeBidi, text: text.textContent};
        });
    """)
    assert [entry["text"] for entry in layout] == ["\u202eevil", "plain text after it"], layout
    for entry in layout:
        assert entry["whoTag"] == "BDI", entry
        assert entry["timeLeft"] >= entry["whoRight"], f"the time moved before the name: {entry}"
        assert entry["dir"] == "auto" and entry["bidi"] == "isolate", entry
    # In her own list of people, "(you)" stays after her name.
    order = ann.execute_script("""
        const name = [...document.querySelectorAll('#people li span bdi')].find(e => e.textContent === 'سارة');
        const you = document.createRange();
        you.selectNodeContents(name.nextSibling);
        return [name.getBoundingClientRect().right, you.getBoundingClientRect().left];
    """)
    assert order[1] >= order[0] - 1, f"'(you)' drawn before the name: {order}"
    screenshot(bob, "bidi-chat.png")
    screenshot(ann, "bidi-people.png")
