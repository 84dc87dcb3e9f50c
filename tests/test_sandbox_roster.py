"""A database an older sandbox seeded (Kari, Per, Ola and Lise only) gets the rest of today's demo roster
once on the next start: the earlier people and what they wrote stay, nobody is there twice, and the old
07:00 school-day wake-up gives way to the demo's 06:30 one."""

from __future__ import annotations

import os

import pytest
from sqlmodel import select

from bot import roster
from bot.run.bootstrap import open_service
from bot.run.sandbox import Sandbox, refusal
from bot.settings import Settings
from models import kv
from models.people import Person
from models.schedules import WakeupPlan
from scheduling.wakeups import add_plan


@pytest.fixture
def svc(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("TETTPA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TETTPA_DATABASE_URL", f"sqlite:///{tmp_path / 'sandbox.db'}")
    service = open_service(Settings(_env_file=None))
    yield service
    service.engine.dispose()


def _older_sandbox(svc) -> int:
    """What the sandbox of before seeded: four people on Telegram users 7001, 7002, 7101, 7201."""
    kw = {"now": svc.now(), "secret_key": svc.settings.secret_key}
    with svc.tx() as session:
        kari = roster.add_worker(session, name="Kari Nordmann", email="kari@example.org", **kw).person
        per = roster.add_worker(session, name="Per Hansen", email="per@example.org", **kw).person
        ola = roster.add_youth(session, name="Ola Berg", primary=kari.id, secondary=per.id, **kw).person
        lise = roster.add_parent(session, youth=ola.id, name="Lise Berg", **kw).person
        for person, user_id in ((kari, 7001), (per, 7002), (ola, 7101), (lise, 7201)):
            person.telegram_user_id = person.telegram_chat_id = user_id
        add_plan(session, svc, youth_id=ola.id, at="07:00", days="mon-fri")
        kv.put(session, "sandbox_seeded", "1")
        return ola.id


def test_it_completes_an_older_sandbox_roster_once(svc):
    ola = _older_sandbox(svc)
    assert refusal(svc) is None
    sandbox = Sandbox(svc)
    sandbox.seed()
    Sandbox(svc).seed()  # once
    names = [p["name"] for p in sandbox.people()]
    assert names == ["Kari Nordmann", "Per Hansen", "Ola Berg", "Lise Berg", "Cora Koordinator", "Amir Said",
                     "Oksana Kovalenko"]
    assert sandbox.login_shown and refusal(svc) is None
    with svc.reading() as session:
        assert len(session.exec(select(Person)).all()) == 7
        plans = session.exec(select(WakeupPlan).where(WakeupPlan.youth_id == ola)).all()
        assert sorted((p.time_of_day, p.active) for p in plans) == [("06:30:00", True), ("07:00:00", False)]
