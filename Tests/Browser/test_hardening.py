"""The client under the server's security headers, and what a new user sees in the first minutes.

The server sends a Content-Security-Policy with no inline script or style, and a few other headers, on every
answer. These tests check that the real client runs under it without a single violation, that the policy does
block what it should, that every answer carries the headers, and a few things a first-time user meets: the side
panel, the chat field, and where two arrivals appear.
"""

import json
import shutil
import time
import urllib.error
import urllib.request

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import ROOT, PlazaProcess, calls, join, position, screenshot, wait_for

WEB = ROOT / "Sources" / "PlazaWebClient" / "Web"

POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(self), microphone=(self), display-capture=(self), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}

# Runs in every document before its own scripts (a DevTools script, which the page's policy does not govern):
# records each violation in the window and in sessionStorage, which outlives the navigations of one tab
# (lobby → /r/<room> → reload → back to /).
VIOLATIONS_KEY = "plaza-test:csp-violations"
RECORD_VIOLATIONS = """
(() => {
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    const entry = {
      violatedDirective: e.violatedDirective, effectiveDirective: e.effectiveDirective, blockedURI: e.blockedURI,
      sourceFile: e.sourceFile, lineNumber: e.lineNumber, sample: e.sample, page: location.pathname,
    };
    window.__cspViolations.push(entry);
    try {
      const all = JSON.parse(sessionStorage.getItem('%s') || '[]');
      all.push(entry);
      sessionStorage.setItem('%s', JSON.stringify(all));
    } catch {}
  }, true);
})();
""" % (VIOLATIONS_KEY, VIOLATIONS_KEY)


def watched(driver):
    """Records the policy violations of every page `driver` loads from now on."""
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS})
    return driver


def violations(driver):
    """The violations recorded in this tab (all its pages on the server's origin), plus Chromium's console
    reports of blocked content."""
    recorded = driver.execute_script("return JSON.parse(sessionStorage.getItem(arguments[0]) || '[]');", VIOLATIONS_KEY)
    console = [entry["message"] for entry in driver.get_log("browser") if "Content Security Policy" in entry["message"]]
    return recorded + console


def viewport(driver, width, height):
    """Sets the page's viewport exactly (a headless window is at least 500 px wide and includes its frame)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 700})


def shows_message(driver, text, timeout=10):
    wait_for(driver, """
        return [...document.querySelectorAll('#messages li:not(.pending) .text')].some(e => e.textContent === arguments[0]);
    """, timeout, f"message not shown: {text}", text)


def panels(driver):
    """Which side panels are on screen, and which toolbar buttons say so."""
    return driver.execute_script("""
        const shown = (id) => document.getElementById(id).getClientRects().length > 0;
        const pressed = (id) => document.getElementById(id).getAttribute('aria-pressed') === 'true';
        return {chat: shown('chat-panel'), people: shown('people-panel'),
                chatPressed: pressed('chat-button'), peoplePressed: pressed('people-button')};
    """)


# MARK: the policy


def test_the_client_runs_without_a_policy_violation(binary, browsers, tmp_path):
    """Lobby, join, walk, chat, people, reactions, a call with media, the fatal dialog and leaving, all under the
    server's policy, without one violation. The server allows one connection per participant, so a second tab
    of the same participant is refused and shows the fatal dialog."""
    server = PlazaProcess(binary, tmp_path, {"space": {"proximityRadius": 160},
                                             "limits": {"connectionsPerParticipant": 1}, "log": {"level": "notice"}})
    server.start()
    try:
        ann, bob = watched(browsers()), watched(browsers())
        room = "policy"

        # The lobby at /, then the room's own link.
        ann.get(server.url + "/")
        wait_for(ann, "return document.getElementById('camera').options.length > 1", message="no fake camera listed")
        ann_id = join(ann, server, room, "Ann")
        bob_id = join(bob, server, room, "Bob")

        # Walk: by keyboard, and to a spot.
        ActionChains(ann).click(ann.find_element(By.ID, "map")).perform()
        wait_for(ann, "return !window.plaza.isWalking();", 20)
        ActionChains(ann).key_down(Keys.ARROW_RIGHT).pause(0.4).key_up(Keys.ARROW_RIGHT).perform()
        here = position(ann)
        assert ann.execute_script("return window.plaza.walkTo(arguments[0], arguments[1]);", here[0] - 30, here[1])
        wait_for(ann, "return !window.plaza.isWalking();", 20, "walk did not finish")

        # Chat both ways.
        ann.find_element(By.ID, "map").send_keys(Keys.ENTER)
        ann.switch_to.active_element.send_keys("Hello under a strict policy", Keys.ENTER)
        shows_message(bob, "Hello under a strict policy")
        bob.find_element(By.ID, "chat-input").send_keys("Hi Ann", Keys.ENTER)
        shows_message(ann, "Hi Ann")

        # The people list, hidden and shown again; a reaction.
        for button in ("people-button", "people-button", "chat-button", "chat-button"):
            ann.find_element(By.ID, button).click()
        wait_for(ann, "return document.querySelectorAll('#people li').length === 2;", 5, "people list incomplete")
        ann.find_element(By.ID, "map").send_keys("1")
        wait_for(bob, "const a = window.plaza.avatars()[arguments[0]]; return a && a.emote && a.emote.emoji === '👋';",
                 5, "no emote", ann_id)

        # A call: both arrived within the proximity radius of each other.
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline:
            a, b = calls(ann), calls(bob)
            if (a.get(bob_id, {}).get("state") == "connected" and b.get(ann_id, {}).get("state") == "connected"
                    and a[bob_id].get("bytesReceived", 0) > 0 and b[ann_id].get("bytesReceived", 0) > 0):
                break
            time.sleep(0.3)
        else:
            raise AssertionError(f"no call with media: ann {calls(ann)}, bob {calls(bob)}")
        wait_for(bob, "return document.querySelector(`#videos .tile[data-id='${arguments[0]}'] video`) !== null;", 5,
                 "no video tile", ann_id)
        ann.find_element(By.ID, "mic-button").click()
        wait_for(bob, "return window.plaza.roster()[arguments[0]].audio === false;", 5, "mute not shown", ann_id)
        ann.find_element(By.ID, "camera-button").click()
        wait_for(bob, "return window.plaza.roster()[arguments[0]].video === false;", 5, "camera off not shown", ann_id)
        screenshot(bob, "policy-call.png")

        # A second tab of Ann's is refused (one connection per participant): the fatal dialog, then the lobby.
        twin = watched(browsers())
        token = ann.execute_script("return sessionStorage.getItem(arguments[0]);", f"plaza:token:{room}")
        twin.get(f"{server.url}/r/{room}")
        twin.execute_script("sessionStorage.setItem(arguments[0], arguments[1]);", f"plaza:token:{room}", token)
        twin.find_element(By.ID, "name").send_keys("Ann")
        wait_for(twin, "return !document.getElementById('join').disabled;", 10, "Join stays disabled")
        twin.find_element(By.ID, "join").click()
        wait_for(twin, "return !document.getElementById('fatal').hidden;", 15, "no fatal dialog")
        screenshot(twin, "policy-fatal.png")
        twin.find_element(By.ID, "fatal-back").click()
        wait_for(twin, "return document.readyState === 'complete' && !document.getElementById('lobby').hidden "
                       "&& document.getElementById('space').hidden;", 10, "not back in the lobby")

        # Leaving returns to the lobby at /.
        ann.find_element(By.ID, "leave-button").click()
        wait_for(ann, "return location.pathname === '/' && document.readyState === 'complete' "
                      "&& document.getElementById('camera').options.length > 1;", 10, "not back in the lobby")

        found = {name: violations(driver) for name, driver in (("ann", ann), ("bob", bob), ("twin", twin))}
        assert found == {"ann": [], "bob": [], "twin": []}, json.dumps(found, indent=1, ensure_ascii=False)
    finally:
        server.stop()


def test_the_policy_blocks_inline_script_handlers_and_style(binary, browsers, tmp_path, monkeypatch):
    """A page with inline script, an inline event handler and a style attribute, served by Plaza from a copy of
    the client: only its same-origin script file runs, and each inline part is reported."""
    web = tmp_path / "web"
    shutil.copytree(WEB, web)
    (web / "marker.js").write_text("window.fileScriptRan = true;\n")
    (web / "inline.html").write_text("""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Inline</title></head>
<body>
  <p id="styled" style="color: rgb(255, 0, 0)">Styled inline</p>
  <img id="handler" src="data:," alt="" onerror="window.handlerRan = true">
  <script>window.inlineRan = true;</script>
  <script src="/marker.js"></script>
</body>
</html>
""")
    data = tmp_path / "server"
    data.mkdir()
    monkeypatch.delenv("PLAZA_WEB_ROOT", raising=False)  # the environment would win over this server's file
    server = PlazaProcess(binary, data, {"web": {"root": str(web)}, "log": {"level": "notice"}})
    server.start()
    try:
        driver = watched(browsers())
        driver.get(server.url + "/inline.html")
        wait_for(driver, "return window.fileScriptRan === true;", 10, "the same-origin script did not run")
        wait_for(driver, "return document.getElementById('handler').complete;", 5)
        time.sleep(0.3)  # violation events are dispatched asynchronously
        state = driver.execute_script("""
            return {inline: window.inlineRan === true, handler: window.handlerRan === true,
                    color: getComputedStyle(document.getElementById('styled')).color,
                    violations: window.__cspViolations};
        """)
        assert not state["inline"], "an inline script ran"
        assert not state["handler"], "an inline event handler ran"
        assert state["color"] != "rgb(255, 0, 0)", "a style attribute applied"
        directives = {(v["violatedDirective"], v["effectiveDirective"]) for v in state["violations"]}

        def reported(*names):
            return any(violated in names or effective in names for violated, effective in directives)

        assert reported("script-src-elem", "script-src"), f"inline script not reported: {state['violations']}"
        assert reported("script-src-attr"), f"inline handler not reported: {state['violations']}"
        assert reported("style-src-attr", "style-src"), f"style attribute not reported: {state['violations']}"
    finally:
        server.stop()


def test_every_answer_carries_the_security_headers(plaza):
    def fetch(path, method="GET", body=None):
        request = urllib.request.Request(plaza.url + path, method=method, data=body,
                                         headers={"Content-Type": "application/json"} if body else {})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                response.read()
                return response.status, response.headers
        except urllib.error.HTTPError as error:
            error.read()
            return error.code, error.headers

    join_body = json.dumps({"room": "headers", "name": "Ann"}).encode()
    answers = {
        "GET /": (fetch("/"), 200),
        "GET /r/x": (fetch("/r/x"), 200),
        "GET /app/main.js": (fetch("/app/main.js"), 200),
        "GET /style.css": (fetch("/style.css"), 200),
        "POST /api/v1/join": (fetch("/api/v1/join", "POST", join_body), 200),
        "GET /api/v1/space": (fetch("/api/v1/space"), 200),
        "GET /no-such-file.html": (fetch("/no-such-file.html"), 404),
        "GET /api/v1/join": (fetch("/api/v1/join"), 405),
        "GET /healthz": (fetch("/healthz"), 200),
        "GET /metrics": (fetch("/metrics"), 200),
    }
    for request, ((status, headers), expected) in answers.items():
        assert status == expected, f"{request}: {status}, expected {expected}"
        for name, value in HEADERS.items():
            assert headers.get_all(name) == [value], f"{request}: {name} is {headers.get_all(name)}"


# MARK: a new user's first minutes


def test_people_can_always_be_shown_again_and_the_buttons_say_what_is_open(plaza, browsers):
    ann, bob = browsers(), browsers()
    viewport(ann, 1280, 800)
    join(ann, plaza, "panels", "Ann")
    join(bob, plaza, "panels", "Bob")
    wait_for(ann, "return document.querySelectorAll('#people li').length === 2;", 10, "Bob not listed")
    both = {"chat": True, "people": True, "chatPressed": True, "peoplePressed": True}
    assert panels(ann) == both, "a wide window shows chat and people"

    # Enter to chat keeps the people list.
    ann.find_element(By.ID, "map").send_keys(Keys.ENTER)
    assert ann.switch_to.active_element.get_attribute("id") == "chat-input"
    ann.switch_to.active_element.send_keys("Hello", Keys.ENTER)
    assert panels(ann) == both, "Enter hid the people"
    assert ann.find_element(By.CSS_SELECTOR, "#people li").is_displayed()
    screenshot(ann, "panels-after-enter.png")

    # Each button hides and shows its own panel, and is pressed while that panel is open.
    ann.find_element(By.ID, "people-button").click()
    assert panels(ann) == {"chat": True, "people": False, "chatPressed": True, "peoplePressed": False}
    ann.find_element(By.ID, "people-button").click()
    assert panels(ann) == both
    ann.find_element(By.ID, "chat-button").click()
    assert panels(ann) == {"chat": False, "people": True, "chatPressed": False, "peoplePressed": True}
    screenshot(ann, "panels-people-only.png")
    # Enter brings the chat back, still beside the people.
    ann.find_element(By.ID, "map").send_keys(Keys.ENTER)
    assert panels(ann) == both
    ann.switch_to.active_element.send_keys(Keys.ESCAPE)

    # Neither: the map takes the window's width (and redraws at that size).
    ann.find_element(By.ID, "chat-button").click()
    ann.find_element(By.ID, "people-button").click()
    assert panels(ann) == {"chat": False, "people": False, "chatPressed": False, "peoplePressed": False}
    wait_for(ann, """
        const map = document.getElementById('map');
        return map.clientWidth === window.innerWidth && map.width === Math.round(map.clientWidth * devicePixelRatio);
    """, 5, "the map did not take the freed width")
    ann.find_element(By.ID, "people-button").click()
    assert panels(ann) == {"chat": False, "people": True, "chatPressed": False, "peoplePressed": True}

    # On a phone the panel is a sheet with one of the two at a time; the buttons still tell which.
    phone = browsers(500, 900)
    viewport(phone, 390, 844)
    join(phone, plaza, "panels", "Pat")
    assert panels(phone) == {"chat": False, "people": False, "chatPressed": False, "peoplePressed": False}
    phone.find_element(By.ID, "chat-button").click()
    assert panels(phone) == {"chat": True, "people": False, "chatPressed": True, "peoplePressed": False}
    phone.find_element(By.ID, "people-button").click()
    assert panels(phone) == {"chat": False, "people": True, "chatPressed": False, "peoplePressed": True}
    phone.find_element(By.ID, "people-button").click()
    assert panels(phone) == {"chat": False, "people": False, "chatPressed": False, "peoplePressed": False}


def test_the_chat_placeholder_fits(plaza, browsers):
    fits = """
        const input = document.getElementById('chat-input');
        const style = getComputedStyle(input);
        const context = document.createElement('canvas').getContext('2d');
        context.font = style.font;
        const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
        return {text: input.placeholder, width: context.measureText(input.placeholder).width, room};
    """
    wide = browsers()
    viewport(wide, 1280, 800)
    join(wide, plaza, "placeholder", "Ann")
    measured = wide.execute_script(fits)
    assert measured["text"] and measured["width"] <= measured["room"], f"cut off at 1280 px: {measured}"
    screenshot(wide, "chat-placeholder-wide.png")

    phone = browsers(500, 900)
    viewport(phone, 390, 844)
    join(phone, plaza, "placeholder", "Pat")
    phone.find_element(By.ID, "chat-button").click()
    measured = phone.execute_script(fits)
    assert measured["text"] and measured["width"] <= measured["room"], f"cut off at 390 px: {measured}"
    screenshot(phone, "chat-placeholder-phone.png")


def test_two_arrivals_are_drawn_at_different_spots(plaza, browsers):
    """Participants who join one after the other appear apart (the server spreads arrivals around the spawn
    point), each where the other sees them."""
    ann, bob = browsers(), browsers()
    ann_id = join(ann, plaza, "arrivals", "Ann")
    bob_id = join(bob, plaza, "arrivals", "Bob")
    radius = ann.execute_async_script(
        "const done = arguments[arguments.length - 1]; import('/app/space.js').then((m) => done(m.AVATAR_RADIUS));")
    ann_at, bob_at = position(ann), position(bob)
    screenshot(bob, "arrivals.png")
    apart = ((ann_at[0] - bob_at[0]) ** 2 + (ann_at[1] - bob_at[1]) ** 2) ** 0.5
    assert apart >= radius, f"Ann at {ann_at} and Bob at {bob_at} are {apart:.1f} apart (avatar radius {radius})"
    # And each is drawn where they are on the other's screen.
    for viewer, other, at in ((ann, bob_id, bob_at), (bob, ann_id, ann_at)):
        wait_for(viewer, """
            const a = window.plaza.avatars()[arguments[0]];
            return a && Math.abs(a.x - arguments[1]) < 1 && Math.abs(a.y - arguments[2]) < 1;
        """, 10, f"{other} not drawn at {at}", other, at[0], at[1])
