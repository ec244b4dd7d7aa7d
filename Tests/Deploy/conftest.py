"""Fixtures of the deployment tests (test_deploy.py): the `plaza` executable.

The tests need Debian's `docker-compose` (1.29, the compose file's oldest reader; no Docker daemon), `systemd`
(systemd-analyze), `coturn` (turnserver, turnutils_uclient) and `openssl`.
"""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def plaza_binary() -> str:
    """The `plaza` executable: $PLAZA_BIN, or the debug build (built here if needed)."""
    if os.environ.get("PLAZA_BIN"):
        return os.environ["PLAZA_BIN"]
    subprocess.run(["swift", "build", "--product", "plaza"], cwd=ROOT, check=True)
    bin_dir = subprocess.run(
        ["swift", "build", "--show-bin-path"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    return str(Path(bin_dir) / "plaza")


@pytest.fixture(scope="session")
def binary() -> str:
    return str(Path(plaza_binary()).resolve())

