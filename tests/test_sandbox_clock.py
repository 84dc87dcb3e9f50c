"""The sandbox's clock: it starts at real now, an advance moves the service's own clock in steps and does
what falls due on the way, at the time it falls due (a jump to 06:45 sends the 06:30 wake-up at 06:30 and
tells the worker at 06:40, not both at 06:45), and a restart goes on from where the clock was moved to."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.office_hours import public_holiday_name
from bot.run.bootstrap import open_service
from bot.run.sandbox import MovableClock, Sandbox
from bot.settings import Settings
from models.schedules import Wakeup


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("TETTPA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TETTPA_DATABASE_URL", f"sqlite:///{tmp_path / 'sandbox.db'}")
    svc = open_service(Settings(_env_file=None))
    sb = Sandbox(svc)
    sb.seed()
    yield sb
    svc.engine.dispose()


def test_it_starts_at_real_now_and_moves_forward_only(sandbox):
    assert abs(sandbox.service.now() - datetime.now(UTC)) < timedelta(seconds=5)
    assert isinstance(sandbox.service.clock, MovableClock)
    before = sandbox.service.now()
    assert sandbox.advance(timedelta(minutes=15)) - before >= timedelta(minutes=15)
    for wrong in (timedelta(0), timedelta(minutes=-5), timedelta(days=3)):
        with pytest.raises(ValueError):
            sandbox.advance(wrong)


def test_it_does_what_falls_due_at_its_time_on_the_way(sandbox):
    svc = sandbox.service
    tz = svc.settings.tz
    now = svc.now().astimezone(tz)
    target = now.replace(hour=6, minute=45, second=0, microsecond=0)
    if target - now < timedelta(hours=1):  # today's 06:30 came (or comes) before the test could watch it
        target += timedelta(days=1)
    if public_holiday_name(target.date()):  # no wake-up on a public holiday, rightly
        pytest.skip(f"{target.date()} is a public holiday: no wake-up")
    sandbox.advance(target - now)
    with svc.reading() as session:
        wakeup = session.exec(select(Wakeup).where(Wakeup.sent_at.is_not(None)).order_by(Wakeup.due_at.desc())).first()
    assert wakeup is not None and wakeup.confirmed_at is None
    due = wakeup.due_at.replace(tzinfo=UTC)
    assert due.astimezone(tz).strftime("%H:%M") == "06:30"
    assert timedelta(0) <= wakeup.sent_at.replace(tzinfo=UTC) - due <= timedelta(minutes=2)
    assert wakeup.worker_told_at is not None
    told = wakeup.worker_told_at.replace(tzinfo=UTC) - due
    assert timedelta(minutes=9) <= told <= timedelta(minutes=12), told


def test_it_keeps_the_moved_clock_over_a_restart(sandbox):
    sandbox.advance(timedelta(hours=3))
    moved = sandbox.clock.offset
    again = Sandbox(open_service(Settings(_env_file=None)))
    again.seed()
    assert again.clock.offset == moved and again.login_shown
