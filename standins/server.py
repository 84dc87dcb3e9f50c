"""Serve any ASGI app with uvicorn in a daemon thread, for tests and local tools.

    with BackgroundServer(app) as server:
        httpx.get(f"{server.url}/health")

The socket is bound here (port 0 = a free port chosen by the OS) and handed to uvicorn, so
there is no race between "find a free port" and "bind it".
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn


class BackgroundServer:
    """Runs ``app`` on ``host`` in its own thread and event loop until :meth:`stop`."""

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        startup_timeout: float = 10.0,
        graceful_shutdown: float = 1.0,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.log_level = log_level
        self.startup_timeout = startup_timeout
        # Long-polling clients (getUpdates with a timeout) keep a request open; without a bound
        # uvicorn would wait for them to finish before it lets the thread end.
        self.graceful_shutdown = graceful_shutdown
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("BackgroundServer is not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> BackgroundServer:
        if self._server is not None:
            raise RuntimeError("BackgroundServer is already started")
        # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
        # without it each response's body (written after its headers) waits ~40 ms for the client's
        # delayed ACK (Nagle). uvicorn's own sockets (`tettpa serve`) are made right.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)
        self.port = sock.getsockname()[1]

        config = uvicorn.Config(
            self.app,
            log_level=self.log_level,
            timeout_graceful_shutdown=self.graceful_shutdown,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"BackgroundServer:{self.port}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()

        deadline = time.monotonic() + self.startup_timeout
        while not server.started:
            if not thread.is_alive():
                self._server = self._thread = None
                sock.close()
                raise RuntimeError("the ASGI server thread ended during startup (see the log above)")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the ASGI server did not start within {self.startup_timeout}s")
            time.sleep(0.01)
        # `started` is set once the listening socket is registered; make sure it really accepts.
        with socket.create_connection((self.host, self.port), timeout=self.startup_timeout):
            pass
        return self

    def stop(self, timeout: float = 10.0) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)
        self._server = self._thread = None

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
