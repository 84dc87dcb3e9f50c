"""An acute message nobody takes is not left waiting: after TETTPA_ACUTE_REPEAT_AFTER the workers with a
phone are rung (saying who wrote and that it is acute), then the coordinators are told; each step is logged."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bot import roster, staff
from bot.settings import Settings
from models.contact_log import ContactLog
from models.conversations import Message
from models.people import Person
from tests.fakes import deliver
from tests.personas import PRIMARY_TG, YOUTH_TG, cast, queued, tg, writes

CORA_TG = 5004
PER_PHONE = "+4791111111"


def _coordinator(service) -> int:
    with service.tx() as session:
        cora = roster.add_worker(session, name="Cora Leder", role="coordinator", now=service.now(),
                                 secret_key=service.settings.secret_key).person
        cora.telegram_user_id = cora.telegram_chat_id = CORA_TG
        cora.last_channel = "telegram"
        return cora.id


def _steps(service) -> list[str]:
    with service.tx() as session:
        return [e.text for e in session.exec(select(ContactLog).where(ContactLog.kind == "escalation")
                                             .order_by(ContactLog.id))]


def test_it_waits_five_minutes_by_default():
    assert Settings(_env_file=None).acute_repeat_after == timedelta(minutes=5)


async def test_it_rings_the_workers_then_tells_the_coordinators_when_nobody_takes_an_acute_message(service, clock):
    cast(service)
    _coordinator(service)
    writes(service, tg(YOUTH_TG, "jeg vil ta livet mitt"))
    await deliver(service)
    clock.advance(minutes=4, seconds=59)
    assert staff.repeat_acute(service) == 0
    clock.advance(seconds=1)
    assert staff.repeat_acute(service) == 1
    calls = [q for q in queued(service, PER_PHONE) if q["channel"] == "call"]
    assert len(calls) == 1  # Per has a phone; Kari has none
    assert calls[0]["text"].startswith("Akutt melding i Tett på fra Ola Berg.")
    assert _steps(service)[-1] == "Akutt melding ikke tatt etter 5 minutter: ringer Per Hansen"
    assert queued(service, CORA_TG) == []  # the coordinators only after another interval
    clock.advance(minutes=5)
    assert staff.repeat_acute(service) == 1
    (told,) = queued(service, CORA_TG)
    assert told["text"].startswith("AKUTT: en melding fra Ola Berg er ikke tatt")
    assert _steps(service)[-1] == "Akutt melding fortsatt ikke tatt: varslet koordinator Cora Leder"
    clock.advance(minutes=30)
    assert staff.repeat_acute(service) == 0  # done: nothing is repeated for ever


async def test_it_rings_nobody_once_a_worker_took_the_acute_message(service, clock):
    c = cast(service)
    _coordinator(service)
    writes(service, tg(YOUTH_TG, "jeg vil ta livet mitt"))
    await deliver(service)
    with service.tx() as session:
        msg = session.exec(select(Message).where(Message.acute.is_(True))).one()
        staff.take_message(service, session, session.get(Person, c.primary), msg.id)
    clock.advance(minutes=20)
    assert staff.repeat_acute(service) == 0
    assert not [q for q in queued(service, PER_PHONE) if q["channel"] == "call"]
    assert queued(service, CORA_TG) == [] and len(queued(service, PRIMARY_TG)) == 1


def test_it_shows_acute_messages_apart_on_the_dashboard_with_who_took_them(service, clock):
    import re

    from tests.browser import logged_in, staff_cast

    s = staff_cast(service)
    writes(service, tg(YOUTH_TG, "jeg vil ta livet mitt"))
    writes(service, tg(YOUTH_TG, "Jeg trenger hjelp med NAV-skjemaet"))  # everyday: not acute
    http = logged_in(service, "coordinator")
    page = http.get("/dashboard").text
    link, count = re.search(r'<a href="([^"]+)" data-figure="acute-open">([^<]+)</a>', page).groups()
    assert count == "1 akutt melding er ikke tatt" and 'class="acute-summary alert"' in page
    listed = http.get(link.replace("&amp;", "&")).text
    assert re.findall(r'<p class="text">([^<]*)</p>', listed) == ["jeg vil ta livet mitt"]
    assert 'class="entry kind-message party-youth acute"' in listed and "ikke tatt ennå" in listed
    clock.advance(minutes=3)
    with service.tx() as session:
        msg = session.exec(select(Message).where(Message.acute.is_(True))).one()
        staff.take_message(service, session, session.get(Person, s.secondary), msg.id)
    timeline = http.get(f"/dashboard/youth/{s.youth}").text
    assert "AKUTT · tatt av Per Hansen man. 23. nov. 2026, 10:03" in timeline
    assert timeline.count('party-youth acute"') == 1  # the everyday message looks like any other
    assert re.search(r'data-figure="acute-open">0 akutte meldinger er ikke tatt<', http.get("/dashboard").text)
    week = http.get("/dashboard/entries?acute=1").text
    assert "Akutte meldinger" in week and len(re.findall(r'<p class="text">', week)) == 1


async def test_it_tells_only_the_coordinators_of_the_youths_unit(service, clock):
    from bot import units

    c = cast(service)
    _coordinator(service)  # Cora, coordinator of the unit everyone so far is in
    with service.tx() as session:
        vest = units.add_unit(session, name="Tett på Vest", now=service.now())  # takes in everyone so far
        ost = units.add_unit(session, name="Tett på Øst", now=service.now())
        other = roster.add_worker(session, name="Odd Annen", role="coordinator", unit=ost.id, now=service.now(),
                                  secret_key=service.settings.secret_key).person
        other.telegram_user_id = other.telegram_chat_id = 5005
        other.last_channel = "telegram"
        assert units.unit_id_of(session, session.get(Person, c.youth)) == vest.id
    writes(service, tg(YOUTH_TG, "jeg vil ta livet mitt"))
    await deliver(service)
    clock.advance(minutes=5)
    staff.repeat_acute(service)
    clock.advance(minutes=5)
    staff.repeat_acute(service)
    assert len(queued(service, CORA_TG)) == 1
    assert queued(service, 5005) == [], "another unit's coordinator hears nothing of this youth"
