"""The APScheduler wiring: after a rebuild the jobs of the wake-up and meeting rows exist with their ids,
next run times in Europe/Oslo and misfire settings; sync follows the tables; a job does the due work."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from models.people import Person
from scheduling import jobs, meetings, wakeups
from scheduling.scheduler import build_scheduler
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


async def test_it_rebuilds_wakeup_jobs_at_their_oslo_time_with_a_half_hour_grace(service, scheduler):
    c = cast(service)
    winter = add_plan(service, c.youth, at="06:45", days="mon-fri", start=date(2027, 1, 2))
    summer = add_plan(service, c.youth, at="07:10:30", days="sat", start=date(2027, 6, 1), end=date(2027, 6, 30))
    jobs.rebuild(scheduler, service)
    scheduler.start(paused=True)
    first, second = scheduler.get_job(f"wake:{winter}"), scheduler.get_job(f"wake:{summer}")
    assert first.next_run_time == oslo("2027-01-04T06:45")  # the first weekday from the 2nd
    assert first.next_run_time.utcoffset().total_seconds() == 3600
    assert second.next_run_time == oslo("2027-06-05T07:10:30")
    assert second.next_run_time.utcoffset().total_seconds() == 7200
    assert str(first.trigger.timezone) == "Europe/Oslo"
    assert first.misfire_grace_time == 30 * 60 and first.coalesce and first.max_instances == 1
    assert first.func is jobs.wake_job and first.args[1] == winter
    standing = scheduler.get_job("schedules:sweep")
    assert standing.misfire_grace_time is None and standing.trigger.interval.total_seconds() == 1


async def test_it_rebuilds_reminder_jobs_valid_until_the_meeting(service, scheduler):
    c = cast(service)
    with service.tx() as session:
        mid = meetings.add_meeting(session, service, youth_id=c.youth, worker_id=c.primary,
                                   at=oslo("2027-01-10T14:00"), place="Biblioteket", remind="24h,2h").id
    jobs.rebuild(scheduler, service)
    scheduler.start(paused=True)
    day_before, two_hours = scheduler.get_job(f"remind:{mid}:86400"), scheduler.get_job(f"remind:{mid}:7200")
    assert day_before.next_run_time == oslo("2027-01-09T14:00")
    assert two_hours.next_run_time == oslo("2027-01-10T12:00")
    assert day_before.misfire_grace_time == 24 * 3600 and two_hours.misfire_grace_time == 2 * 3600
    assert scheduler.get_job(f"meetask:{mid}").next_run_time == oslo("2027-01-10T15:00")


async def test_it_syncs_jobs_with_plans_and_meetings_made_or_stopped_after_start(service, scheduler):
    c = cast(service)
    jobs.rebuild(scheduler, service)
    scheduler.start(paused=True)
    assert [j.id for j in scheduler.get_jobs() if j.id.startswith(jobs.PREFIXES)] == []
    plan_id = add_plan(service, c.youth, at="06:45")  # e.g. by the CLI, in another process
    with service.tx() as session:
        mid = meetings.add_meeting(session, service, youth_id=c.youth, worker_id=c.primary,
                                   at=oslo("2027-01-10T14:00"), place="Biblioteket", remind="2h").id
    await jobs.sync_job(scheduler, service)
    assert {j.id for j in scheduler.get_jobs() if j.id.startswith(jobs.PREFIXES)} == {
        f"wake:{plan_id}", f"remind:{mid}:7200", f"meetask:{mid}"}
    with service.tx() as session:
        wakeups.stop_plan(session, service, plan_id=plan_id)
        meetings.cancel_meeting(session, service, meeting_id=mid, by=session.get(Person, c.primary))
    await jobs.sync_job(scheduler, service)
    assert [j.id for j in scheduler.get_jobs() if j.id.startswith(jobs.PREFIXES)] == []


async def test_it_sends_the_wakeup_when_its_job_runs_and_not_again_from_the_sweep(service, scheduler, clock):
    c = cast(service)
    plan_id = add_plan(service, c.youth, at="06:45")
    jobs.rebuild(scheduler, service)
    scheduler.start(paused=True)
    clock.at = oslo("2026-11-24T06:45").astimezone(UTC)
    job = scheduler.get_job(f"wake:{plan_id}")
    await job.func(*job.args)
    sweep = scheduler.get_job("schedules:sweep")
    await sweep.func(*sweep.args)
    await job.func(*job.args)
    assert len((await deliver(service)).to(YOUTH_TG)) == 1


async def test_it_runs_its_jobs_on_the_running_event_loop(service, clock):
    """Not paused: the sweep job itself fires within a second and sends what is due."""
    import asyncio

    c = cast(service)
    add_plan(service, c.youth, at="06:45")
    clock.at = oslo("2026-11-24T06:46").astimezone(UTC)
    scheduler = build_scheduler(service)
    jobs.rebuild(scheduler, service)
    scheduler.start()
    try:
        for _ in range(40):
            await asyncio.sleep(0.05)
            sent = await deliver(service)
            if sent.to(YOUTH_TG):
                break
        assert sent.to(YOUTH_TG)[0].text.startswith("God morgen")
    finally:
        scheduler.shutdown(wait=False)
