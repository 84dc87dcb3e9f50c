"""Running the service the way `tettpa serve` runs, against the Telegram stand-in over HTTP.

By default a Deployment runs in this test process: the real runtime (`bot.run.app.Runtime`, the app `serve`
builds) under uvicorn in a thread on 127.0.0.1, and `cli()` runs the real Typer commands with `CliRunner`,
with the deployment's environment and working directory. A new process costs seconds (imports, start-up);
this costs milliseconds. `Deployment(..., process=True)` is a real `tettpa serve` subprocess, for what only
a process can show: SIGKILL, SIGSTOP, two processes on one database, the command itself. Set
TETTPA_TEST_SUBPROCESS=1 to run every Deployment as a process (as the suite did before)."""

from __future__ import annotations

import contextlib
import faulthandler
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import traceback
from pathlib import Path

import httpx

from tests.conftest import TEST_DATA_KEY, wait_until

BIN = Path(sys.executable).parent
TETTPA = str(BIN / "tettpa")
ALL_AS_PROCESSES = os.environ.get("TETTPA_TEST_SUBPROCESS", "") not in ("", "0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bound_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it each response's body (written after its headers) waits ~40 ms for the client's
    # delayed ACK (Nagle). uvicorn's own sockets (`tettpa serve`) are made right.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@contextlib.contextmanager
def environment(env: dict[str, str]):
    """os.environ with exactly `env`'s TETTPA_* variables (as a process started with `env` would see them)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("TETTPA_")}
    for key in saved:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith("TETTPA_")})
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("TETTPA_")]:
            del os.environ[key]
        os.environ.update(saved)


class _NotTheTests(logging.Filter):
    """The service's log, not the test's: the stand-ins and the tests log in this process too."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(("standins", "tests"))


class _InProcess:
    """The service running in a thread of this process, shaped like the Popen the tests look at."""

    def __init__(self, workdir: Path, env: dict[str, str], port: int, log: Path, sock: socket.socket | None):
        from bot.run.app import Runtime, configure_logging, create_app
        from bot.run.bootstrap import open_service
        from bot.settings import Settings

        level = env.get("TETTPA_LOG_LEVEL", "INFO").upper()
        self.handler = logging.FileHandler(log, encoding="utf-8")
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.handler.setLevel(level)
        self.handler.addFilter(_NotTheTests())
        root = logging.getLogger()
        self.root_level = root.level
        root.setLevel(min(root.level or logging.WARNING, logging.getLevelName(level)))
        configure_logging(level)  # the noisy loggers (httpx logs URLs with the bot token) as `serve` sets them
        root.addHandler(self.handler)
        logging.getLogger("uvicorn").addHandler(self.handler)
        self.service = None
        try:
            with environment(env), contextlib.chdir(workdir):
                try:
                    settings = Settings(_env_file=workdir / ".env")
                except Exception as exc:  # what `tettpa serve` prints before it exits
                    raise AssertionError(f"tettpa serve exited: bad configuration: {exc}") from None
                self.service = open_service(settings)
            import uvicorn

            config = uvicorn.Config(
                create_app(Runtime(self.service)), access_log=False, log_level=level.lower(), lifespan="on",
                timeout_graceful_shutdown=3,
            )
            sock = sock or bound_socket(settings.http_host, port)
            sock.listen(128)
            self.server = uvicorn.Server(config)
            self.failure: BaseException | None = None
            self.thread = threading.Thread(target=self._run, args=(sock,), name=f"tettpa-serve:{port}", daemon=True)
            self.thread.start()
        except BaseException:
            self._detach()
            raise

    def _run(self, sock: socket.socket) -> None:
        try:
            self.server.run(sockets=[sock])
        except BaseException as exc:  # noqa: B036 - reported by poll() and the log, as a process would
            self.failure = exc
            logging.getLogger("bot.run.app").error("tettpa serve failed\n%s", traceback.format_exc())
        finally:
            sock.close()

    def poll(self) -> int | None:
        if self.thread.is_alive():
            return None
        return 1 if self.failure is not None or not self.server.started else 0

    def send_signal(self, sig: int) -> None:
        if sig not in (signal.SIGTERM, signal.SIGINT):
            raise AssertionError(f"signal {sig} needs a real process: Deployment(..., process=True)")
        self.server.should_exit = True

    def wait(self, timeout: float | None = None) -> int:
        self.thread.join(timeout)
        if self.thread.is_alive():
            # Where it hangs, for whoever reads serve.log: every thread's stack.
            with open(self.handler.baseFilename, "a") as fh:
                fh.write(f"tettpa serve did not stop within {timeout} s; the threads:\n")
                fh.flush()
                faulthandler.dump_traceback(file=fh, all_threads=True)
            self.server.force_exit = True
            self.thread.join(10)
        self._detach()
        return 0 if self.failure is None else 1

    def kill(self) -> None:
        self.server.should_exit = self.server.force_exit = True

    def _detach(self) -> None:
        if self.service is not None:
            self.service.engine.dispose()
            self.service = None
        root = logging.getLogger()
        root.removeHandler(self.handler)
        logging.getLogger("uvicorn").removeHandler(self.handler)
        root.setLevel(self.root_level)
        self.handler.close()


class Deployment:
    """One service with its own database, environment and log file: in this process, or with process=True
    a `tettpa serve` subprocess."""

    def __init__(self, workdir: Path, database_url: str, telegram=None, telegram_url: str | None = None,
                 *, process: bool = False, **settings: str):
        self.workdir = workdir
        self.in_process = not (process or ALL_AS_PROCESSES)
        # In this process the port stays bound from now on (no other test can take it before start()).
        self._socket = bound_socket() if self.in_process else None
        self.port = self._socket.getsockname()[1] if self._socket else free_port()
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
            "TETTPA_TELEGRAM_CHAT_GAP": "0s",  # the stand-in does not count Telegram's limits unless asked
        }
        if telegram is not None:
            self.env["TETTPA_TELEGRAM_TOKEN"] = telegram.token
            self.env["TETTPA_TELEGRAM_API_URL"] = telegram_url
        self.env.update({f"TETTPA_{k.upper()}": v for k, v in settings.items()})
        self.process: subprocess.Popen | _InProcess | None = None
        self.log = workdir / "serve.log"
        self.cli("db", "upgrade")  # as `make run` does: only `db upgrade` and `serve` migrate

    def cli(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        if self.in_process:
            result = run_cli(self.workdir, self.env, args, stdin)
        else:
            result = subprocess.run([TETTPA, *args], cwd=self.workdir, env=self.env, input=stdin,
                                    capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"tettpa {' '.join(args)} failed: {result.stderr}")
        return result

    def add(self, *args: str) -> dict:
        return json.loads(self.cli(*args, "--json").stdout)

    def start(self) -> Deployment:
        if self.in_process:
            sock, self._socket = self._socket, None
            if sock is not None and self.env.get("TETTPA_HTTP_HOST", "127.0.0.1") != "127.0.0.1":
                sock.close()
                sock = None
            try:
                self.process = _InProcess(self.workdir, self.env, self.port, self.log, sock)
            except BaseException:
                if sock is not None:
                    sock.close()
                raise
        else:
            self.process = subprocess.Popen([TETTPA, "serve"], cwd=self.workdir, env=self.env,
                                            stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        # A loaded 2-core CI machine can take a while to import and migrate.
        try:
            wait_until(self._answering, 90, "tettpa serve to answer /healthz", interval=0.05)
        except AssertionError:
            if self.process is None:
                raise  # it exited, and said so
            raise AssertionError(f"tettpa serve did not answer: {self.log.read_text()[-3000:]}") from None
        return self

    def _answering(self) -> bool:
        if self.process.poll() is not None:
            if self.in_process:
                self.process.wait()
            self.process = None
            raise AssertionError(f"tettpa serve exited: {self.log.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until everything stored so far is handled and the outbox has nothing pending: every send
        it caused is done and recorded, so what has not arrived will not. (At least 30 s before failing:
        a bound, not a measurement, on a loaded machine.)"""
        def settled() -> bool:
            health = httpx.get(f"{self.url}/healthz", timeout=2).json()
            return health.get("inbound_backlog") == 0 and health.get("outbox_backlog") == 0

        wait_until(settled, max(timeout, 30.0), "what came in all handled and the outbox empty", interval=0.05)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
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


def run_cli(workdir: Path, env: dict[str, str], args, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`tettpa *args` in this process (Typer's CliRunner), with `env`'s TETTPA_* variables and `workdir` as
    the working directory, answered as the process would: exit code, stdout, stderr (with the traceback of
    an exception the command let through, as Python prints one)."""
    from typer.testing import CliRunner

    from handlers.cli.main import app

    tettpa_env = {k: None for k in os.environ if k.startswith("TETTPA_")}
    tettpa_env.update({k: v for k, v in env.items() if k.startswith("TETTPA_")})
    with contextlib.chdir(workdir):
        result = CliRunner().invoke(app, list(args), input=stdin, env=tettpa_env, prog_name="tettpa")
    stderr, code = result.stderr, result.exit_code
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "Traceback (most recent call last):\n" + "".join(traceback.format_exception(result.exception))
        code = code or 1
    return subprocess.CompletedProcess(["tettpa", *args], code, result.stdout, stderr)
