"""Exactly one process runs the scheduler: the one holding the database lease.

APScheduler 3 must never have two schedulers working one set of jobs, so every process starts its
scheduler paused and only the lease holder resumes it. The holder renews every RENEW; if it dies, the
lease runs out after TTL and another process takes over, well within a minute.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.holder import dead_here, make_holder
from bot.service import Service
from models import lease

log = logging.getLogger(__name__)

NAME = "scheduler"
TTL = timedelta(seconds=30)
RENEW = 10.0  # seconds


class SchedulerLease:
    def __init__(self, service: Service, scheduler: AsyncIOScheduler, on_acquire: Callable[[], None] = lambda: None,
                 ttl: timedelta = TTL, renew: float = RENEW):
        self.service = service
        self.scheduler = scheduler
        self.on_acquire = on_acquire
        self.ttl = ttl
        self.renew = renew
        # machine:pid:nonce, so a restarted process on the same machine can see that the old holder is dead.
        self.holder = make_holder()
        self.held = False

    def tick(self) -> bool:
        """Take or renew the lease once; resume or pause the scheduler to match. Blocking (see run)."""
        return self._apply(self._check())

    def _check(self) -> bool:
        """The database part of a tick: is the lease ours now? (Any failure: not, for safety.)"""
        try:
            with self.service.tx() as session:
                held = lease.acquire(session, name=NAME, holder=self.holder, now=self.service.now(), ttl=self.ttl)
                if not held:
                    current = session.get(lease.Lease, NAME)
                    if current is not None and dead_here(current.holder, self.holder):
                        # A holder killed on this very host needs no TTL to be declared dead.
                        current.expires_at = self.service.now() - timedelta(seconds=1)
                        session.flush()
                        held = lease.acquire(session, name=NAME, holder=self.holder, now=self.service.now(),
                                             ttl=self.ttl)
        except Exception as exc:
            log.warning("scheduler lease check failed (%s)", type(exc).__name__)
            held = False
        return held

    def _apply(self, held: bool) -> bool:
        if held and not self.held:
            log.info("scheduler lease taken by %s", self.holder)
            self.on_acquire()
            self.scheduler.resume()
        elif not held and self.held:
            log.warning("scheduler lease lost by %s", self.holder)
            self.scheduler.pause()
        self.held = held
        return held

    async def run(self) -> None:
        """Every RENEW: the database work in a worker thread, pausing or resuming on the loop. (The lease is
        what decides whether this process's scheduler runs at all, so it cannot be one of its jobs.)"""
        while True:
            self._apply(await self.service.run(self._check))
            await asyncio.sleep(self.renew)

    def release(self) -> None:
        if self.held:
            with self.service.tx() as session:
                lease.release(session, name=NAME, holder=self.holder)
            self.held = False

