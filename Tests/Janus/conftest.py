"""Fixtures of the Janus tests: real Janus servers (Debian's `janus` package) on free loopback ports, each in a
temporary folder with its own configuration (see janus_support.py).

- `janus`: one server shared by the whole session (stored-token authentication, the VideoRoom plugin); tests
  on it use their own tokens and rooms, so they do not see each other. On a failure the lines Janus logged
  during that test are printed.
- `janus_factory(name, **settings)`: starts a server of its own with these settings (`JanusServer`'s
  arguments) and returns it; all are stopped and removed at the end of the test. For crashes (`kill9()`),
  restarts, short session timeouts and several servers at once.
- `admin`: the shared server's Admin API.
- `token`: a fresh token on the shared server, allowed the VideoRoom plugin only, removed after the test.
- `connect(token=None)`: a WebSocket to the shared server's Janus API, closed after the test.
"""

import secrets
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
pytest.register_assert_rewrite("janus_support", "wire")

from janus_support import JanusError, JanusServer, JanusServers  # noqa: E402


from failure_reports import pytest_runtest_makereport, test_failed  # noqa: E402,F401


@pytest.fixture(scope="session")
def janus_server():
    server = JanusServer("shared").start()
    yield server
    server.cleanup()


@pytest.fixture
def janus(janus_server, request):
    log_start = len(janus_server.log())
    yield janus_server
    if test_failed(request):
        print(f"--- {janus_server.name} logged during the test ({janus_server.log_path}):")
        print(janus_server.log()[log_start:][-6000:])


@pytest.fixture
def janus_factory(request):
    servers = JanusServers()
    yield servers.start
    servers.finish(test_failed(request))


@pytest.fixture
def admin(janus):
    return janus.admin()


@pytest.fixture
def token(janus):
    value = secrets.token_urlsafe(24)
    janus.admin().add_token(value)
    yield value
    try:
        janus.admin().remove_token(value)
    except JanusError:
        pass  # the test removed it


@pytest.fixture
def connect(janus):
    opened = []

    def open_connection(token: str | None = None):
        connection = janus.connect(token=token)
        opened.append(connection)
        return connection

    yield open_connection
    for connection in opened:
        connection.close()
