"""The lists a coordinator needs: workers and youths (filtered), edits that refuse bad values naming the field,
deactivation, and worker cards that count backup work too."""

from __future__ import annotations

from datetime import date

import pytest

from bot import period, units
from bot.contactlog import record
from models.people import Person
from tests.browser import csrf_of, logged_in, staff_cast
from tests.personas import PRIMARY_TG, SECONDARY_TG, YOUTH_TG, cast, texts_to, tg, writes
from tests.programme import tettpa, tettpa_json


def test_it_lists_workers_with_the_youths_they_are_primary_and_secondary_for(service):
    c = cast(service)
    workers = {w["id"]: w for w in tettpa_json(service, "worker", "list")["workers"]}
    assert workers[c.primary]["primary_for"] == 1 and workers[c.secondary]["secondary_for"] == 1
    assert workers[c.primary]["name"] == "Kari Nordmann" and workers[c.primary]["active"] is True


def test_it_lists_youths_by_unit_worker_status_and_period(service):
    with service.tx() as session:
        vest = units.add_unit(session, name="Vestfold", now=service.now()).id
    c = cast(service)
    nina = tettpa_json(service, "youth", "add", "--name", "Nina", "--primary", str(c.secondary),
                       "--period-until", "2026-10-02")["id"]
    tettpa_json(service, "youth", "status", str(c.youth), "OTEV", "--from", "2026-09-01")
    with service.tx() as session:
        period.set_period(session, session.get(Person, c.youth), start=None, end=date(2027, 6, 30))

    def ids(*args):
        return [y["id"] for y in tettpa_json(service, "youth", "list", *args)["youths"]]

    assert ids() == [c.youth, nina] and ids("--unit", str(vest)) == [c.youth, nina]
    assert ids("--worker", str(c.primary)) == [c.youth] and ids("--worker", str(c.secondary)) == [c.youth, nina]
    assert ids("--status", "OTEV") == [c.youth] and ids("--period", "ended") == [nina]
    assert ids("--period", "running") == [c.youth]
    assert tettpa(service, "youth", "list", "--period", "soon", ok=False).stderr.startswith("error: period:")
    assert tettpa(service, "youth", "list", "--status", "XX", ok=False).stderr.startswith("error: code:")


def test_it_edits_a_youth_and_a_worker(service):
    c = cast(service)
    tettpa_json(service, "youth", "edit", str(c.youth), "--name", "Ola Nordby", "--language", "nn", "--primary",
                str(c.secondary), "--secondary", str(c.primary), "--phone", "412 34 567")
    tettpa_json(service, "worker", "edit", str(c.primary), "--email", "KARI@ny.example", "--role", "coordinator")
    with service.tx() as session:
        ola, kari = session.get(Person, c.youth), session.get(Person, c.primary)
        assert (ola.name, ola.language, ola.primary_id, ola.secondary_id, ola.phone) == \
            ("Ola Nordby", "nn", c.secondary, c.primary, "+4741234567")
        assert (kari.email, kari.role) == ("kari@ny.example", "coordinator")


@pytest.mark.parametrize(("args", "field"), [
    (["youth", "edit", "3", "--phone", "123"], "phone"),
    (["youth", "edit", "3", "--language", "xx"], "language"),
    (["youth", "edit", "3", "--primary", "99"], "primary"),
    (["youth", "edit", "3", "--secondary", "1"], "secondary"),
    (["youth", "edit", "3", "--name", "  "], "name"),
    (["youth", "edit", "3", "--unit", "99"], "unit"),
    (["youth", "edit", "1", "--name", "X"], "id"),
    (["worker", "edit", "1", "--email", "nope"], "email"),
    (["worker", "edit", "2", "--email", "kari@ot.example"], "email"),
    (["worker", "edit", "1", "--role", "boss"], "role"),
    (["worker", "deactivate", "3"], "id"),
])
def test_it_refuses_a_bad_edit_naming_the_field(service, args, field):
    cast(service)
    result = tettpa(service, *args, ok=False)
    assert result.exit_code != 0 and result.stderr.startswith(f"error: {field}:"), result.stderr


def test_it_sends_a_deactivated_workers_youths_to_the_other_worker(service):
    c = cast(service)
    assert tettpa_json(service, "worker", "deactivate", str(c.primary)) == {"id": c.primary, "active": False}
    writes(service, tg(YOUTH_TG, "Hei"))
    assert texts_to(service, PRIMARY_TG) == [] and texts_to(service, SECONDARY_TG)[0].startswith("Fra Ola Berg:")
    assert [w["id"] for w in tettpa_json(service, "worker", "list")["workers"]] == [c.secondary]
    assert len(tettpa_json(service, "worker", "list", "--all")["workers"]) == 2


def test_it_answers_a_deactivated_youth_with_the_hand_over(service):
    c = cast(service)
    tettpa_json(service, "youth", "deactivate", str(c.youth))
    writes(service, tg(YOUTH_TG, "Hei"))
    assert texts_to(service, PRIMARY_TG) == []
    assert texts_to(service, YOUTH_TG)[0].startswith("Oppfølgingen din i Tett på er avsluttet")
    assert tettpa_json(service, "youth", "list")["youths"] == []


def test_it_counts_backup_work_on_the_worker_cards(service):
    s = staff_cast(service)
    with service.tx() as session:
        for _ in range(3):  # Per answers for Ola, whose primary is Kari
            record(session, service.settings, at=service.now(), youth_id=s.youth, party="worker",
                   worker_id=s.secondary, channel="telegram", direction="out", kind="message", text="")
    page = logged_in(service, "coordinator").get("/dashboard").text
    per = page[page.index("<h3>Per Hansen"):]
    assert '<dd data-figure="backup">3</dd>' in per[:per.index("</section>")]


def test_it_lets_a_coordinator_list_edit_and_deactivate_on_the_dashboard(service):
    s = staff_cast(service)
    cora = logged_in(service, "coordinator")
    page = cora.get("/dashboard/people")
    assert page.status_code == 200 and "Ola Berg" in page.text and "fast for 1 ungdom" in page.text
    form = cora.get(f"/dashboard/people/{s.youth}")
    assert form.status_code == 200
    saved = cora.post(f"/dashboard/people/{s.youth}", data={
        "csrf": csrf_of(form.text), "name": "Ola Nordby", "phone": "", "language": "nn", "primary": str(s.secondary),
        "secondary": str(s.primary), "action": "save"})
    assert saved.status_code == 303
    with service.tx() as session:
        ola = session.get(Person, s.youth)
        assert (ola.name, ola.language, ola.primary_id, ola.secondary_id) == ("Ola Nordby", "nn", s.secondary, s.primary)
    bad = cora.post(f"/dashboard/people/{s.youth}", data={
        "csrf": csrf_of(form.text), "name": "Ola", "phone": "123", "language": "nb", "primary": str(s.primary),
        "action": "save"})
    assert bad.status_code == 400 and "«phone»" in bad.text
    with service.tx() as session:
        assert session.get(Person, s.youth).name == "Ola Nordby"
    gone = cora.post(f"/dashboard/people/{s.outsider}", data={"csrf": csrf_of(form.text), "action": "deactivate"})
    listed = cora.get("/dashboard/people").text
    assert gone.status_code == 303 and "Otto Utenfor" not in listed[listed.index('data-list="workers"'):
                                                                    listed.index('data-list="youths"')]
    assert cora.get("/dashboard/people", params={"period": "soon"}).status_code == 400
    kari = logged_in(service, "primary")
    assert kari.get("/dashboard/people").status_code == 403
    assert kari.get(f"/dashboard/people/{s.youth}").status_code == 404


def test_it_includes_the_programme_in_a_youths_data_export(service):
    c = cast(service)
    tettpa_json(service, "youth", "status", str(c.youth), "OTOV", "--from", "2026-04-15")
    tettpa_json(service, "youth", "period", str(c.youth), "--until", "2026-10-02")
    tettpa_json(service, "consent", "record", "--youth", str(c.youth), "--by", "youth", "--scope", "contact")
    exported = tettpa_json(service, "person", "export", str(c.youth))["programme"]
    assert exported["status"] == [{"code": "OTOV", "from": "2026-04-15"}] and exported["consent"] == ["contact"]
    assert exported["period"]["until"] == "2026-10-02" and exported["active"] is True


def test_it_leaves_deactivated_people_off_the_overview_and_tells_them_nothing_more(service, clock):
    s = staff_cast(service)
    tettpa_json(service, "youth", "period", str(s.other_youth), "--until", "2026-11-25")
    tettpa_json(service, "youth", "deactivate", str(s.other_youth))
    tettpa_json(service, "worker", "deactivate", str(s.outsider))
    overview = logged_in(service, "coordinator").get("/dashboard").text
    assert "Nina Nilsen" not in overview and "<h3>Otto Utenfor" not in overview and "Ola Berg" in overview
    clock.at = clock.at.replace(hour=10)
    assert period.sweep(service) == 0
    bad = tettpa(service, "youth", "add", "--name", "X", "--primary", str(s.primary), "--period-from", "2026-04-01",
                 ok=False)
    assert bad.stderr.startswith("error: period-until:")
