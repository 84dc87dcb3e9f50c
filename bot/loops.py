"""Supervision of the process's background loops, and the event loop's own lag.

Every background loop (the outbox sender, the intake, the scheduler lease, Telegram) runs under a
`Supervised`: if it raises, the error's kind is logged, it is started again after a back-off (1, 2, 4 … s, at
most MAX_BACKOFF), and its state is what /healthz shows. A loop that ends on its own (Telegram after it set
the webhook) is "done"; only stopping the process cancels one.

`LoopLag` measures how late the event loop wakes a sleeping task: the time the loop was held by something
synchronous (database work that should be in a thread, a PDF rendered on the loop). /metrics shows the worst
lag of the last WINDOW as tettpa_event_loop_lag_seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from time import monotonic

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0  # seconds
STEADY = 60.0  # a loop that ran this long before it failed starts again after the shortest back-off


class Supervised:
    def __init__(self, name: str, run: Callable[[], Awaitable[None]], *, backoff: float = 1.0,
                 max_backoff: float = MAX_BACKOFF):
        self.name = name
        self._run = run
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.state = "starting"
        self.restarts = 0
        self.last_error: str | None = None

    async def run(self) -> None:
        delay = self.backoff
        while True:
            began = monotonic()
            self.state = "running"
            try:
                await self._run()
            except asyncio.CancelledError:
                self.state = "stopped"
                raise
            except Exception as exc:
                if monotonic() - began >= STEADY:
                    delay = self.backoff
                self.restarts += 1
                self.last_error = type(exc).__name__
                self.state = f"restarting ({self.last_error})"
                # The kind of error and where; never its message, which may carry a text or a number.
                log.error("%s loop failed (%s); starting it again in %.0f s", self.name, self.last_error, delay,
                          exc_info=log.isEnabledFor(logging.DEBUG))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
                continue
            self.state = "done"
            return

    def status(self) -> dict:
        return {"state": self.state, "restarts": self.restarts}


class LoopLag:
    """How late a task that sleeps EVERY seconds is woken, the worst of the last WINDOW seconds."""

    EVERY = 0.1
    WINDOW = 10.0

    def __init__(self, every: float = EVERY, window: float = WINDOW):
        self.every = every
        self.window = window
        self.samples: deque[tuple[float, float]] = deque()  # (when, lag)
        self.worst_ever = 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + self.every
            await asyncio.sleep(self.every)
            self.record(max(0.0, loop.time() - expected), loop.time())

    def record(self, lag: float, now: float) -> None:
        self.samples.append((now, lag))
        self.worst_ever = max(self.worst_ever, lag)
        while self.samples and self.samples[0][0] < now - self.window:
            self.samples.popleft()

    def worst(self) -> float:
        """The worst lag of the last window (seconds); what is happening now shows within EVERY."""
        return max((lag for _, lag in self.samples), default=0.0)
