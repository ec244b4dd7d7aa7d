"""Browser tests: a real `plaza serve` on a free loopback port, driven through headless Chromium."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Support"))
from plaza_processes import free_port, plaza_binary, stop  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("PLAZA_ARTIFACTS", ROOT / ".build" / "browser-artifacts"))


class PlazaProcess:
    """`plaza serve` on a loopback port with its own data directory; restartable on the same port and data."""

    def __init__(self, binary: str, directory: Path, settings: dict):
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = directory / "plaza.json"
        self.config.write_text(json.dumps(settings))
        self.process = None
        self.log = open(directory / "plaza.log", "ab")

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "serve", "--port", str(self.port), "--data-dir", str(self.directory / "data"),
             "--config", str(self.config)],
            stdout=self.log, stderr=self.log,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"plaza exited with {self.process.returncode}; see {self.directory / 'plaza.log'}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("plaza did not become healthy within 30 s")

    def stop(self):
        stop(self.process)
        self.process = None

    def history(self, token: str, room: str) -> list:
        request = urllib.request.Request(
            f"{self.url}/api/v1/rooms/{room}/messages?limit=200", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)["messages"]


@pytest.fixture(scope="session")
def binary():
    return plaza_binary()


@pytest.fixture
def plaza(binary):
    directory = Path(tempfile.mkdtemp(prefix="plaza-browser-"))
    server = PlazaProcess(binary, directory, {"space": {"proximityRadius": 160}, "log": {"level": "notice"}})
    server.start()
    yield server
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


def chromium_driver() -> str:
    for candidate in (os.environ.get("CHROMEDRIVER"), shutil.which("chromedriver"), "/usr/bin/chromedriver"):
        if candidate and os.path.exists(candidate):
            return candidate
    raise RuntimeError("chromedriver not found: install Debian's chromium-driver")


@pytest.fixture
def browsers():
    """Opens headless Chromium windows (1280×720 by default) with fake camera and microphone."""
    opened = []

    def open_browser(width=1280, height=720):
        options = Options()
        for binary in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
            if os.path.exists(binary):
                options.binary_location = binary
        for argument in (
            "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
            f"--window-size={width},{height}",
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            "--autoplay-policy=no-user-gesture-required",
            # Host candidates as plain IP addresses: there is no mDNS responder on a CI machine.
            "--disable-features=WebRtcHideLocalIpsWithMdns",
        ):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(chromium_driver()), options=options)
        driver.set_script_timeout(20)
        opened.append(driver)
        return driver

    yield open_browser
    for driver in opened:
        try:
            for entry in driver.get_log("browser"):
                if entry["level"] == "SEVERE":
                    print("browser:", entry["message"])
        except Exception:
            pass
        driver.quit()


def wait_for(driver, script, timeout=15, message=None, *args):
    """Waits until `script` (returning a JS value) is truthy; returns that value."""
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: d.execute_script(script, *args), message or f"timed out waiting for: {script}")


def join(driver, plaza, room, name):
    """Opens /r/<room>, enters the name, waits for the devices, joins; returns the participant id."""
    driver.get(f"{plaza.url}/r/{room}")
    name_field = driver.find_element(By.ID, "name")
    name_field.clear()
    name_field.send_keys(name)
    wait_for(driver, "return document.getElementById('camera').options.length > 1", message="no fake camera listed")
    # Join is enabled once the lobby has settled the devices, so a join never races the permission prompt.
    wait_for(driver, "return !document.getElementById('join').disabled;", message="Join stays disabled")
    driver.find_element(By.ID, "join").click()
    wait_for(driver, "return window.plaza && window.plaza.session.isOpen && window.plaza.you() !== null",
             message="did not enter the space")
    return driver.execute_script("return window.plaza.you().id")


def screenshot(driver, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path


def position(driver):
    """Where `driver`'s own avatar stands, `[x, y]`."""
    return driver.execute_script("const y = window.plaza.you(); return [y.x, y.y];")


def calls(driver):
    """The page's calls by participant id, with their state and statistics (`window.plaza.calls()`)."""
    return driver.execute_async_script("window.plaza.calls().then(arguments[arguments.length - 1]);")


def walk(driver, x, y):
    """Walks `driver`'s avatar to (x, y) and waits until it stops; returns where it stopped."""
    assert driver.execute_script("return window.plaza.walkTo(arguments[0], arguments[1]);", x, y), f"no path to {x},{y}"
    wait_for(driver, "return !window.plaza.isWalking();", 20, "walk did not finish")
    return position(driver)


def wait_for_call(one, other, one_id, other_id, timeout, explain=lambda: ""):
    """Waits until `one` and `other` both hold a connected call with each other."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        a, b = calls(one), calls(other)
        if a.get(other_id, {}).get("state") == "connected" and b.get(one_id, {}).get("state") == "connected":
            return
        time.sleep(0.3)
    raise AssertionError(f"no connected call: {calls(one)}, {calls(other)}{explain()}")
