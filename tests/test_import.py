"""`tettpa import people FILE.csv`: a coordinator brings the year's roster from the OT system's spreadsheet.
All or nothing, each error with its row and field, the same file twice creates nobody twice."""

from __future__ import annotations

import json

import pytest
from sqlmodel import func, select
from typer.testing import CliRunner

from handlers.cli.main import app
from models.people import Person
from tests.conftest import TEST_DATA_KEY

HEADER = "ref;role;name;phone;email;language;unit;primary;secondary;youth;period_from;period_until"
ROSTER = [
    HEADER,
    "k;worker;Kari Nordmann;912 34 567;Kari@OT.example;nb;;;;;;",
    "p;coordinator;Per Hansen;;per@ot.example;nn;;;;;;",
    "o;youth;Ola Berg;+47 934 56 789;;nb;;k;p;;2027-04-01;2027-10-01",
    "m;youth;Mira Jensen;;;en;;kari@ot.example;;;;",
    "l;parent;Lise Berg;95 55 55 55;;uk;;;;o;;",
]


@pytest.fixture
def coordinator(service, monkeypatch, tmp_path):
    """An empty deployment, as a coordinator starts the year with (the working directory a scratch folder)."""
    monkeypatch.chdir(tmp_path)
    return service


def excel_csv(tmp_path, lines: list[str], name: str = "roster.csv"):
    """As Excel saves "CSV UTF-8" in a Norwegian locale: a BOM, `;` between fields, CRLF line ends."""
    path = tmp_path / name
    path.write_bytes("\ufeff".encode() + "\r\n".join(lines).encode() + b"\r\n")
    return path


def tettpa(service, *args: str):
    env = {"TETTPA_DATABASE_URL": service.settings.database_url, "TETTPA_SECRET_KEY": service.settings.secret_key,
           "TETTPA_DATA_KEY": TEST_DATA_KEY, "TETTPA_TELEGRAM_TOKEN": "123456:TEST-TOKEN"}
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def people(service) -> dict[str, Person]:
    with service.tx() as session:
        found = {p.name: p for p in session.exec(select(Person))}
        session.expunge_all()
        return found


def test_it_imports_a_roster_saved_by_excel(coordinator, tmp_path):
    result = tettpa(coordinator, "import", "people", str(excel_csv(tmp_path, ROSTER)), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["created"] == 5 and report["errors"] == []
    by_ref = {p["ref"]: p for p in report["people"]}
    assert by_ref["o"]["role"] == "youth" and by_ref["o"]["invite_link"].endswith(by_ref["o"]["invite_code"])
    found = people(coordinator)
    kari, per, ola, mira, lise = (found[n] for n in ("Kari Nordmann", "Per Hansen", "Ola Berg", "Mira Jensen",
                                                     "Lise Berg"))
    assert kari.phone == "+4791234567" and kari.email == "kari@ot.example"  # Norwegian numbers, e-mail lower-case
    assert per.role == "coordinator" and per.language == "nn"
    assert (ola.primary_id, ola.secondary_id, ola.phone) == (kari.id, per.id, "+4793456789")
    assert mira.primary_id == kari.id and mira.language == "en"  # the primary named by e-mail
    assert lise.youth_id == ola.id and lise.language == "uk"


def test_it_creates_nothing_and_names_every_error_by_row_and_field(coordinator, tmp_path):
    lines = [
        HEADER,
        "k;worker;Kari Nordmann;;kari@ot.example;;;;;;;",
        "x;teacher;Tom Lærer;;;;;;;;;",
        "o;youth;Ola Berg;12;;;;k;;;;",
        "m;youth;Mira Jensen;;;;;nobody@ot.example;;;;",
        "l;parent;Lise Berg;;;;;;;z;;",
        "k;youth;Kari Duplikat;;;xx;;k;;;;",
        "n;youth;;;;;;k;;;;",
    ]
    result = tettpa(coordinator, "import", "people", str(excel_csv(tmp_path, lines)), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["created"] == 0 and report["people"] == []
    assert [(e["row"], e["field"]) for e in report["errors"]] == [
        (3, "role"), (4, "phone"), (5, "primary"), (6, "youth"), (7, "ref"), (8, "name"),
    ]
    assert "'teacher' is not a role" in report["errors"][0]["message"]
    assert "row 4, phone" in result.stderr
    assert people(coordinator) == {}, "a file with errors creates nobody, not even its good rows"


def test_it_imports_the_same_file_twice_without_doubling_anyone(coordinator, tmp_path):
    path = excel_csv(tmp_path, ROSTER)
    assert tettpa(coordinator, "import", "people", str(path)).exit_code == 0
    again = json.loads(tettpa(coordinator, "import", "people", str(path), "--json").stdout)
    assert again["created"] == 0 and again["existing"] == 5 and again["errors"] == []
    with coordinator.tx() as session:
        assert session.exec(select(func.count()).select_from(Person)).one() == 5


def test_it_checks_a_file_without_creating_anyone_on_a_dry_run(coordinator, tmp_path):
    result = tettpa(coordinator, "import", "people", str(excel_csv(tmp_path, ROSTER)), "--dry-run", "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["created"] == 0 and report["would_create"] == 5
    assert all(p["id"] is None and p["invite_code"] is None for p in report["people"])
    assert people(coordinator) == {}


def test_it_adds_a_parent_to_a_youth_already_in_tett_pa(coordinator, tmp_path):
    tettpa(coordinator, "import", "people", str(excel_csv(tmp_path, ROSTER)))
    ola = people(coordinator)["Ola Berg"]
    comma = tmp_path / "more.csv"
    comma.write_text(f"ref,role,name,phone,youth\nf,parent,Frank Berg,+4796666666,#{ola.id}\n")
    result = tettpa(coordinator, "import", "people", str(comma), "--json")
    assert json.loads(result.stdout)["created"] == 1
    assert people(coordinator)["Frank Berg"].youth_id == ola.id
    wrong = tmp_path / "wrong.csv"
    kari = people(coordinator)["Kari Nordmann"]
    wrong.write_text(f"ref,role,name,youth\ng,parent,Gro Berg,#{kari.id}\n")
    assert json.loads(tettpa(coordinator, "import", "people", str(wrong), "--json").stdout)["errors"][0]["field"] \
        == "youth"


def test_it_refuses_files_that_are_not_a_roster(coordinator, tmp_path):
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("ref;role;name\nk;worker;Bjørn\n".encode("latin-1"))
    report = json.loads(tettpa(coordinator, "import", "people", str(latin1), "--json").stdout)
    assert report["errors"][0]["field"] == "file" and "UTF-8" in report["errors"][0]["message"]
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("ref,role,name,shoe_size\n")
    report = json.loads(tettpa(coordinator, "import", "people", str(unknown), "--json").stdout)
    assert report["errors"] == [{"row": 1, "field": "shoe_size", "message": report["errors"][0]["message"]}]
    missing = tettpa(coordinator, "import", "people", str(tmp_path / "nope.csv"))
    assert missing.exit_code != 0 and "file:" in missing.stderr
