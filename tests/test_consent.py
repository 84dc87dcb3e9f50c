"""Consent and the rights information: shown at linking in the person's language, recorded and withdrawn by
the CLI, the dashboard and the worker on Telegram, each a log entry; without `parents` consent a parent is
not told about the youth's meetings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot import consent, linking, roster
from models.people import Person
from scheduling import meetings
from tests.browser import csrf_of, logged_in, staff_cast
from tests.personas import PARENT_TG, PRIMARY_TG, YOUTH_TG, cast, texts_to, tg
from tests.programme import tettpa, tettpa_json

OSLO = ZoneInfo("Europe/Oslo")


def _link(service, person_id: int, user_id: int) -> str:
    with service.tx() as session:
        invited = roster._invite(session, session.get(Person, person_id), secret_key=service.settings.secret_key,
                                 now=service.now())
    with service.tx() as session:
        linking.start(service, session, tg(user_id, f"/start {invited.code}"), invited.code)
    return "\n".join(texts_to(service, user_id))


def test_it_gives_the_rights_information_when_a_youth_or_parent_links_in_their_language(service):
    c = cast(service, link=False, youth_language="en")
    youth = _link(service, c.youth, 7001)
    assert "privacy" in youth and "withdraw" in youth.lower() and "Datatilsynet" in youth
    parent = _link(service, c.parent, 7002)
    assert "foresatt" in parent and "Datatilsynet" in parent
    worker = _link(service, c.primary, 7003)
    assert "Datatilsynet" not in worker


def test_it_records_and_withdraws_consent_from_the_command_line_each_in_the_log(service):
    c = cast(service)
    made = tettpa_json(service, "consent", "record", "--youth", str(c.youth), "--by", "guardian", "--parent",
                       str(c.parent), "--scope", "contact,wakeup,parents", "--how", "signed", "--at", "2026-04-10")
    assert set(made) >= {"id"}
    with service.tx() as session:
        assert sorted(consent.current(session, c.youth)) == ["contact", "parents", "wakeup"]
    tettpa_json(service, "consent", "withdraw", "--youth", str(c.youth), "--scope", "parents")
    with service.tx() as session:
        assert sorted(consent.current(session, c.youth)) == ["contact", "wakeup"]
    log = json.loads(tettpa(service, "log", "export", "--format", "json").stdout)["entries"]
    assert [e["text"] for e in log if e["kind"] == "consent"] == [
        "Samtykke registrert (contact, wakeup, parents), gitt av foresatt 2026-04-10",
        "Samtykke trukket tilbake (parents)"]


@pytest.mark.parametrize(("args", "field"), [
    (["--youth", "3", "--by", "youth", "--scope", "photos"], "scope"),
    (["--youth", "3", "--by", "aunt", "--scope", "contact"], "by"),
    (["--youth", "3", "--by", "youth", "--scope", "contact", "--how", "telepathy"], "how"),
    (["--youth", "1", "--by", "youth", "--scope", "contact"], "youth"),
    (["--youth", "3", "--by", "guardian", "--parent", "1", "--scope", "contact"], "parent"),
    (["--youth", "3", "--by", "youth", "--scope", "contact", "--at", "soon"], "at"),
])
def test_it_refuses_a_bad_consent_naming_the_field(service, args, field):
    cast(service)
    result = tettpa(service, "consent", "record", *args, ok=False)
    assert result.exit_code != 0 and result.stderr.startswith(f"error: {field}:"), result.stderr


def test_it_tells_a_parent_of_meetings_only_with_the_parents_consent(service, clock):
    c = cast(service)
    with service.tx() as session:
        meetings.add_meeting(session, service, youth_id=c.youth, worker_id=c.primary, place="Kafé Sentrum",
                             at=datetime(2026, 11, 25, 14, tzinfo=OSLO).astimezone(UTC), remind="2h",
                             include_parent=True)
    clock.at = datetime(2026, 11, 25, 12, tzinfo=OSLO).astimezone(UTC)
    meetings.run_due_reminders(service)
    assert texts_to(service, PARENT_TG) == [] and len(texts_to(service, YOUTH_TG)) == 1


def test_it_lets_the_worker_record_consent_on_telegram(service):
    c = cast(service)
    with service.tx() as session:
        kari = session.get(Person, c.primary)
        consent.from_telegram(service, session, kari, tg(PRIMARY_TG, "/samtykke Ola Berg kontakt vekking"),
                              "Ola Berg kontakt vekking")
        assert sorted(consent.current(session, c.youth)) == ["contact", "wakeup"]
        consent.from_telegram(service, session, kari, tg(PRIMARY_TG, "/samtykke trekk Ola vekking"),
                              "trekk Ola vekking")
        assert sorted(consent.current(session, c.youth)) == ["contact"]
    assert texts_to(service, PRIMARY_TG)[-1] == "Samtykket er registrert for Ola Berg."


def test_it_records_consent_from_the_youths_page(service):
    s = staff_cast(service)
    http = logged_in(service, "primary")
    page = http.get(f"/dashboard/youth/{s.youth}")
    assert 'data-field="consent">ikke registrert' in page.text
    posted = http.post(f"/dashboard/youth/{s.youth}/consent", data={
        "csrf": csrf_of(page.text), "scope": ["contact", "parents"], "by": "youth", "how": "signed",
        "action": "record"})
    assert posted.status_code == 303
    shown = http.get(f"/dashboard/youth/{s.youth}").text
    assert "kontakt (" in shown and "foresatte får vite (" in shown
    bad = http.post(f"/dashboard/youth/{s.youth}/consent", data={"csrf": csrf_of(page.text), "action": "record"})
    assert bad.status_code == 400
    assert logged_in(service, "outsider").post(f"/dashboard/youth/{s.youth}/consent", data={
        "csrf": csrf_of(page.text), "scope": "contact"}).status_code in (403, 404)


def test_it_names_samtykke_in_the_workers_help(service):
    from bot.i18n import Lang
    from handlers.telegram.commands import worker_help

    assert "/samtykke" in worker_help(Lang("nb")) and "/samtykke" in worker_help(Lang("en"))
