"""What the core needs from its surroundings, passed explicitly: settings, database, clock, wake-ups.

The event loop never waits on the database: async code does its database work with `await service.run(fn)`
(or `write`/`read`), which runs it in a worker thread. A read (`reading`, `read`) never takes SQLite's write
lock. While an inbound item is being handled (models.inbound.handling), the first write transaction that
commits also marks the item handled, so its effects and its "handled" mark are one unit.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

from bot.clock import Clock, system_now
from bot.settings import Settings
from models import inbound
from models.db import read_transaction, transaction

T = TypeVar("T")

# Worker threads for database work: writes may wait for another process's lock (up to the busy timeout), so
# reads have their own threads and are never queued behind them.
WRITE_THREADS = 12
READ_THREADS = 4


@dataclass
class Service:
    settings: Settings
    engine: Engine
    clock: Clock = system_now
    # Called after a transaction queued something to send, so the outbox sender wakes at once.
    kick_outbox: Callable[[], None] = field(default=lambda: None)
    _writers: ThreadPoolExecutor | None = field(default=None, init=False, repr=False, compare=False)
    _readers: ThreadPoolExecutor | None = field(default=None, init=False, repr=False, compare=False)

    @contextmanager
    def tx(self) -> Iterator[Session]:
        """A write transaction (SQLite: BEGIN IMMEDIATE). Blocking: from async code, use `run`."""
        handling = inbound.current_handling()
        if handling is None or handling.marked:
            with transaction(self.engine) as session:
                yield session
            return
        try:
            with transaction(self.engine) as session:
                yield session
                inbound.mark_handled(session, handling, now=self.now())
        except BaseException as exc:
            handling.failed(exc)
            raise
        handling.marked = True

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
        """`fn(session, *args)` in one write transaction, in a worker thread; the outbox is woken after it."""

        def work() -> T:
            with self.tx() as session:
                return fn(session, *args)

        try:
            return await self.run(work)
        finally:
            self.kick_outbox()  # after the commit: whatever it queued can be claimed now

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
