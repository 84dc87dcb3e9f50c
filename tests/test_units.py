"""Units: people belong to one, a coordinator sees their unit's youths, an admin every unit, and an existing
database migrates to one unit."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text
from sqlmodel import select

from bot import units
from bot.events import Incoming
from models.conversations import Conversation
from models.db import make_engine
from models.migrate import alembic_config
from models.people import Person
from models.programme import Membership, Unit
from tests.browser import EMAILS, log_in, password_hash
from tests.browser import client as web_client
from tests.personas import YOUTH_TG, cast, texts_to, tg, writes
from tests.programme import tettpa, tettpa_json


def _two_units(service):
    """Vestfold: Kari (coordinator), Per, Ola; Telemark: Tor (coordinator), Ida; Ada the admin."""
    vest = tettpa_json(service, "unit", "add", "--name", "Tett på Vestfold", "--ot-contact", "OT Vestfold, 33 00 00 00")
    tele = tettpa_json(service, "unit", "add", "--name", "Tett på Telemark")
    add = lambda *a: tettpa_json(service, "worker", "add", *a)["id"]  # noqa: E731
    people = {
        "kari": add("--name", "Kari Nordmann", "--role", "coordinator", "--unit", str(vest["id"]),
                    "--email", EMAILS["coordinator"]),
        "per": add("--name", "Per Hansen", "--unit", str(vest["id"]), "--email", EMAILS["primary"]),
        "tor": add("--name", "Tor Telemark", "--role", "coordinator", "--unit", str(tele["id"]),
                   "--email", EMAILS["secondary"]),
        "ada": add("--name", "Ada Admin", "--role", "admin", "--email", EMAILS["outsider"]),
    }
    people["ola"] = tettpa_json(service, "youth", "add", "--name", "Ola Berg", "--primary", str(people["per"]))["id"]
    people["ida"] = tettpa_json(service, "youth", "add", "--name", "Ida Dal", "--primary", str(people["tor"]))["id"]
    with service.tx() as session:
        for key in ("kari", "per", "tor", "ada"):
            session.get(Person, people[key]).password_hash = password_hash()
    return vest["id"], tele["id"], people


def test_it_adds_a_unit_and_puts_a_youth_in_their_primary_workers_unit(service):
    vest, tele, p = _two_units(service)
    with service.tx() as session:
        assert session.get(Unit, vest).ot_contact == "OT Vestfold, 33 00 00 00"
        assert session.get(Membership, p["ola"]).unit_id == vest
        assert session.get(Membership, p["ida"]).unit_id == tele
        assert session.get(Membership, p["ada"]) is None  # an admin belongs to every unit, so to none


def test_it_refuses_a_worker_without_a_unit_when_there_are_several(service):
    _two_units(service)
    result = tettpa(service, "worker", "add", "--name", "Uten Enhet", ok=False)
    assert result.exit_code != 0 and result.stderr.startswith("error: unit:")
    assert tettpa(service, "worker", "add", "--name", "X", "--unit", "99", ok=False).stderr.startswith("error: unit:")
    assert tettpa(service, "unit", "add", "--name", "Tett på Vestfold", ok=False).stderr.startswith("error: name:")


def test_it_puts_everyone_in_the_only_unit_when_none_is_named(service):
    only = tettpa_json(service, "unit", "add", "--name", "OT Agder")["id"]
    kari = tettpa_json(service, "worker", "add", "--name", "Kari")["id"]
    with service.tx() as session:
        assert session.get(Membership, kari).unit_id == only


def test_it_shows_a_coordinator_their_units_youths_and_an_admin_every_unit(service):
    vest, tele, p = _two_units(service)
    with service.tx() as session:
        kari, ada = session.get(Person, p["kari"]), session.get(Person, p["ada"])
        ola, ida = session.get(Person, p["ola"]), session.get(Person, p["ida"])
        assert units.may_see(session, kari, ola) and not units.may_see(session, kari, ida)
        assert units.may_see(session, ada, ola) and units.may_see(session, ada, ida)

    def dashboard(who: str):
        http = web_client(service)
        assert log_in(http, EMAILS[who]).status_code == 303
        return http

    kari_web = dashboard("coordinator")
    overview = kari_web.get("/dashboard").text
    assert "Ola Berg" in overview and "Ida Dal" not in overview and "<h3>Per Hansen" in overview
    assert kari_web.get(f"/dashboard/youth/{p['ida']}").status_code == 404
    assert kari_web.get(f"/dashboard?unit={tele}").status_code == 404
    ada_web = dashboard("outsider")
    everything = ada_web.get("/dashboard").text
    assert "Ola Berg" in everything and "Ida Dal" in everything
    assert f'data-unit="{vest}"' in everything and f'data-unit="{tele}"' in everything  # the overview per unit
    telemark = ada_web.get(f"/dashboard?unit={tele}").text
    assert "Ida Dal" in telemark and "Ola Berg" not in telemark and "Tett på Telemark" in telemark
    assert ada_web.get(f"/dashboard/youth/{p['ida']}").status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_it_migrates_an_existing_database_to_one_unit(database_url, service):
    engine = make_engine(database_url)
    config = alembic_config(engine)
    command.downgrade(config, "0005_inbound_lease")
    with engine.begin() as conn:
        for name, role in (("Kari", "worker"), ("Ola", "youth"), ("Lise", "parent")):
            conn.execute(text("INSERT INTO person (role, name, language, hours, off, sms_opt_out, created_at) "
                              "VALUES (:role, :name, 'nb', '', false, false, '2026-11-23 09:00:00')"),
                         {"role": role, "name": name})
    command.upgrade(config, "heads")
    with service.tx() as session:
        (unit,) = session.exec(select(Unit)).all()
        members = session.exec(select(Membership)).all()
        assert {m.unit_id for m in members} == {unit.id} and len(members) == 2  # the parent follows the youth
    engine.dispose()


def test_it_refuses_an_answer_from_a_coordinator_of_another_unit(service):

    with service.tx() as session:
        units.add_unit(session, name="Vestfold", now=service.now())
    c = cast(service)
    tele = tettpa_json(service, "unit", "add", "--name", "Telemark")["id"]
    tor = tettpa_json(service, "worker", "add", "--name", "Tor", "--role", "coordinator", "--unit", str(tele),
                      "--phone", "+4793333333")["id"]
    writes(service, tg(YOUTH_TG, "Hei"))
    with service.tx() as session:
        conv_id = session.exec(select(Conversation.id)).one()
    writes(service, Incoming(source_key="sms:tor:1", channel="sms", address="+4793333333", text=f"#{conv_id} Hei Ola"))
    assert not any("Hei Ola" in t for t in texts_to(service, YOUTH_TG))
    assert texts_to(service, "+4793333333")[0].startswith("Du er ikke kontaktperson for denne ungdommen")
    with service.tx() as session:
        assert units.unit_id_of(session, session.get(Person, c.youth)) != units.unit_id_of(session, session.get(Person, tor))


def test_it_puts_everyone_added_before_the_first_unit_in_it(service):
    c = cast(service)
    first = tettpa_json(service, "unit", "add", "--name", "OT Agder")["id"]
    tettpa_json(service, "unit", "add", "--name", "OT Rogaland")
    with service.tx() as session:
        members = {m.person_id: m.unit_id for m in session.exec(select(Membership))}
    assert members == {c.primary: first, c.secondary: first, c.youth: first}  # the parent follows the youth
