"""School holidays: added by hand or imported from the county's ICS or CSV calendar; no wake-ups then."""

from __future__ import annotations

import json
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from bot.errors import InputError
from bot.office_hours import public_holiday_name
from models.schedules import holidays_between
from scheduling.school_holidays import add_holiday, import_file
from tests.e2e import Deployment

OSLO = ZoneInfo("Europe/Oslo")


def closed_reason(session, day: date) -> str | None:
    """Why there is no wake-up that day, as scheduling/wakeups.py decides it: a public holiday first."""
    school = holidays_between(session, day, day)
    return public_holiday_name(day) or (school[0].name if school else None)

ICS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Viken fylkeskommune//Skolerute//NO\r
BEGIN:VEVENT\r
UID:hostferie-2026@skolerute\r
DTSTAMP:20260101T000000Z\r
DTSTART;VALUE=DATE:20261005\r
DTEND;VALUE=DATE:20261010\r
SUMMARY:Høstferie\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:jul-2026@skolerute\r
DTSTAMP:20260101T000000Z\r
DTSTART;VALUE=DATE:20261221\r
DTEND;VALUE=DATE:20270104\r
SUMMARY:Juleferie for elever i videregående skole med en lang beskrivelse som bret\r
 tes over to linjer\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:plan-2026@skolerute\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=Europe/Oslo:20261116T000000\r
DTEND;TZID=Europe/Oslo:20261118T000000\r
SUMMARY:Planleggingsdager\r
END:VEVENT\r
END:VCALENDAR\r
"""

CSV = """Navn;Fra;Til
Vinterferie;22.02.2027;26.02.2027
Påskeferie;2027-03-22;2027-03-29
"""


def test_it_says_why_there_are_no_wakeups_on_a_day(service, clock):
    with service.tx() as session:
        holiday, new = add_holiday(session, start=date(2026, 10, 5), end=date(2026, 10, 9), name=" Høstferie ",
                                   now=clock.at)
        again, new_again = add_holiday(session, start=date(2026, 10, 5), end=date(2026, 10, 9), name="Høstferie",
                                       now=clock.at)
        assert new and not new_again and again.id == holiday.id
        assert closed_reason(session, date(2026, 10, 5)) == "Høstferie"
        assert closed_reason(session, date(2026, 10, 9)) == "Høstferie"
        assert closed_reason(session, date(2026, 10, 10)) is None
        assert closed_reason(session, date(2026, 5, 17)) == "Grunnlovsdag"
        assert closed_reason(session, date(2026, 11, 22)) is None  # an ordinary Sunday


def test_it_imports_an_ics_calendar_once(service, clock):
    with service.tx() as session:
        first = import_file(session, data=ICS.encode(), filename="skolerute.ics", now=clock.at, tz=OSLO)
        again = import_file(session, data=ICS.encode(), filename="skolerute.ics", now=clock.at, tz=OSLO)
        assert len(first.added) == 3 and again.added == [] and sorted(again.existing) == sorted(first.added)
        assert closed_reason(session, date(2026, 10, 9)) == "Høstferie"
        assert closed_reason(session, date(2026, 10, 10)) is None  # DTEND is not included
        assert closed_reason(session, date(2027, 1, 3)).startswith("Juleferie for elever")
        assert closed_reason(session, date(2027, 1, 4)) is None
        assert "bret\u200btes" not in closed_reason(session, date(2026, 12, 22))
        assert closed_reason(session, date(2026, 11, 17)) == "Planleggingsdager"
        assert closed_reason(session, date(2026, 11, 18)) is None  # ends at midnight


def test_it_imports_a_csv_with_semicolons_and_norwegian_dates(service, clock):
    with service.tx() as session:
        result = import_file(session, data=CSV.encode("cp1252"), filename="ferier.csv", now=clock.at, tz=OSLO)
        assert len(result.added) == 2
        assert closed_reason(session, date(2027, 2, 24)) == "Vinterferie"
        assert closed_reason(session, date(2027, 3, 24)) == "Påskeferie"
        assert closed_reason(session, date(2027, 3, 29)) == "Andre påskedag"  # the public holiday is named first
    with service.tx() as session:
        plain = import_file(session, data=b"2027-06-19,2027-08-16,Sommerferie\n", filename="x.csv", now=clock.at,
                            tz=OSLO)
        assert len(plain.added) == 1 and closed_reason(session, date(2027, 7, 1)) == "Sommerferie"


@pytest.mark.parametrize("data, problem", [
    (b"Navn;Fra;Til\nVinterferie;31.02.2027;01.03.2027\n", "line 2"),
    (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "no holidays"),
    (b"name,from,until\nLang,2027-01-01,2027-12-31\n", "too long"),
])
def test_it_refuses_a_bad_file_saying_what_is_wrong(service, clock, data, problem):
    with pytest.raises(InputError) as err, service.tx() as session:
        import_file(session, data=data, filename="ferier.csv" if b"VCALENDAR" not in data else "f.ics",
                    now=clock.at, tz=OSLO)
    assert err.value.field in ("file", "until") and problem in err.value.message


def test_it_adds_lists_and_imports_holidays_from_the_command_line(tmp_path, database_url):
    d = Deployment(tmp_path, database_url)
    made = d.add("holiday", "add", "--from", "2026-10-05", "--until", "2026-10-09", "--name", "Høstferie")
    assert set(made) == {"id"}
    (tmp_path / "skolerute.ics").write_text(ICS)
    imported = json.loads(d.cli("holiday", "import", str(tmp_path / "skolerute.ics"), "--json").stdout)
    assert imported["added"] == 2 and imported["existing"] == 1 and made["id"] in imported["ids"]
    listed = json.loads(d.cli("holiday", "list", "--json").stdout)["holidays"]
    assert [h["name"] for h in listed][:2] == ["Høstferie", "Planleggingsdager"]
    bad = d.cli("holiday", "add", "--from", "2026-10-09", "--until", "2026-10-05", "--name", "X", check=False)
    assert bad.returncode != 0 and "until" in bad.stderr and "Traceback" not in bad.stderr
    bad = d.cli("holiday", "add", "--from", "5. oktober", "--until", "2026-10-05", "--name", "X", check=False)
    assert bad.returncode != 0 and "from" in bad.stderr
    missing = d.cli("holiday", "import", str(tmp_path / "nope.csv"), check=False)
    assert missing.returncode != 0 and "file" in missing.stderr
