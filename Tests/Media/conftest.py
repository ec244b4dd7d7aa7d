"""Media through a real Janus: `plaza serve` driving a Janus (Debian's) as its bridge, and headless Chromium
windows that walk into meeting zones and bubbles. Runs inside the network namespace of
scripts/in-media-namespace, where the veth end `PLAZA_MEDIA_INTERFACE` carries the only address Janus and
Chromium gather candidates on."""

import importlib.util
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Tests" / "Janus"))
sys.path.insert(0, str(ROOT / "Tests" / "Support"))

from janus_support import JanusServers  # noqa: E402
from failure_reports import pytest_runtest_makereport, test_failed  # noqa: E402,F401

_spec = importlib.util.spec_from_file_location("browser_support", ROOT / "Tests" / "Browser" / "conftest.py")
browser_support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(browser_support)
binary = browser_support.binary
browsers = browser_support.browsers

INTERFACE = os.environ.get("PLAZA_MEDIA_INTERFACE")
ROOM_ADMIN_KEY = "media-room-admin-" + secrets.token_hex(8)


@pytest.fixture(scope="session", autouse=True)
def media_namespace():
    if not INTERFACE:
        pytest.fail("the media tests run inside scripts/in-media-namespace (it names PLAZA_MEDIA_INTERFACE)")


@pytest.fixture
def janus_factory(request):
    """Starts Janus servers that gather ICE candidates on the namespace's veth only; stopped after the test."""
    servers = JanusServers(ice_enforce_list=INTERFACE, videoroom_admin_key=ROOM_ADMIN_KEY, plugins=("videoroom",))
    yield servers.start
    servers.finish(test_failed(request))


@pytest.fixture
def janus(janus_factory):
    return janus_factory()


def bridge_settings(janus, **space):
    """`plaza serve` settings that make `janus` its bridge."""
    return {
        "media": {"janusURL": janus.ws_url, "janusAdminURL": janus.admin_url, "janusAdminSecret": janus.admin_secret,
                  "janusRoomAdminKey": ROOM_ADMIN_KEY},
        "space": {"proximityRadius": 160, "bridgeHysteresis": 2, **space},
        "log": {"level": "notice"},
    }


@pytest.fixture
def plaza_with(binary, request):
    """`plaza_with(janus, **space)`: a `plaza serve` whose bridge is `janus`."""
    started = []

    def start(janus, **space):
        directory = Path(tempfile.mkdtemp(prefix="plaza-media-"))
        server = browser_support.PlazaProcess(binary, directory, bridge_settings(janus, **space))
        server.start()
        started.append((server, directory))
        return server

    yield start
    for server, directory in started:
        server.stop()
        if test_failed(request):
            print(f"--- plaza log ({directory / 'plaza.log'}):")
            print((directory / "plaza.log").read_text(errors="replace")[-4000:])
        shutil.rmtree(directory, ignore_errors=True)
