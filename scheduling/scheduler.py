"""APScheduler in the service process: the one timer for all periodic work. Jobs have fixed ids so re-adding
one replaces it.

Every job is a coroutine on the event loop that does its database work in a worker thread (Service.run), so
the loop never waits for the database. The default misfire_grace_time of 1 s would silently drop a run
missed by a busy loop, a held lock or a restart: every job here runs however late it is (None), coalesced
into one run. A job that fires while its previous run is still under way returns at once (`single`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import period, privacy, relay, shared_phone, staff
from bot.service import Service
from scheduling import jobs as schedules  # also registers the wake-up and meeting buttons and replies

log = logging.getLogger(__name__)


def single(service: Service, fn: Callable[[Service], object]):
    """A job running blocking `fn(service)` in a worker thread, one run at a time."""
    running = False

    @functools.wraps(fn)
    async def job() -> None:
        nonlocal running
        if running:
            return
        running = True
        try:
            await service.run(fn, service)
        except Exception as exc:
            log.error("job %s failed (%s)", fn.__name__, type(exc).__name__, exc_info=True)
        finally:
            running = False

    return job


# The message sweep's steps, as schedules.STEPS: asked in one read, written only where something is due.
MESSAGE_STEPS = (
    (relay.combined_due, relay.relay_combined),
    (staff.acute_repeats_due, staff.repeat_acute),
    (shared_phone.anything_held, shared_phone.release_unanswered),
    (staff.escalations_due, staff.escalate_due),
)


def due_messages(service: Service) -> None:
    """Send the combined relays, acute repeats, unanswered shared-number messages and escalations that are
    due, each whatever the others do (a failing combined relay must not hold up the escalations)."""
    failure = None
    for run in schedules.due_steps(service, MESSAGE_STEPS):
        try:
            run(service)
        except Exception as exc:
            log.error("%s failed (%s)", run.__name__, type(exc).__name__, exc_info=True)
            failure = failure or exc
    if failure is not None:
        raise failure


def build_scheduler(service: Service) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(
        timezone=service.settings.tz,
        job_defaults={"coalesce": True, "max_instances": 2, "misfire_grace_time": None},
    )
    # Combined relays, acute repeats and escalations that are due; the times live in the message table, so
    # restarts lose none.
    scheduler.add_job(single(service, due_messages), "interval", seconds=1, id="escalations",
                      replace_existing=True)
    # Message texts older than TETTPA_RETENTION are deleted; the contact-log facts stay.
    scheduler.add_job(single(service, privacy.purge_expired), "cron", hour=3, minute=30, id="retention",
                      replace_existing=True)
    # Workers coming back from hours or absences get their digest.
    scheduler.add_job(single(service, staff.sweep_availability), "interval", seconds=30, id="availability",
                      replace_existing=True)
    # Youths, parents and workers are told two weeks and two days before a follow-up period ends.
    scheduler.add_job(single(service, period.sweep), "interval", minutes=5, id="period_notices",
                      replace_existing=True)
    # Wake-ups and meetings: the sweep and the planning of the rows.
    schedules.install(scheduler, service)
    return scheduler
