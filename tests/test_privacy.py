"""Privacy: texts gone after the retention period, a person's data exported and erased, keys rotated,
and nothing personal in the logs."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import select

from bot import privacy
from bot.contactlog import export
from models import crypto
from models.conversations import Message
from models.people import Person
from tests.conftest import TEST_DATA_KEY
from tests.fakes import deliver
from tests.personas import PARENT_TG, PRIMARY_TG, YOUTH_TG, cast, queued, tg, writes


def _log(service):
    with service.tx() as session:
        return json.loads(export(session, service.settings, fmt="json"))["entries"]


async def test_it_deletes_texts_after_the_retention_period_but_keeps_the_facts(service, clock):
    cast(service)
    writes(service, tg(YOUTH_TG, "gammel hemmelighet"))
    await deliver(service)
    clock.advance(days=100)
    writes(service, tg(YOUTH_TG, "ny melding"))
    clock.advance(days=81)  # the first is 181 days old, the second 81
    counts = privacy.purge_expired(service)
    assert counts["messages"] == 1 and counts["log_texts"] == 1
    entries = _log(service)
    assert [e["text"] for e in entries] == ["[tekst slettet etter lagringstiden]", "ny melding"]
    assert [e["kind"] for e in entries] == ["message", "message"]
    with service.tx() as session:
        texts = [m.text for m in session.exec(select(Message).order_by(Message.id))]
    assert texts[0] is None and texts[-1] == "ny melding"


async def test_it_exports_everything_about_a_youth(service):
    c = cast(service)
    writes(service, tg(YOUTH_TG, "hei"))
    with service.tx() as session:
        data = privacy.export_person(session, service.settings, c.youth)
    assert data["person"]["name"] == "Ola Berg" and data["messages"][0]["text"] == "hei"
    assert data["contact_log"][0]["kind"] == "message"


async def test_it_erases_a_parent_and_logs_the_erasure(service):
    c = cast(service)
    writes(service, tg(PARENT_TG, "privat om familien"))
    writes(service, tg(YOUTH_TG, "fra Ola"))
    await deliver(service)
    with service.tx() as session:
        assert privacy.erase_person(service, session, c.parent)["messages_erased"] == 1
    with service.tx() as session:
        lise = session.get(Person, c.parent)
        assert lise.name == "[slettet]" and lise.phone is None and lise.telegram_user_id is None
    entries = _log(service)
    assert [e["text"] for e in entries] == ["[slettet]", "fra Ola",
                                            f"Personopplysninger slettet etter krav (person {c.parent})"]
    assert queued(service, PARENT_TG) == []


async def test_it_rotates_the_data_key(service):
    cast(service)
    writes(service, tg(YOUTH_TG, "roter meg"))
    new = crypto.new_key()
    crypto.use_keys([new, TEST_DATA_KEY])
    try:
        with service.tx() as session:
            assert privacy.rotate_keys(session) > 0
        crypto.use_keys([new])  # the old key is gone: everything must still read
        assert _log(service)[0]["text"] == "roter meg"
        with service.tx() as session:
            assert session.get(Person, 1).name == "Kari Nordmann"
    finally:
        crypto.use_keys([TEST_DATA_KEY])


async def test_it_writes_no_text_phone_or_token_to_the_logs(service, caplog, clock):
    caplog.set_level(logging.DEBUG)
    c = cast(service)
    writes(service, tg(YOUTH_TG, "veldig privat tekst"))
    from bot.out.transports.base import TransportError
    from tests.fakes import RecordingTransport
    transport = RecordingTransport()
    transport.failures = [TransportError("telegram bad request: x", permanent=True)]
    await deliver(service, transport)
    with service.engine.connect() as conn:
        stored = conn.execute(text("SELECT text FROM contact_log")).scalar()
    logged = caplog.text
    assert "veldig privat" not in logged and "+4791111111" not in logged and "TEST-TOKEN" not in logged
    assert "veldig privat" not in stored and c
    assert PRIMARY_TG


def test_it_keeps_retention_from_settings():
    from tests.conftest import make_settings
    assert make_settings("sqlite://", retention="30d").retention == timedelta(days=30)


async def test_it_forgets_login_and_start_attempts_after_thirty_days(service, clock):
    from models import auth

    with service.tx() as session:
        auth.add_attempt(session, email="kari@ot.example", at=service.now(), ok=False)
    clock.advance(days=29)
    with service.tx() as session:
        auth.add_attempt(session, email="kari@ot.example", at=service.now(), ok=True)
    clock.advance(days=2)

    assert privacy.purge_expired(service)["login_attempts"] == 1
    with service.tx() as session:
        assert [a.ok for a in session.exec(select(auth.LoginAttempt))] == [True]
