"""The follow-up period: notices two weeks and two days before it ends, wake-ups and reminders stop at its end,
messages reach the former workers for TETTPA_HANDOVER_GRACE, then get the hand-over answer; acute always
reaches the former workers and the unit's coordinators; extending it resumes everything."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import select

from bot import period, roster, units
from models.contact_log import ContactLog
from models.people import Person
from models.schedules import MeetingReminder, Wakeup
from scheduling import meetings, wakeups
from tests.personas import PARENT_TG, PRIMARY_TG, SECONDARY_TG, YOUTH_TG, cast, texts_to, tg, writes
from tests.programme import tettpa, tettpa_json

OSLO = ZoneInfo("Europe/Oslo")
CORA_TG = 5301


def oslo(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=OSLO).astimezone(UTC)


def programme(service, until: str = "2026-12-10"):
    """Ola's unit Vestfold with its OT contact, Cora its coordinator, and Ola's period until `until`."""
    with service.tx() as session:
        units.add_unit(session, name="Tett på Vestfold", ot_contact="OT Vestfold på 33 00 00 00", now=service.now())
    c = cast(service)
    with service.tx() as session:
        cora = roster.add_worker(session, name="Cora Koordinator", role="coordinator", now=service.now(),
                                 secret_key=service.settings.secret_key).person
        cora.telegram_user_id = cora.telegram_chat_id = CORA_TG
        period.change_period(service, session, youth_id=c.youth, start=date(2026, 4, 1),
                             end=date.fromisoformat(until))
    return c


def log(service, kind: str) -> list[ContactLog]:
    with service.tx() as session:
        return list(session.exec(select(ContactLog).where(ContactLog.kind == kind).order_by(ContactLog.id)))


def test_it_sets_and_extends_the_period_from_the_command_line(service):
    c = cast(service)
    made = tettpa_json(service, "youth", "add", "--name", "Nina", "--primary", str(c.primary),
                       "--period-from", "2026-04-01", "--period-until", "2026-10-02")
    with service.tx() as session:
        row = period.get(session, made["id"])
        assert (row.start, row.end) == (date(2026, 4, 1), date(2026, 10, 2))
    assert tettpa_json(service, "youth", "period", str(made["id"]), "--until", "2026-12-18")["until"] == "2026-12-18"
    with service.tx() as session:
        assert period.get(session, made["id"]).start == date(2026, 4, 1)  # the start stays
    assert [e.kind for e in log(service, "period")] == ["period"]
    bad = tettpa(service, "youth", "period", str(made["id"]), "--from", "2026-12-01", "--until", "2026-11-01", ok=False)
    assert bad.exit_code != 0 and bad.stderr.startswith("error: until:")
    assert tettpa(service, "youth", "period", "999", "--until", "2026-12-01", ok=False).stderr.startswith("error: youth:")


def test_it_tells_ola_lise_and_the_workers_two_weeks_and_two_days_before_the_end(service, clock):
    programme(service)
    clock.at = oslo("2026-11-25T12:00")  # 15 days before the last day
    assert period.sweep(service) == 0
    clock.at = oslo("2026-11-26T09:00")  # 14 days before, but before the day's notices
    assert period.sweep(service) == 0
    clock.at = oslo("2026-11-26T10:05")
    assert period.sweep(service) == 1
    assert period.sweep(service) == 0  # once
    (ola,) = texts_to(service, YOUTH_TG)
    assert ola.startswith("Hei Ola! Oppfølgingen din i Tett på varer til og med 10. desember 2026.")
    assert "OT Vestfold på 33 00 00 00" in ola
    assert "Oppfølgingen av Ola" in texts_to(service, PARENT_TG)[0]  # no birth date known: told as a minor's
    assert "Ola Berg slutter 10. desember 2026" in texts_to(service, PRIMARY_TG)[0]
    assert len(texts_to(service, SECONDARY_TG)) == 1
    clock.at = oslo("2026-12-08T10:00")
    assert period.sweep(service) == 1
    assert len(texts_to(service, YOUTH_TG)) == 2
    assert len(log(service, "period")) == 3  # set, two notices


def test_it_does_not_tell_the_parents_of_an_adult(service, clock):
    c = programme(service)
    with service.tx() as session:
        session.get(Person, c.youth).birth_date = date(2000, 1, 1)
    clock.at = oslo("2026-12-08T10:00")
    assert period.sweep(service) == 1
    assert texts_to(service, PARENT_TG) == [] and len(texts_to(service, YOUTH_TG)) == 1


def test_it_stops_wakeups_and_reminders_at_the_end_and_resumes_them_when_extended(service, clock):
    c = programme(service, until="2026-11-24")
    with service.tx() as session:
        wakeups.add_plan(session, service, youth_id=c.youth, at="06:45", days="daily")
        meetings.add_meeting(session, service, youth_id=c.youth, worker_id=c.primary, at=oslo("2026-11-27T14:00"),
                             place="Kafé Sentrum", remind="2h")
    clock.at = oslo("2026-11-24T06:45")
    wakeups.run_due_wakeups(service)
    clock.at = oslo("2026-11-25T06:45")
    wakeups.plan_ahead(service)
    wakeups.run_due_wakeups(service)
    with service.tx() as session:
        days = {w.day: (w.status, w.skip_reason) for w in session.exec(select(Wakeup))}
    assert days[date(2026, 11, 24)][0] != "skipped" and days[date(2026, 11, 25)] == ("skipped", "period_ended")
    tettpa(service, "youth", "period", str(c.youth), "--until", "2026-12-18")
    clock.at = oslo("2026-11-26T06:45")
    wakeups.plan_ahead(service)
    wakeups.run_due_wakeups(service)
    with service.tx() as session:
        thursday = session.exec(select(Wakeup).where(Wakeup.day == date(2026, 11, 26))).one()
        assert thursday.status != "skipped"
    with service.tx() as session:
        period.change_period(service, session, youth_id=c.youth, start=None, end=date(2026, 11, 26))
    clock.at = oslo("2026-11-27T12:00")
    meetings.run_due_reminders(service)
    with service.tx() as session:
        (reminder,) = session.exec(select(MeetingReminder)).all()
        assert reminder.status == "skipped"


def test_it_relays_marked_in_the_grace_then_answers_with_the_hand_over(service, clock):
    programme(service, until="2026-11-22")  # ended yesterday: in the grace
    writes(service, tg(YOUTH_TG, "Hei Kari, hvordan går det?"))
    (relayed,) = texts_to(service, PRIMARY_TG)
    assert relayed.startswith("Etter oppfølgingsperioden – fra Ola Berg:")
    clock.at = oslo("2026-12-23T12:00")  # the 30 days of TETTPA_HANDOVER_GRACE are over
    writes(service, tg(YOUTH_TG, "Er det noen der?"))
    writes(service, tg(YOUTH_TG, "Hallo?"))
    assert len(texts_to(service, PRIMARY_TG)) == 1  # nothing more reaches Kari
    answers = [t for t in texts_to(service, YOUTH_TG) if t.startswith("Oppfølgingen din i Tett på er avsluttet")]
    assert len(answers) == 2 and "OT Vestfold på 33 00 00 00" in answers[0] and "113" in answers[0]
    assert [e.kind for e in log(service, "auto_reply")] == ["auto_reply", "auto_reply"]
    assert len(log(service, "message")) == 3  # each message lands in the log


def test_it_always_alarms_the_former_workers_and_the_coordinators(service, clock):
    programme(service, until="2026-10-02")
    clock.at = oslo("2027-01-10T22:00")
    writes(service, tg(YOUTH_TG, "jeg vil ta livet mitt"))
    for worker in (PRIMARY_TG, SECONDARY_TG, CORA_TG):
        assert texts_to(service, worker)[0].startswith("AKUTT – fra Ola Berg.")
    assert any("116 123" in t for t in texts_to(service, YOUTH_TG))


def test_it_resumes_relaying_when_the_period_is_extended(service, clock):
    c = programme(service, until="2026-10-02")
    tettpa(service, "youth", "period", str(c.youth), "--until", "2027-06-30")
    writes(service, tg(YOUTH_TG, "Hei igjen"))
    assert texts_to(service, PRIMARY_TG)[0].startswith("Fra Ola Berg:")
