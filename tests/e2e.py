"""Running the service the way `tettpa serve` runs, against the Telegram stand-in over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import TEST_DATA_KEY

BIN = Path(sys.executable).parent
TETTPA = str(BIN / "tettpa")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Deployment:
    """One service process with its own database, environment and log file."""

    def __init__(self, workdir: Path, database_url: str, telegram=None, telegram_url: str | None = None,
                 **settings: str):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.telegram = telegram
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TETTPA_")},
            "TETTPA_DATABASE_URL": database_url,
            "TETTPA_HTTP_PORT": str(self.port),
            "TETTPA_PUBLIC_URL": self.url,
            "TETTPA_SECRET_KEY": "e2e-secret-key-not-a-placeholder",
            "TETTPA_DATA_KEY": TEST_DATA_KEY,
            "TETTPA_LOG_LEVEL": "INFO",
        }
        if telegram is not None:
            self.env["TETTPA_TELEGRAM_TOKEN"] = telegram.token
            self.env["TETTPA_TELEGRAM_API_URL"] = telegram_url
        self.env.update({f"TETTPA_{k.upper()}": v for k, v in settings.items()})
        self.process: subprocess.Popen | None = None
        self.log = workdir / "serve.log"
        self.cli("db", "upgrade")  # as `make run` does: only `db upgrade` and `serve` migrate

    def cli(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([TETTPA, *args], cwd=self.workdir, env=self.env, input=stdin,
                                capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"tettpa {' '.join(args)} failed: {result.stderr}")
        return result

    def add(self, *args: str) -> dict:
        return json.loads(self.cli(*args, "--json").stdout)

    def start(self) -> Deployment:
        self.process = subprocess.Popen([TETTPA, "serve"], cwd=self.workdir, env=self.env,
                                        stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90  # a loaded 2-core CI machine can take a while to import and migrate
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"tettpa serve exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"tettpa serve did not answer: {self.log.read_text()[-3000:]}")

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the outbox has nothing pending: every send so far is done and recorded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if httpx.get(f"{self.url}/healthz", timeout=2).json().get("outbox_backlog") == 0:
                return
            time.sleep(0.05)
        raise AssertionError("the outbox did not empty")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process is None:
            return 0
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)
