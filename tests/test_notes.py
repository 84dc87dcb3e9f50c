"""Manual notes: from the dashboard's form and from Telegram's /notat, as contact-log entries."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bot import notes
from bot.contactlog import as_dict
from models.contact_log import ContactLog
from models.people import Person
from standins.server import BackgroundServer
from standins.telegram import TelegramStandIn
from tests.browser import PASSWORD, csrf_of, logged_in, staff_cast
from tests.e2e import Deployment
from tests.fakes import deliver
from tests.personas import PRIMARY_TG, SECONDARY_TG, YOUTH_TG, queued, texts_to, tg, writes


def _notes(service) -> list[dict]:
    with service.tx() as session:
        rows = session.exec(select(ContactLog).where(ContactLog.kind == "note").order_by(ContactLog.id)).all()
        return [as_dict(e, service.settings) for e in rows]


def _notat(service, telegram_id: int, args: str, reply_to: str | None = None):
    inc = tg(telegram_id, f"/notat {args}".strip(), reply_to=reply_to)
    with service.tx() as session:
        worker = session.exec(select(Person).where(Person.telegram_user_id == telegram_id)).one()
        notes.from_telegram(service, session, worker, inc, args)
    return inc


def test_it_adds_a_note_from_the_dashboard_as_a_manual_contact(service):
    s = staff_cast(service)
    http = logged_in(service, "primary")
    page = http.get(f"/dashboard/youth/{s.youth}")
    response = http.post(f"/dashboard/youth/{s.youth}/notes", data={
        "csrf": csrf_of(page.text), "text": "Ringte fra egen telefon. Ola er syk, kommer i morgen.",
        "channel": "manual",
    })
    assert response.status_code == 303 and response.headers["location"] == f"/dashboard/youth/{s.youth}?saved=1#notat"
    assert _notes(service) == [{
        "at": "2026-11-23T10:00:00+01:00", "youth_id": s.youth, "party": "worker", "worker_id": s.primary,
        "channel": "manual", "direction": "none", "kind": "note", "after_hours": False,
        "text": "Ringte fra egen telefon. Ola er syk, kommer i morgen.",
    }]
    after = http.get(response.headers["location"]).text
    assert "Notatet er lagret." in after and "Ringte fra egen telefon." in after


def test_it_adds_a_meeting_dated_earlier_in_the_evening_as_after_hours(service):
    s = staff_cast(service)
    http = logged_in(service, "secondary")
    page = http.get(f"/dashboard/youth/{s.youth}")
    http.post(f"/dashboard/youth/{s.youth}/notes", data={
        "csrf": csrf_of(page.text), "text": "Møte i bilen utenfor skolen", "channel": "meeting",
        "at": "2026-11-22T19:30",
    })
    (note,) = _notes(service)
    assert (note["at"], note["channel"], note["after_hours"], note["worker_id"]) == (
        "2026-11-22T19:30:00+01:00", "meeting", True, s.secondary)


@pytest.mark.parametrize("form, error", [
    ({"text": "   "}, "Skriv hva kontakten gjaldt"),
    ({"text": "x" * 4001}, "Skriv hva kontakten gjaldt"),
    ({"text": "Møte", "at": "2026-11-24T10:00"}, "kan ikke dateres fram i tid"),
    ({"text": "Møte", "at": "i går"}, "Tidspunktet er ikke gyldig"),
    ({"text": "Møte", "channel": "telegram"}, "Velg manuell kontakt eller møte"),
])
def test_it_refuses_an_empty_future_or_odd_note_and_keeps_the_text(service, form, error):
    s = staff_cast(service)
    http = logged_in(service, "primary")
    page = http.get(f"/dashboard/youth/{s.youth}")
    response = http.post(f"/dashboard/youth/{s.youth}/notes", data={"csrf": csrf_of(page.text), **form})
    assert response.status_code == 400 and error in response.text
    assert _notes(service) == []


def test_it_lets_a_coordinator_note_for_any_youth(service):
    s = staff_cast(service)
    http = logged_in(service, "coordinator")
    page = http.get(f"/dashboard/youth/{s.other_youth}")
    http.post(f"/dashboard/youth/{s.other_youth}/notes", data={"csrf": csrf_of(page.text), "text": "Snakket med skolen"})
    assert [(n["youth_id"], n["worker_id"]) for n in _notes(service)] == [(s.other_youth, s.coordinator)]


async def test_it_adds_a_note_from_telegram_in_reply_to_a_relay(service):
    s = staff_cast(service)
    writes(service, tg(YOUTH_TG, "Kan du ringe meg?"))
    await deliver(service)
    relayed = queued(service, PRIMARY_TG)[0]["row"].external_id
    _notat(service, PRIMARY_TG, "Ringte Ola fra egen telefon, alt i orden", reply_to=relayed)
    (note,) = _notes(service)
    assert (note["youth_id"], note["worker_id"], note["channel"], note["text"]) == (
        s.youth, s.primary, "manual", "Ringte Ola fra egen telefon, alt i orden")
    assert texts_to(service, PRIMARY_TG)[-1] == "Notatet er lagret i kontaktloggen til Ola Berg."


@pytest.mark.parametrize("args, channel, text", [
    ("Ola Snakket med skolen om fravær", "manual", "Snakket med skolen om fravær"),
    ("ola berg: Snakket med rådgiveren", "manual", "Snakket med rådgiveren"),
    ("møte Ola i bilen, la en plan for uka", "meeting", "møte i bilen, la en plan for uka"),
    ("3 Ringte mor", "manual", "Ringte mor"),
])
def test_it_adds_a_note_from_telegram_naming_the_youth(service, args, channel, text):
    s = staff_cast(service)
    _notat(service, PRIMARY_TG, args)
    (note,) = _notes(service)
    assert (note["youth_id"], note["channel"], note["text"]) == (s.youth, channel, text)


def test_it_explains_notat_when_the_youth_or_the_text_is_missing(service):
    staff_cast(service)
    for args in ("", "Ola", "Petter Ringte", "møte Ola", "99 Ringte"):
        inc = _notat(service, PRIMARY_TG, args)
        assert "Slik lagrer du et notat" in texts_to(service, PRIMARY_TG)[-1], args
        assert inc
    assert _notes(service) == []


def test_it_asks_for_the_whole_name_when_two_youths_share_a_first_name(service):
    s = staff_cast(service)
    from bot import roster

    with service.tx() as session:
        roster.add_youth(session, name="Ola Dahl", primary=s.primary, now=service.now(),
                         secret_key=service.settings.secret_key)
    _notat(service, PRIMARY_TG, "Ola Ringte")
    assert "Skriv hele navnet" in texts_to(service, PRIMARY_TG)[-1]
    _notat(service, PRIMARY_TG, "Ola Dahl Ringte")
    assert [n["text"] for n in _notes(service)] == ["Ringte"]


def test_it_keeps_notat_to_the_workers_own_youths(service):
    s = staff_cast(service)
    with service.tx() as session:
        otto = session.get(Person, s.outsider)
        otto.telegram_user_id = otto.telegram_chat_id = 5003
    _notat(service, 5003, "Ola Berg Ringte")
    _notat(service, 5003, f"{s.youth} Ringte")
    assert _notes(service) == []
    _notat(service, 5003, "Nina Ringte")
    assert [n["youth_id"] for n in _notes(service)] == [s.other_youth]


async def test_it_does_not_take_a_notat_in_reply_to_another_workers_relay(service):
    staff_cast(service)
    writes(service, tg(YOUTH_TG, "hei"))
    await deliver(service)
    relayed = queued(service, PRIMARY_TG)[0]["row"].external_id
    _notat(service, SECONDARY_TG, "Ringte", reply_to=relayed)
    assert _notes(service) == []


def test_it_stores_a_redelivered_notat_once(service):
    staff_cast(service)
    inc = tg(PRIMARY_TG, "/notat Ola Ringte")
    for _ in range(2):
        with service.tx() as session:
            worker = session.exec(select(Person).where(Person.telegram_user_id == PRIMARY_TG)).one()
            notes.from_telegram(service, session, worker, inc, "Ola Ringte")
    assert len(_notes(service)) == 1


# --- through `tettpa serve`: PTB's CommandHandler and the Telegram stand-in ---

KARI, OLA = 801, 802


@pytest.fixture
def telegram():
    stand_in = TelegramStandIn(token="424243:NOTE-TOKEN", strict=True, bot_username="TettPaTestBot")
    stand_in.add_user(KARI, "Kari", language_code="nb")
    stand_in.add_user(OLA, "Ola", language_code="nb")
    with BackgroundServer(stand_in.app) as server:
        stand_in.url = server.url
        yield stand_in
    assert stand_in.violations == []


def test_it_takes_notat_from_telegram_through_tettpa_serve(tmp_path, database_url, telegram):
    d = Deployment(tmp_path, database_url, telegram, telegram.url)
    try:
        kari = d.add("worker", "add", "--name", "Kari Nordmann", "--email", "kari@ot.example")
        ola = d.add("youth", "add", "--name", "Ola Berg", "--primary", str(kari["id"]))
        d.cli("worker", "set-password", str(kari["id"]), stdin=PASSWORD + "\n")
        d.start()
        for user, person in ((KARI, kari), (OLA, ola)):
            telegram.user_sends(user, f"/start {person['invite_code']}")
            telegram.wait_sent(user, 1)
        telegram.user_sends(OLA, "Ring meg når du kan")
        relayed = telegram.wait_sent(KARI, 2)[1]
        telegram.user_sends(KARI, "/notat Ringte Ola fra egen telefon", reply_to_message_id=relayed["message_id"])
        assert telegram.wait_sent(KARI, 3)[2]["text"] == "Notatet er lagret i kontaktloggen til Ola Berg."
        telegram.user_sends(OLA, "/notat dette er bare en melding")
        assert "/notat dette er bare en melding" in telegram.wait_sent(KARI, 4)[3]["text"]
    finally:
        d.stop()
    log = json.loads(d.cli("log", "export", "--format", "json").stdout)["entries"]
    (note,) = [e for e in log if e["kind"] == "note"]
    assert (note["channel"], note["party"], note["worker_id"], note["text"]) == (
        "manual", "worker", kari["id"], "Ringte Ola fra egen telefon")
    assert datetime.fromisoformat(note["at"]) <= datetime.now(UTC)
