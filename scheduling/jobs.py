"""APScheduler jobs for wake-ups and meetings, rebuilt from the tables.

The tables say what is due; the jobs only say when to look:

- `wake:{plan_id}`: a cron job at the plan's local time on its days (Europe/Oslo, DST included).
- `remind:{meeting_id}:{offset_seconds}`: a date job at each reminder's time.
- `meetask:{meeting_id}`: a date job when the worker is asked how the meeting went.
- `schedules:sweep` (every second) does whatever is due, so a plan added by the CLI, a follow-up after
  the confirmation window, and anything missed while the service was down are done without a job of
  their own; `schedules:sync` (every few seconds) adds and removes the jobs above as the tables change.

Every job runs the same idempotent steps (`run_due_wakeups`, `run_due_reminders`, `ask_outcomes`), so
a job firing twice, late, or beside the sweep sends nothing twice. Missed runs: a wake-up job may still
run LATE_LIMIT (30 min) late, a reminder until its meeting begins; whether it is then sent late or
logged as missed is decided from the rows, never by APScheduler dropping a run.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, time
from time import monotonic

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import or_
from sqlmodel import select

from bot.service import Service
from bot.timespec import DAY_NAMES, parse_days, parse_time
from models.schedules import PENDING, SCHEDULED, Meeting, MeetingReminder, WakeupPlan
from scheduling import meetings, wakeups

log = logging.getLogger(__name__)

SWEEP_EVERY = 1  # seconds
SYNC_EVERY = 5  # seconds
WAKE_GRACE = int(wakeups.LATE_LIMIT.total_seconds())
PREFIXES = ("wake:", "remind:", "meetask:")
_running: set[int] = set()  # services with a drain under way
_asked: dict[int, float] = {}  # when a job last asked a running drain to look again (monotonic)


async def drain(service: Service) -> int:
    """Do everything due, in rounds, yielding to the event loop between rounds so incoming messages are
    handled during a burst. One drain at a time per service: a job that fires during one (a thousand wake-up
    jobs at 07:00) only asks it to look once more, and returns."""
    key = id(service)
    if key in _running:
        _asked[key] = monotonic()
        return 0
    _running.add(key)
    done = 0
    try:
        while True:
            began = monotonic()
            count = wakeups.run_due_wakeups(service) + meetings.run_due_reminders(service) \
                + meetings.ask_outcomes(service)
            done += count
            if count == 0 and _asked.get(key, 0.0) < began:
                return done
            await asyncio.sleep(0)
    finally:
        _running.discard(key)
        _asked.pop(key, None)


async def wake_job(service: Service, plan_id: int) -> None:
    await drain(service)


async def remind_job(service: Service, meeting_id: int, offset: int) -> None:
    await drain(service)


async def outcome_job(service: Service, meeting_id: int) -> None:
    await drain(service)


async def sweep_job(service: Service) -> None:
    try:
        await drain(service)
    except Exception:
        log.exception("schedules sweep failed")


async def sync_job(scheduler: BaseScheduler, service: Service) -> None:
    try:
        sync(scheduler, service)
    except Exception:
        log.exception("schedules sync failed")


def install(scheduler: BaseScheduler, service: Service) -> None:
    """The two standing jobs; `rebuild` at start adds the jobs of the rows."""
    scheduler.add_job(sweep_job, "interval", seconds=SWEEP_EVERY, args=[service], id="schedules:sweep",
                      replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=None)
    scheduler.add_job(sync_job, "interval", seconds=SYNC_EVERY, args=[scheduler, service], id="schedules:sync",
                      replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=None)


def rebuild(scheduler: BaseScheduler, service: Service) -> None:
    """At start: plan today's and tomorrow's wake-ups (and the days since the last run), then the jobs."""
    created = wakeups.plan_ahead(service)
    jobs = sync(scheduler, service, planned=True)
    log.info("schedules rebuilt: %d jobs, %d wake-ups planned", jobs, created)


def cron_trigger(plan: WakeupPlan, tz) -> CronTrigger:
    at = parse_time(plan.time_of_day)
    days = ",".join(DAY_NAMES[d] for d in sorted(parse_days(plan.days)))
    start = datetime.combine(plan.start_date, time(), tzinfo=tz) if plan.start_date else None
    end = datetime.combine(plan.end_date, time(23, 59, 59), tzinfo=tz) if plan.end_date else None
    return CronTrigger(day_of_week=days, hour=at.hour, minute=at.minute, second=at.second, start_date=start,
                       end_date=end, timezone=tz)


def wanted(service: Service) -> dict[str, tuple]:
    """The jobs the rows call for: id -> (func, make_trigger, args, misfire_grace_time); triggers are
    made only for jobs that are added, so a sync of thousands of unchanged plans stays cheap."""
    now, tz = service.now(), service.settings.tz
    today = now.astimezone(tz).date()
    jobs: dict[str, tuple] = {}
    with service.tx() as session:
        plans = session.exec(select(WakeupPlan).where(
            WakeupPlan.active.is_(True), or_(WakeupPlan.end_date.is_(None), WakeupPlan.end_date >= today),
        )).all()
        for plan in plans:
            jobs[f"wake:{plan.id}"] = (wake_job, lambda plan=plan: cron_trigger(plan, tz), [service, plan.id],
                                       WAKE_GRACE)
        reminders = session.exec(
            select(MeetingReminder, Meeting).join(Meeting, Meeting.id == MeetingReminder.meeting_id).where(
                MeetingReminder.status == PENDING, MeetingReminder.due_at > now, Meeting.status == SCHEDULED)
        ).all()
        for reminder, meeting in reminders:
            grace = max(1, int((meeting.at - reminder.due_at).total_seconds()))  # useful until the meeting
            jobs[f"remind:{meeting.id}:{reminder.offset_seconds}"] = (
                remind_job, lambda due=reminder.due_at: DateTrigger(due, timezone=tz),
                [service, meeting.id, reminder.offset_seconds], grace)
        asks = session.exec(select(Meeting).where(
            Meeting.status == SCHEDULED, Meeting.asked_at.is_(None), Meeting.ask_at > now)).all()
        for meeting in asks:
            jobs[f"meetask:{meeting.id}"] = (outcome_job, lambda at=meeting.ask_at: DateTrigger(at, timezone=tz),
                                             [service, meeting.id], None)
    return jobs


def sync(scheduler: BaseScheduler, service: Service, planned: bool = False) -> int:
    """Add the jobs the rows call for and remove those they no longer do; how many there are."""
    if not planned:
        wakeups.plan_ahead(service)  # a new day: tomorrow's rows
    want = wanted(service)
    have = {job.id for job in scheduler.get_jobs() if job.id.startswith(PREFIXES)}
    for job_id in have - set(want):
        scheduler.remove_job(job_id)
    for job_id in set(want) - have:
        func, make_trigger, args, grace = want[job_id]
        scheduler.add_job(func, make_trigger(), args=args, id=job_id, replace_existing=True, coalesce=True,
                          max_instances=1, misfire_grace_time=grace)
    return len(want)
