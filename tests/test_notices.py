"""Notices: Kari tells all her youths the same thing at once; a reply reaches her as an ordinary message."""

from __future__ import annotations

from sqlmodel import select

from bot import notices
from models.outbox import Outbox
from tests import activities_kit
from tests.activities_kit import SIRI_PHONE, activity_log, add_sms_youth, send_all, sms_in
from tests.personas import PRIMARY_TG, YOUTH_TG, cast
from tests.programme import tettpa, tettpa_json

world = activities_kit.world  # the fixture: the Telegram and Twilio stand-ins
CLOSED = "Kontoret er stengt i høstferien. Skriv som vanlig, så svarer vi."


def notify(service, **kw):
    with service.tx() as session:
        return notices.send_notice(session, service, text=CLOSED, **kw).sent_to


async def test_it_sends_a_notice_to_a_workers_youths_on_their_channels(service, clock, world):
    c = cast(service)
    add_sms_youth(service, c)
    assert notify(service, worker_id=c.primary) == 2
    await send_all(service, world, clock)
    assert [m["text"] for m in world.telegram.sent_to(YOUTH_TG)] == [CLOSED]
    assert world.twilio.sms_to(SIRI_PHONE) == [CLOSED]
    assert [(e.kind, e.channel, e.direction) for e in activity_log(service)] == [
        ("activity", "telegram", "out"), ("activity", "sms", "out")]


async def test_it_relays_a_reply_to_a_notice_as_an_ordinary_message(service, clock, world):
    c = cast(service)
    add_sms_youth(service, c)
    notify(service, youths="all")
    sms_in(service, "Ok, god ferie!", "SMN1")
    await send_all(service, world, clock)
    assert any("Ok, god ferie!" in m["text"] for m in world.telegram.sent_to(PRIMARY_TG))


def test_it_sends_a_notice_in_the_bulk_lane(service):
    c = cast(service)
    notify(service, youths=str(c.youth))
    with service.tx() as session:
        (row,) = session.exec(select(Outbox).where(Outbox.key.like("notice:%"))).all()
        assert row.bulk


def test_it_sends_a_notice_from_the_command_line_and_names_a_bad_field(service):
    c = cast(service)
    unit = tettpa_json(service, "unit", "add", "--name", "Tett på Vestfold")["id"]  # takes in everyone
    assert tettpa_json(service, "notice", "send", "--unit", str(unit), "--text", CLOSED) == {"id": 1, "sent": 1}
    assert tettpa_json(service, "notice", "send", "--youths", str(c.youth), "--text", "Hei")["sent"] == 1
    bad = tettpa(service, "notice", "send", "--text", "Hei", ok=False)
    assert bad.exit_code != 0 and bad.stderr.startswith("error: unit:")
    bad = tettpa(service, "notice", "send", "--youths", "all", "--text", " ", ok=False)
    assert bad.exit_code != 0 and "text:" in bad.stderr


def test_it_deletes_a_notices_text_after_the_retention_like_a_message(service, clock):
    from datetime import timedelta

    from bot import privacy

    c = cast(service)
    notify(service, youths=str(c.youth))
    clock.advance(service.settings.retention + timedelta(days=1))
    privacy.purge_expired(service)
    (entry,) = activity_log(service)
    assert entry.text_purged and CLOSED not in entry.text
