"""What every Python test suite (Conformance, Browser, TLS, Deploy) needs to run Plaza and its peers: the `plaza`
executable, free loopback ports, and stopping a process by PID. Each suite's conftest puts this folder on
`sys.path`."""

import os
import signal
import socket
import subprocess
from pathlib import Path

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


def free_port(udp: bool = False) -> int:
    """A loopback TCP port nothing listens on; with `udp`, one free for UDP as well (a DNS server takes both)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            if not udp:
                return port
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as datagram:
                try:
                    datagram.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free loopback port")


def stop(process: subprocess.Popen | None, timeout: float = 15):
    """SIGTERM (a graceful stop), then SIGKILL if it has not exited within `timeout` seconds."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
