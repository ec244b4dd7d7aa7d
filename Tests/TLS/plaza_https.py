"""A `plaza serve` with HTTPS on loopback, for the TLS tests: its own data directory and configuration file,
started and stopped by PID, ready once its plain-HTTP listener (`tls.httpPort`) answers `/healthz`."""

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Tests" / "Conformance"))
sys.path.insert(0, str(ROOT / "Tests" / "Support"))

import wire  # noqa: E402  (the raw WebSocket client of the conformance suite)
from plaza_processes import plaza_binary, stop  # noqa: E402


class PlazaHTTPS:
    def __init__(self, directory: Path, https_port: int, http_port: int, settings: dict):
        self.directory = directory
        self.https_port, self.http_port = https_port, http_port
        settings = json.loads(json.dumps(settings))
        settings.setdefault("tls", {})["httpPort"] = http_port
        self.config = directory / "plaza.json"
        self.config.write_text(json.dumps(settings))
        self.log_path = directory / "plaza.log"
        self.process: subprocess.Popen | None = None

    def start(self, wait: bool = True) -> "PlazaHTTPS":
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [plaza_binary(), "serve", "--port", str(self.https_port), "--data-dir", str(self.directory / "data"),
             "--config", str(self.config)], stdout=log, stderr=log)
        if wait:
            deadline = time.monotonic() + 30
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"plaza exited with {self.process.returncode}:\n{self.log()}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1) as answer:
                        if answer.status == 200:
                            return self
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"plaza did not start within 30 s:\n{self.log()}")
                time.sleep(0.1)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float = 60, after: int = 0) -> str:
        """Waits until a log line written past the first `after` characters contains `text`; returns that line."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log()[after:].splitlines():
                if text in line:
                    return line
            time.sleep(0.2)
        raise TimeoutError(f"no log line with {text!r} within {timeout} s:\n{self.log()[-4000:]}")

    def hangup(self):
        self.process.send_signal(signal.SIGHUP)

    def stop(self):
        stop(self.process)
