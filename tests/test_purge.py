"""The nightly purge: message texts go after TETTPA_RETENTION, once; a second purge changes nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bot import privacy
from bot.contactlog import record
from models.contact_log import ContactLog
from tests.edges_kit import make_service


def test_it_purges_a_youths_old_message_once_and_a_second_purge_changes_nothing(tmp_path):
    svc = make_service(tmp_path)
    with svc.tx() as session:
        record(session, svc.settings, at=svc.now(), youth_id=None, party="youth", channel="telegram",
               direction="in", kind="message", text="Jeg har det vondt i dag")
    svc.clock.advance(days=200)
    first = privacy.purge_expired(svc)
    with svc.tx() as session:
        (entry,) = session.exec(select(ContactLog)).all()
        stored = entry.text
        assert stored == "[tekst slettet etter lagringstiden]"
    svc.clock.advance(timedelta(days=1))
    second = privacy.purge_expired(svc)
    assert first["log_texts"] == 1
    assert second["log_texts"] == 0, "the second purge rewrote rows it had purged already"
    with svc.tx() as session:
        assert session.exec(select(ContactLog)).one().text == stored
