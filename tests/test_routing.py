"""Availability and fallback: a youth who writes at 23:40 always reaches someone, or is told when."""

from __future__ import annotations

import json
from datetime import timedelta

from bot import roster, staff
from bot.contactlog import export
from tests.fakes import deliver
from tests.personas import PARENT_TG, PRIMARY_TG, SECONDARY_TG, YOUTH_TG, cast, queued, tg, writes


def _hours(service, worker_id, spec):
    with service.tx() as session:
        roster.set_hours(session, worker_id=worker_id, spec=spec)


def _log(service):
    with service.tx() as session:
        return json.loads(export(session, service.settings, fmt="json"))["entries"]


async def test_it_goes_to_the_secondary_when_the_primary_is_off(service):
    c = cast(service)
    with service.tx() as session:
        from models.people import Person
        session.get(Person, c.primary).off = True
    writes(service, tg(YOUTH_TG, "hei"))
    sent = await deliver(service)
    assert sent.to(PRIMARY_TG) == [] and "hei" in sent.to(SECONDARY_TG)[0].text


async def test_it_goes_to_the_secondary_during_the_primarys_absence(service, clock):
    c = cast(service)
    with service.tx() as session:
        roster.add_absence(session, worker_id=c.primary, start=clock() - timedelta(hours=1),
                           end=clock() + timedelta(days=2))
    writes(service, tg(YOUTH_TG, "hei"))
    sent = await deliver(service)
    assert sent.to(PRIMARY_TG) == [] and len(sent.to(SECONDARY_TG)) == 1


async def test_it_tells_the_youth_when_someone_answers_when_nobody_is_available(service, clock):
    c = cast(service)
    _hours(service, c.primary, "mon-fri 15:00-23:00")
    _hours(service, c.secondary, "sat,sun 10:00-22:00")
    clock.advance(hours=13, minutes=40)  # Monday 23:40 in Oslo
    writes(service, tg(YOUTH_TG, "får ikke sove"))
    sent = await deliver(service)
    assert sent.to(PRIMARY_TG) == [] and sent.to(SECONDARY_TG) == []
    (auto,) = sent.to(YOUTH_TG)
    assert "Kari svarer fra i morgen kl. 15:00" in auto.text
    assert "113" in auto.text and "116 123" in auto.text and "116 111" in auto.text
    kinds = [e["kind"] for e in _log(service)]
    assert kinds == ["message", "auto_reply"]


async def test_it_answers_the_youth_in_english_when_she_is_set_to_en(service, clock):
    c = cast(service, youth_language="en")
    _hours(service, c.primary, "mon-fri 15:00-23:00")
    _hours(service, c.secondary, "mon-fri 15:00-23:00")
    clock.advance(hours=13, minutes=40)
    writes(service, tg(YOUTH_TG, "can't sleep"))
    sent = await deliver(service)
    assert "15:00" in sent.to(YOUTH_TG)[0].text and "113" in sent.to(YOUTH_TG)[0].text


async def test_it_sends_one_automatic_answer_for_several_messages(service, clock):
    c = cast(service)
    _hours(service, c.primary, "mon-fri 15:00-23:00")
    _hours(service, c.secondary, "mon-fri 15:00-23:00")
    clock.advance(hours=13, minutes=40)
    for text in ("hei", "er du der?", "hallo"):
        writes(service, tg(YOUTH_TG, text))
    sent = await deliver(service)
    assert len(sent.to(YOUTH_TG)) == 1


async def test_it_gives_the_waiting_message_to_the_primary_when_she_comes_back(service, clock):
    c = cast(service)
    _hours(service, c.primary, "mon-fri 15:00-23:00")
    _hours(service, c.secondary, "mon-fri 15:00-23:00")
    clock.advance(hours=13, minutes=40)
    staff.sweep_availability(service)  # both go away at 23:00
    writes(service, tg(YOUTH_TG, "får ikke sove"))
    sent = await deliver(service)
    clock.advance(hours=15, minutes=30)  # Tuesday 15:10
    staff.sweep_availability(service)
    sent = await deliver(service, sent)
    texts = [o.text for o in sent.to(PRIMARY_TG)]
    assert any("får ikke sove" in t for t in texts)
    assert any("Mens du var borte" in t for t in texts)


async def test_it_alerts_both_workers_and_gives_emergency_numbers_on_acute_words(service):
    c = cast(service)
    with service.tx() as session:
        from models.people import Person
        session.get(Person, c.secondary).off = True
    writes(service, tg(YOUTH_TG, "Jeg tenker på å ta livet mitt."))
    sent = await deliver(service)
    assert "AKUTT" in sent.to(PRIMARY_TG)[0].text and "AKUTT" in sent.to(SECONDARY_TG)[0].text
    (help_,) = sent.to(YOUTH_TG)
    assert "113" in help_.text and "116 123" in help_.text and "116 111" in help_.text
    assert [e["kind"] for e in _log(service)] == ["message", "escalation", "auto_reply"]
    assert "Kari Nordmann, Per Hansen" in _log(service)[1]["text"]


async def test_it_escalates_an_unanswered_message_to_the_secondary(service, clock):
    cast(service)
    writes(service, tg(PARENT_TG, "Ola kom ikke hjem"))
    sent = await deliver(service)
    clock.advance(minutes=14)
    assert staff.escalate_due(service) == 0
    clock.advance(minutes=2)
    assert staff.escalate_due(service) == 1
    assert staff.escalate_due(service) == 0
    sent = await deliver(service, sent)
    (escalated,) = sent.to(SECONDARY_TG)
    assert "Ubesvart" in escalated.text and "Ola kom ikke hjem" in escalated.text
    assert [e["kind"] for e in _log(service)] == ["message", "escalation"]


async def test_it_does_not_escalate_what_the_primary_answered(service, clock):
    cast(service)
    writes(service, tg(YOUTH_TG, "hei"))
    await deliver(service)
    relay_external = queued(service, PRIMARY_TG)[0]["row"].external_id
    writes(service, tg(PRIMARY_TG, "hei!", reply_to=relay_external))
    clock.advance(minutes=30)
    assert staff.escalate_due(service) == 0


async def test_it_tells_the_primary_when_the_secondary_took_the_escalation(service, clock):
    c = cast(service)
    writes(service, tg(YOUTH_TG, "hjelp med lekser"))
    sent = await deliver(service)
    clock.advance(minutes=16)
    staff.escalate_due(service)
    sent = await deliver(service, sent)
    msg_id = int(queued(service, SECONDARY_TG)[0]["buttons"][0][0][1].split(":")[1])
    with service.tx() as session:
        from models.people import Person
        per = session.get(Person, c.secondary)
        assert staff.take_message(service, session, per, msg_id) == "Du har tatt denne."
    sent = await deliver(service, sent)
    assert "Per har tatt denne." in sent.to(PRIMARY_TG)[-1].text
    assert staff.escalate_due(service) == 0


async def test_it_toggles_a_workers_availability_with_off_and_on(service):
    c = cast(service)
    with service.tx() as session:
        from models.people import Person
        kari = session.get(Person, c.primary)
        staff.set_off(service, session, kari, tg(PRIMARY_TG, "/off"), off=True)
    writes(service, tg(YOUTH_TG, "hei"))
    with service.tx() as session:
        kari = session.get(Person, c.primary)
        staff.set_off(service, session, kari, tg(PRIMARY_TG, "/on"), off=False)
    sent = await deliver(service)
    texts = [o.text for o in sent.to(PRIMARY_TG)]
    assert "ikke tilgjengelig" in texts[0] and texts[1] == "Du er nå tilgjengelig."
    assert sent.to(PRIMARY_TG) and "hei" in sent.to(SECONDARY_TG)[0].text


def _command(service, worker_id, fn, text):
    from models.people import Person
    with service.tx() as session:
        fn(service, session, session.get(Person, worker_id), tg(PRIMARY_TG, text), text.partition(" ")[2])


async def test_it_lets_a_worker_set_her_hours_and_absence_from_the_chat(service, clock):
    from bot import worker_settings
    c = cast(service)
    _command(service, c.primary, worker_settings.hours_command, "/timer man-fre 15:00-23:00")
    _command(service, c.primary, worker_settings.hours_command, "/timer 25:00-26:00")
    _command(service, c.primary, worker_settings.absence_command, "/borte 24.11 25.11")
    _command(service, c.primary, worker_settings.absence_command, "/borte")
    sent = await deliver(service)
    answers = [o.text for o in sent.to(PRIMARY_TG)]
    assert "mon-fri 15:00-23:00" in answers[0]
    assert "forstod" in answers[1] and "/timer man-fre" in answers[1]
    assert "Fravær registrert" in answers[2]
    assert "24.11" in answers[3] or "24. nov" in answers[3]
    from models.people import Person
    with service.tx() as session:
        assert session.get(Person, c.primary).hours == "mon-fri 15:00-23:00"
    clock.advance(days=1, hours=7)  # Tuesday 17:00: inside her hours, but absent
    writes(service, tg(YOUTH_TG, "hei"))
    sent = await deliver(service, sent)
    assert len(sent.to(SECONDARY_TG)) == 1
