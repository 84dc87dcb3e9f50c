"""What the core needs from its surroundings, passed explicitly: settings, database, clock, wake-ups.

The event loop never waits on the database: async code does its database work with `await service.run(fn)`
(or `write`/`read`), which runs it in a worker thread. A read (`reading`, `read`) never takes SQLite's write
lock. While an inbound item is being handled (models.inbound.handling), the first write transaction that
commits also marks the item handled, so its effects and its "handled" mark are one unit.

With a sender running (`taker`), a write transaction that queued sends claims them for it before it commits
(models.outbox.claim_queued) and hands them over after the commit, so a relay is sent without the sender
asking the database again; sends it could not claim (their address has one under way) wake the sender.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

from bot.clock import Clock, system_now
from bot.settings import Settings
from models import inbound
from models import outbox as outbox_rows
from models.db import read_transaction, transaction

T = TypeVar("T")

# Worker threads for database work: writes may wait for another process's lock (up to the busy timeout), so
# reads have their own threads and are never queued behind them.
WRITE_THREADS = 12
READ_THREADS = 4


class Taker(Protocol):
    """The running outbox sender, as a write transaction sees it (bot.out.outbox.Sender)."""

    holder: str

    def lease_until(self, now) -> Any: ...

    def hand(self, rows: list) -> None:
        """Rows claimed for it, after their commit (called from the worker thread)."""


@dataclass
class Service:
    settings: Settings
    engine: Engine
    clock: Clock = system_now
    # The outbox sender's wake-up (thread-safe): it looks in the database for what is due.
    wake_outbox: Callable[[], None] = field(default=lambda: None)
    # The running sender, if any: sends a write transaction queues are claimed for it (see the module's doc).
    taker: Taker | None = None
    _local: threading.local = field(default_factory=threading.local, init=False, repr=False, compare=False)
    _writers: ThreadPoolExecutor | None = field(default=None, init=False, repr=False, compare=False)
    _readers: ThreadPoolExecutor | None = field(default=None, init=False, repr=False, compare=False)

    @contextmanager
    def tx(self) -> Iterator[Session]:
        """A write transaction (SQLite: BEGIN IMMEDIATE). Blocking: from async code, use `run`."""
        handling = inbound.current_handling()
        mark = handling is not None and not handling.marked
        outer, mine = getattr(self._local, "tx", None), {"kick": False}
        self._local.tx = mine  # kick_outbox inside waits for the commit
        try:
            with transaction(self.engine) as session:
                yield session
                if mark:
                    inbound.mark_handled(session, handling, now=self.now())
                taker, claimed, queued = self._claim_queued(session)
        except BaseException as exc:
            if mark:
                handling.failed(exc)
            raise
        finally:
            self._local.tx = outer
        if mark:
            handling.marked = True
        if claimed:
            taker.hand(claimed)  # the sender they were claimed for (one that is stopping releases them)
        if queued or (mine["kick"] and not claimed):
            self.kick_outbox()

    def _claim_queued(self, session: Session) -> tuple[Taker | None, list, bool]:
        """The sends this transaction queued: the sender they are claimed for, those claimed, and whether any
        are left for it to find."""
        taker = self.taker  # read once: Runtime.stop may unset it meanwhile
        if taker is None:
            return None, [], bool(outbox_rows.queued_in(session))
        now = self.now()
        claimed, left = outbox_rows.claim_queued(session, now=now, holder=taker.holder,
                                                 lease_until=taker.lease_until(now))
        return taker, claimed, left

    def kick_outbox(self) -> None:
        """Wake the sender: at once, or after the commit of the write transaction this thread is in."""
        pending = getattr(self._local, "tx", None)
        if pending is not None:
            pending["kick"] = True
            return
        self.wake_outbox()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read transaction: never takes SQLite's write lock, commits nothing."""
        with read_transaction(self.engine) as session:
            yield session

    def now(self):
        return self.clock()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker thread (with this task's context): blocking database work off the loop."""
        if self._writers is None:
            self._writers = ThreadPoolExecutor(WRITE_THREADS, thread_name_prefix="tettpa-db")
        return await self._in_thread(self._writers, fn, *args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(session, *args)` in one write transaction, in a worker thread."""

        def work() -> T:
            with self.tx() as session:
                return fn(session, *args)

        return await self.run(work)  # what it queued was claimed or the sender woken (tx)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(session, *args)` in one read transaction, in a worker thread of its own pool."""
        if self._readers is None:
            self._readers = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="tettpa-read")

        def work() -> T:
            with self.reading() as session:
                return fn(session, *args)

        return await self._in_thread(self._readers, work)

    @staticmethod
    async def _in_thread(pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(pool, functools.partial(context.run, fn, *args))
