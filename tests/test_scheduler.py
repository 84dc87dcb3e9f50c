"""The APScheduler wiring: one timer, standing jobs only (the rows are the truth), none ever dropping a late
run; the sweep does the due work once, however often it runs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from scheduling import jobs, meetings, wakeups
from scheduling.scheduler import build_scheduler
from tests.conftest import eventually
from tests.fakes import deliver
from tests.personas import YOUTH_TG, cast

OSLO = ZoneInfo("Europe/Oslo")


def oslo(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=OSLO)


@pytest.fixture
async def scheduler(service):
    scheduler = build_scheduler(service)
    yield scheduler
    if scheduler.running:
        scheduler.shutdown(wait=False)


def add_plan(service, youth: int, **kw) -> int:
    with service.tx() as session:
        return wakeups.add_plan(session, service, youth_id=youth, **kw).id


async def test_it_has_no_jobs_per_row_only_standing_jobs_that_never_drop_a_late_run(service, scheduler):
    """The rows are the truth: plans and meetings made anywhere need no job of their own, and every
    periodic job runs however late it is (APScheduler's default grace of 1 s would drop it), coalesced."""
    c = cast(service)
    add_plan(service, c.youth, at="06:45", days="mon-fri", start=date(2027, 1, 2))
    with service.tx() as session:
        meetings.add_meeting(session, service, youth_id=c.youth, worker_id=c.primary,
                             at=oslo("2027-01-10T14:00"), place="Biblioteket", remind="24h,2h")
    jobs.rebuild(scheduler, service)
    scheduler.start(paused=True)
    assert {j.id for j in scheduler.get_jobs()} == {
        "schedules:sweep", "schedules:plan", "escalations", "availability", "retention", "period_notices"}
    for job in scheduler.get_jobs():
        assert job.misfire_grace_time is None and job.coalesce, job.id
    sweep = scheduler.get_job("schedules:sweep")
    assert sweep.trigger.interval.total_seconds() == 1
    assert str(scheduler.get_job("retention").trigger.timezone) == "Europe/Oslo"


async def test_it_sends_the_wakeup_at_its_oslo_time_once_however_often_the_sweep_runs(service, scheduler, clock):
    c = cast(service)
    add_plan(service, c.youth, at="06:45")
    jobs.rebuild(scheduler, service)
    scheduler.start(paused=True)
    sweep = scheduler.get_job("schedules:sweep")
    clock.at = oslo("2026-11-24T06:44:59").astimezone(UTC)
    await sweep.func(*sweep.args)
    assert not (await deliver(service)).to(YOUTH_TG)
    clock.at = oslo("2026-11-24T06:45").astimezone(UTC)
    await sweep.func(*sweep.args)
    await sweep.func(*sweep.args)
    assert len((await deliver(service)).to(YOUTH_TG)) == 1


async def test_it_plans_a_wakeup_made_elsewhere_after_start(service, scheduler, clock):
    """A plan added by the CLI (another process) after start: the planning job makes its rows."""
    c = cast(service)
    jobs.rebuild(scheduler, service)
    scheduler.start(paused=True)
    clock.at = oslo("2026-11-24T06:00").astimezone(UTC)
    add_plan(service, c.youth, at="06:45")
    plan = scheduler.get_job("schedules:plan")
    await plan.func(*plan.args)
    clock.at = oslo("2026-11-24T06:45:01").astimezone(UTC)
    sweep = scheduler.get_job("schedules:sweep")
    await sweep.func(*sweep.args)
    assert len((await deliver(service)).to(YOUTH_TG)) == 1


async def test_it_runs_its_jobs_on_the_running_event_loop(service, clock):
    """Not paused: the sweep job itself fires within a second and sends what is due."""
    c = cast(service)
    add_plan(service, c.youth, at="06:45")
    clock.at = oslo("2026-11-24T06:46").astimezone(UTC)
    scheduler = build_scheduler(service)
    jobs.rebuild(scheduler, service)
    scheduler.start()
    async def woken():
        return (await deliver(service)).to(YOUTH_TG)

    try:
        assert (await eventually(woken, "the sweep job's wake-up"))[0].text.startswith("God morgen")
    finally:
        scheduler.shutdown(wait=False)


def test_it_takes_no_write_lock_for_a_sweep_with_nothing_due(service, clock, database_url):
    """Every second two sweeps look for due work. With nothing due they only read: on SQLite, whose one
    writer a relay needs, an idle sweep never stands in its way (here a write would wait 0.5 s, then fail)."""
    from scheduling.scheduler import due_messages
    from tests.conftest import write_locked_elsewhere

    c = cast(service)
    add_plan(service, c.youth, at="06:45", days="daily")
    with write_locked_elsewhere(service) as impatient:
        clock.at = oslo("2026-11-24T06:00")  # the wake-up not yet due, nothing else either
        assert jobs.due_round(impatient) == 0
        due_messages(impatient)
        clock.at = oslo("2026-11-24T06:45")
        assert jobs.due_steps(impatient, jobs.STEPS) == [wakeups.run_due_wakeups]  # due now: this one writes
        assert jobs.due_steps(impatient, jobs.STEPS[:1]) == [wakeups.run_due_wakeups]  # one step alone too
    assert jobs.due_round(service) == 1  # and with the lock free, it is sent


async def test_it_sweeps_just_after_each_whole_second(service, scheduler):
    """Wake-ups fall due on whole seconds: the sweep runs 20 ms after each, whenever the service started."""
    scheduler.start(paused=True)
    for job_id in ("schedules:sweep", "schedules:plan"):
        job = scheduler.get_job(job_id)
        assert job.trigger.start_date.microsecond == jobs.SWEEP_OFFSET_MS * 1000, job_id
        assert job.next_run_time.microsecond == jobs.SWEEP_OFFSET_MS * 1000, job_id
