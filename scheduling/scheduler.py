"""APScheduler in the service process. Jobs have fixed ids so re-adding one replaces it.

The default misfire_grace_time of 1 s would silently drop a run missed by a busy loop or a restart;
every job here says how late it may still run.
"""

from __future__ import annotations

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import period, privacy, staff
from bot.service import Service
from scheduling import jobs as schedules  # also registers the wake-up and meeting buttons and replies


def build_scheduler(service: Service) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(
        timezone=service.settings.tz,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )

    # Coroutines run on the event loop, so the core never touches asyncio objects from a thread.
    async def escalations() -> None:
        """Send escalations that are due; the times live in the message table, so restarts lose none."""
        staff.escalate_due(service)

    async def availability() -> None:
        """Notice workers coming back from hours or absences and send their digest."""
        staff.sweep_availability(service)

    async def period_notices() -> None:
        """Tell youths, parents and workers two weeks and two days before a follow-up period ends."""
        period.sweep(service)

    async def retention() -> None:
        """Delete message texts older than TETTPA_RETENTION; the contact-log facts stay."""
        privacy.purge_expired(service)

    scheduler.add_job(escalations, "interval", seconds=1, id="escalations", replace_existing=True)
    scheduler.add_job(retention, "cron", hour=3, minute=30, id="retention", replace_existing=True,
                      misfire_grace_time=None)
    scheduler.add_job(availability, "interval", seconds=30, id="availability", replace_existing=True)
    scheduler.add_job(period_notices, "interval", minutes=5, id="period_notices", replace_existing=True)
    # Wake-ups and meetings: a sweep and a sync here; the jobs of the rows come from rebuild() at start.
    schedules.install(scheduler, service)
    return scheduler
