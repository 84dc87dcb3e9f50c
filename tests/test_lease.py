"""One scheduler per database: the lease goes to one process, and to another when the holder dies."""

from __future__ import annotations

from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduling.lease import SchedulerLease


def _lease(service):
    scheduler = AsyncIOScheduler(timezone="Europe/Oslo")
    scheduler.start(paused=True)
    return SchedulerLease(service, scheduler), scheduler


async def test_it_gives_the_scheduler_to_one_process_only(service):
    first, first_scheduler = _lease(service)
    second, second_scheduler = _lease(service)
    assert first.tick() is True and second.tick() is False
    assert first.tick() is True  # renewal
    assert first_scheduler.state == 1 and second_scheduler.state == 2  # running / paused
    first_scheduler.shutdown(wait=False)
    second_scheduler.shutdown(wait=False)


async def test_it_hands_the_scheduler_over_when_the_holder_stops_renewing(service, clock):
    first, s1 = _lease(service)
    second, s2 = _lease(service)
    first.holder = "elsewhere:1:abc"  # a process on another host that has died
    assert first.tick() and not second.tick()
    clock.advance(timedelta(seconds=29))
    assert not second.tick()
    clock.advance(timedelta(seconds=2))
    assert second.tick() and s2.state == 1
    assert not first.tick() and s1.state == 2  # the old holder, if it wakes up, stands down
    s1.shutdown(wait=False)
    s2.shutdown(wait=False)


async def test_it_takes_over_at_once_from_a_dead_process_on_the_same_host(service):
    from bot.holder import _machine
    first, s1 = _lease(service)
    first.holder = f"{_machine()}:999999999:dead"  # no process has that pid
    assert first.tick()
    second, s2 = _lease(service)
    assert second.tick()
    s1.shutdown(wait=False)
    s2.shutdown(wait=False)
