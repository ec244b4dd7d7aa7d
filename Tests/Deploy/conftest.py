"""Fixtures of the deployment tests (test_deploy.py): the `plaza` executable.

The tests need Debian's `docker-compose` (1.29, the compose file's oldest reader; no Docker daemon), `systemd`
(systemd-analyze), `coturn` (turnserver, turnutils_uclient) and `openssl`.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Support"))
from plaza_processes import plaza_binary  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def binary() -> str:
    return str(Path(plaza_binary()).resolve())

