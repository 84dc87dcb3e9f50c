"""The dashboard's activities page: the form invites, the list shows the answers by name (only the viewer's
youths). In-process over Starlette's TestClient, then in Chromium against `tettpa serve`."""

from __future__ import annotations

from sqlmodel import select

from bot import activities
from models.activities import ActivityInvite
from tests.activities_kit import press
from tests.browser import PASSWORD, chromium, csrf_of, logged_in, screenshot, staff_cast
from tests.e2e import Deployment
from tests.test_dashboard_browser import NORWAY, _log_in, telegram  # noqa: F401  (the Telegram stand-in fixture)


def test_it_invites_from_the_dashboard_form_and_lists_the_answers(service):
    s = staff_cast(service)
    http = logged_in(service, "primary")
    page = http.get("/dashboard/activities")
    assert page.status_code == 200 and "Ingen aktiviteter ennå." in page.text
    made = http.post("/dashboard/activities", data={
        "csrf": csrf_of(page.text), "title": "Bowling", "at": "2026-11-27T17:00", "place": "Bowlinghallen",
        "who": "chosen", "youth": [str(s.youth), str(s.other_youth)], "respond_by": ""})
    assert made.status_code == 303
    with service.tx() as session:
        invited = [i.youth_id for i in session.exec(select(ActivityInvite))]
    assert invited == [s.youth]  # Nina is not Kari's: she cannot be invited from Kari's page
    with service.tx() as session:
        (act,) = [a.id for a in activities.upcoming(session)]
    press(service, s.youth, f"act:{act}:yes")
    listed = http.get("/dashboard/activities").text
    assert 'data-answer="yes">Ola Berg<' in listed
    other = logged_in(service, "outsider").get("/dashboard/activities").text
    assert "Ola Berg" not in other and "Bowling" not in other


def test_it_names_the_field_of_a_bad_form(service):
    staff_cast(service)
    http = logged_in(service, "primary")
    page = http.get("/dashboard/activities")
    bad = http.post("/dashboard/activities", data={"csrf": csrf_of(page.text), "title": "Bowling", "at": "",
                                                   "place": "Hallen", "who": "mine"})
    assert bad.status_code == 400 and "Sjekk feltet at" in bad.text


def test_it_makes_an_activity_in_the_browser_and_shows_who_answered(tmp_path, telegram):  # noqa: F811
    d = Deployment(tmp_path, f"sqlite:///{tmp_path / 'activities.db'}", telegram, telegram.url)
    kari = d.add("worker", "add", "--name", "Kari Nordmann", "--email", "kari@ot.example")
    ola = d.add("youth", "add", "--name", "Ola Berg", "--primary", str(kari["id"]))
    d.add("youth", "add", "--name", "Siri Lund", "--primary", str(kari["id"]), "--phone", "41234567")
    d.cli("worker", "set-password", str(kari["id"]), stdin=PASSWORD + "\n")
    d.start()
    try:
        with chromium() as browser:
            page = browser.new_page(**NORWAY)
            _log_in(page, d.url, "kari@ot.example")
            page.get_by_role("link", name="Aktiviteter").click()
            page.wait_for_url("**/dashboard/activities")
            page.fill("input[name=title]", "Bowling")
            page.fill("input[name=at]", "2030-05-02T17:00")
            page.fill("input[name=place]", "Bowlinghallen")
            page.get_by_role("button", name="Send invitasjonene").click()
            page.wait_for_url("**/dashboard/activities?saved=*")
            row = page.locator("[data-list=activities] li").first
            assert "Bowling" in row.inner_text()
            assert row.locator("[data-answer=unanswered]").inner_text() == "Ola Berg, Siri Lund"
            screenshot(page, "activities")
        shown = d.add("activity", "show", "1")
        assert (shown["yes"], shown["unanswered"]) == ([], [ola["id"], ola["id"] + 1])
    finally:
        d.stop()


def test_it_lets_a_coordinator_invite_one_workers_youths(service):
    s = staff_cast(service)
    http = logged_in(service, "coordinator")
    page = http.get("/dashboard/activities")
    assert 'name="worker"' in page.text
    made = http.post("/dashboard/activities", data={
        "csrf": csrf_of(page.text), "title": "Lunsj", "at": "2026-11-27T12:00", "place": "Kafé Sentrum",
        "who": "worker", "worker": str(s.primary)})
    assert made.status_code == 303
    with service.tx() as session:
        assert [i.youth_id for i in session.exec(select(ActivityInvite))] == [s.youth]
