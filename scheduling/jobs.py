"""Wake-ups and meetings in the scheduler: the rows are the truth, APScheduler is the one timer.

There are no jobs per plan, reminder or meeting. Two standing jobs look at the tables:

- `schedules:sweep` (every SWEEP_EVERY, 1 s) does whatever is due: wake-ups at their local time (Europe/Oslo,
  DST included, as the rows were planned), follow-ups after the confirmation window, reminders, the
  question after a meeting, and anything missed while the service was down. A wake-up is therefore sent
  within a second of its time, whether its plan was made here, by the CLI or by another process.
- `schedules:plan` (every PLAN_EVERY, 1 min) makes today's and tomorrow's wake-up rows (a new day, a plan
  made elsewhere); `rebuild` does it once at start.

Both run their database work in a worker thread (Service.run), so the event loop never waits for it, and
both say `misfire_grace_time=None` and `coalesce=True`: a run missed by a busy loop or a held lock is done
once as soon as possible, never dropped (APScheduler's default grace of 1 s would drop it). Whether a late
wake-up is still sent or logged as missed is decided from the rows (wakeups.LATE_LIMIT), never by APScheduler.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from time import monotonic

from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import bindparam, exists
from sqlmodel import select

from bot.service import Service
from models.db import prepared
from models.types import UTCDateTime
from scheduling import activities, meetings, wakeups

log = logging.getLogger(__name__)

SWEEP_EVERY = 1  # seconds
SWEEP_OFFSET_MS = 20  # after each whole second: the timer's own lateness is a few milliseconds
PLAN_EVERY = 60  # seconds
_running: set[int] = set()  # services with a drain under way
_asked: dict[int, float] = {}  # when a run last asked a running drain to look again (monotonic)


# Each step of a round: what it would take (a query), and doing it (a write). All the queries are asked in
# one statement in one read (`SELECT EXISTS(...), EXISTS(...), ...`), and only the steps that find
# something write. A second's sweep with nothing due then takes no write lock: on SQLite, with its one
# writer, an idle sweep would otherwise stand in a relay's way every second, and cost CPU at a county's size.
STEPS = (
    (wakeups.anything_due, wakeups.run_due_wakeups),
    (meetings.reminders_due, meetings.run_due_reminders),
    (meetings.outcomes_due, meetings.ask_outcomes),
    (activities.anything_due, activities.run_due),
)


@prepared
def _due_statement(steps):
    """The one statement of `steps`, built once with the time as a parameter: building it on every look took
    0.8 ms of CPU, SQLite answering it 0.02 ms (a county's database), and it is asked every second."""
    now = bindparam("now", type_=UTCDateTime())
    return select(*(exists(query(now)) for query, _ in steps))


def due_steps(service: Service, steps) -> list:
    """The steps among `steps` that have something to do now, asked in one statement in one read."""
    now = service.now()
    with service.reading() as session:
        found = session.execute(_due_statement(steps), {"now": now}).one()  # a row, even of one
    return [run for (_, run), due in zip(steps, found, strict=True) if due]


def due_round(service: Service) -> int:
    """One round of everything due (blocking: database work)."""
    return sum(run(service) for run in due_steps(service, STEPS))


async def drain(service: Service) -> int:
    """Do everything due, in rounds, each in a worker thread. One drain at a time per service: a run that
    comes during one (the next sweep while a burst is sent, or while the database is locked) only asks it to
    look once more, and returns at once."""
    key = id(service)
    if key in _running:
        _asked[key] = monotonic()
        return 0
    _running.add(key)
    done = 0
    try:
        while True:
            began = monotonic()
            count = await service.run(due_round, service)
            done += count
            if count == 0 and _asked.get(key, 0.0) < began:
                return done
    finally:
        _running.discard(key)
        _asked.pop(key, None)


async def sweep_job(service: Service) -> None:
    try:
        await drain(service)
    except Exception as exc:
        log.error("schedules sweep failed (%s)", type(exc).__name__, exc_info=True)


async def plan_job(service: Service) -> None:
    try:
        await service.run(wakeups.plan_ahead, service)
    except Exception as exc:
        log.error("planning wake-ups failed (%s)", type(exc).__name__, exc_info=True)


def install(scheduler: BaseScheduler, service: Service) -> None:
    """The two standing jobs; `rebuild` at start plans the wake-up rows once."""
    # Wake-ups fall due on whole seconds (06:45:00): the sweep runs just after each one, not at whatever
    # fraction of a second the service happened to start, which would make every wake-up up to a second late.
    now = datetime.now(UTC)
    first = now.replace(microsecond=0) + timedelta(seconds=1, milliseconds=SWEEP_OFFSET_MS)
    for job_id, func, every in (("schedules:sweep", sweep_job, SWEEP_EVERY), ("schedules:plan", plan_job, PLAN_EVERY)):
        # max_instances=2: a run during a long one returns at once (see drain) instead of being logged as skipped.
        scheduler.add_job(func, "interval", seconds=every, args=[service], id=job_id, replace_existing=True,
                          coalesce=True, max_instances=2, misfire_grace_time=None, start_date=first)


def rebuild(scheduler: BaseScheduler, service: Service) -> None:
    """At start: plan today's and tomorrow's wake-ups (and the days since the last run). Blocking."""
    created = wakeups.plan_ahead(service)
    log.info("wake-ups planned at start: %d", created)
