"""The funder's report: a seeded year's figures through `tettpa report` (JSON, CSV, PDF) and the dashboard,
aggregates only, counts under 5 shown as "under 5" in the PDF, with a chart."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import select

from bot import period, relay, roster, status_codes, units
from bot.contactlog import record
from models.conversations import Conversation
from models.people import Person
from models.schedules import CONFIRMED, DONE, UNCONFIRMED, Meeting, Wakeup, WakeupPlan
from tests.browser import logged_in, staff_cast
from tests.pdfs import pdf_text, render_pages
from tests.personas import YOUTH_TG, tg, writes
from tests.programme import tettpa, tettpa_json

OSLO = ZoneInfo("Europe/Oslo")
# Vestfold's nine youths at the end of the period: six in activity (OTAR ×4, OTEV ×2), two followed (OTOV),
# one said no (OTNO); one youth in Telemark (OTSY) is not Vestfold's.
CODES = ["OTAR", "OTAR", "OTAR", "OTAR", "OTEV", "OTEV", "OTOV", "OTOV", "OTNO"]


def oslo(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=OSLO).astimezone(UTC)


def seeded_year(service, clock):
    """Kari's Vestfold: Ola and eight more youths followed April → autumn break, a week of traffic in May."""
    s = staff_cast(service)
    with service.tx() as session:
        vest = units.add_unit(session, name="Tett på Vestfold", ot_contact="OT Vestfold", now=service.now()).id
        tele = units.add_unit(session, name="Tett på Telemark", now=service.now()).id
    kw = {"now": service.now(), "secret_key": service.settings.secret_key}
    with service.tx() as session:
        for person_id in (s.coordinator, s.primary, s.secondary, s.youth, s.other_youth, s.outsider):
            units.place(session, session.get(Person, person_id), vest)
        youths = [s.youth] + [roster.add_youth(session, name=f"Ungdom {i}", primary=s.primary, unit=vest, **kw)
                              .person.id for i in range(7)] + [s.other_youth]
        ida = roster.add_youth(session, name="Ida Dal", primary=s.outsider, unit=tele, **kw).person.id
        for youth_id, code in zip(youths, CODES, strict=True):
            period.set_period(session, session.get(Person, youth_id), start=date(2026, 4, 1), end=date(2026, 10, 2))
            status_codes.set_status(session, service.settings, youth_id=youth_id, code="OTUK", now=service.now(),
                                    start=date(2026, 4, 1))
            status_codes.set_status(session, service.settings, youth_id=youth_id, code=code, now=service.now(),
                                    start=date(2026, 9, 1))
        period.set_period(session, session.get(Person, ida), start=date(2026, 4, 1), end=date(2026, 10, 2))
        status_codes.set_status(session, service.settings, youth_id=ida, code="OTSY", now=service.now(),
                                start=date(2026, 5, 1))
        # Contacts in May: a message in office hours, one on a Saturday evening, a call, a note; Ida's too.
        for at, channel, kind, youth_id in (
            ("2026-05-04T10:00", "telegram", "message", s.youth), ("2026-05-09T21:00", "sms", "message", s.youth),
            ("2026-05-05T11:00", "call", "call", youths[1]), ("2026-05-06T12:00", "manual", "note", youths[2]),
            ("2026-05-06T12:05", "telegram", "auto_reply", youths[2]), ("2026-05-06T12:00", "sms", "message", ida),
        ):
            record(session, service.settings, at=oslo(at), youth_id=youth_id, party="youth", channel=channel,
                   direction="in", kind=kind, text="")
        plan = WakeupPlan(youth_id=s.youth, time_of_day="07:00", days="mon-fri", channel="telegram",
                          created_at=service.now(), updated_at=service.now())
        session.add(plan)
        session.flush()
        for day, status in ((4, CONFIRMED), (5, CONFIRMED), (6, UNCONFIRMED)):
            due = oslo(f"2026-05-0{day}T07:00")
            session.add(Wakeup(plan_id=plan.id, youth_id=s.youth, day=date(2026, 5, day), due_at=due, status=status,
                               sent_at=due))
        for day, status in ((7, DONE), (8, DONE), (11, "cancelled")):
            session.add(Meeting(youth_id=s.youth, worker_id=s.primary, at=oslo(f"2026-05-{day:02}T14:00"),
                                place="Kafé", remind="2h", status=status, ask_at=oslo(f"2026-05-{day:02}T15:00"),
                                created_at=service.now(), updated_at=service.now()))
    # Ola writes in the period and Kari answers ten minutes later: the median time to the first answer.
    clock.at = oslo("2026-06-01T10:00")
    writes(service, tg(YOUTH_TG, "Hei"))
    clock.at = oslo("2026-06-01T10:10")
    with service.tx() as session:
        conv = session.exec(select(Conversation).where(Conversation.youth_id == s.youth)).one()
        relay.take(service, session, session.get(Person, s.primary), conv)
    clock.at = oslo("2026-11-23T10:00")
    return vest, tele, s


def test_it_counts_a_seeded_year_for_the_funder(service, clock):
    vest, tele, s = seeded_year(service, clock)
    data = tettpa_json(service, "report", "--from", "2026-01-01", "--until", "2026-10-31", "--unit", str(vest))
    assert data["youths"] == 9 and data["unit"] == vest
    assert data["contacts"] == 5  # the auto reply is not a contact; Ida's message is Telemark's
    assert data["by_channel"] == {"telegram": 2, "sms": 1, "call": 1, "meeting": 0, "manual": 1}
    assert data["by_kind"]["auto_reply"] == 1 and data["by_kind"]["message"] == 3
    assert data["after_hours_share"] == 0.2  # the Saturday evening, 1 of 5
    assert data["median_first_answer_seconds"] == 600
    assert data["wakeups"] == {"sent": 3, "confirmed": 2} and data["meetings_held"] == 2
    assert data["status"] == {"OTAR": 4, "OTEV": 2, "OTNO": 1, "OTOV": 2}
    assert data["status_groups"]["I aktivitet"] == 6 and data["in_activity_share"] == round(6 / 9, 3)
    everyone = tettpa_json(service, "report", "--from", "2026-01-01", "--until", "2026-10-31")
    assert everyone["youths"] == 10 and everyone["status"]["OTSY"] == 1
    before = tettpa_json(service, "report", "--from", "2026-01-01", "--until", "2026-06-30", "--unit", str(vest))
    assert before["status"] == {"OTUK": 9}  # the status at the end of the period asked for
    rows = dict(csv.reader(io.StringIO(tettpa(service, "report", "--from", "2026-01-01", "--until", "2026-10-31",
                                              "--unit", str(vest), "--format", "csv").stdout)))
    assert rows["youths"] == "9" and rows["by_channel.sms"] == "1" and rows["status.OTAR"] == "4"
    raw = json.dumps(data)
    assert "Ola" not in raw and "Kari" not in raw


def test_it_prints_a_pdf_with_under_5_and_a_chart(service, clock, tmp_path):
    vest, _tele, _s = seeded_year(service, clock)
    target = tmp_path / "rapport.pdf"
    tettpa(service, "report", "--from", "2026-01-01", "--until", "2026-10-31", "--unit", str(vest), "--format", "pdf",
           "--output", str(target))
    body = target.read_bytes()
    pages, text = pdf_text(body)
    assert pages == 1 and "Rapport til tilskuddsgiver" in text and "Tett på Vestfold" in text
    assert "Ungdommer fulgt opp 9" in text and "OTAR I arbeid 4" not in text and "OTAR I arbeid under 5" in text
    assert "I aktivitet 6" in text and "Kontakter under 5" not in text and "Kontakter 5" in text
    assert "Ola" not in text and "Kari" not in text and "Ungdom 1" not in text
    render_pages(body, "report")


def test_it_shows_the_report_to_coordinators_on_the_dashboard(service, clock):
    vest, tele, s = seeded_year(service, clock)
    cora = logged_in(service, "coordinator")
    page = cora.get("/dashboard/report", params={"from": "2026-01-01", "until": "2026-10-31"})
    assert page.status_code == 200
    assert '<dd data-figure="youths">9</dd>' in page.text and '<dd data-figure="contacts">5</dd>' in page.text
    assert "<svg" in page.text and "OTAR I arbeid: 4" in page.text
    pdf = cora.get("/dashboard/report.pdf", params={"from": "2026-01-01", "until": "2026-10-31"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert cora.get("/dashboard/report", params={"unit": tele}).status_code == 404  # not Cora's unit
    assert logged_in(service, "primary").get("/dashboard/report").status_code == 403
    assert cora.get("/dashboard/report", params={"from": "2026-12-01", "until": "2026-01-01"}).status_code == 400


def test_it_refuses_a_bad_report_request_naming_the_field(service):
    staff_cast(service)
    for args, field in ((["--from", "2026-12-01", "--until", "2026-01-01"], "until"),
                        (["--from", "2026-01-01", "--until", "2026-12-01", "--format", "xls"], "format"),
                        (["--from", "2026-01-01", "--until", "2026-12-01", "--unit", "99"], "unit"),
                        (["--from", "jan", "--until", "2026-12-01"], "from")):
        result = tettpa(service, "report", *args, ok=False)
        assert result.exit_code != 0 and result.stderr.startswith(f"error: {field}:"), result.stderr
