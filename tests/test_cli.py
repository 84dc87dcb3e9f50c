"""The command line as a coordinator uses it: one JSON object with --json, and bad values refused with a
message naming the field and a non-zero exit."""

from __future__ import annotations

import json

import pytest

from tests.e2e import Deployment


@pytest.fixture
def cli(tmp_path):
    """SQLite only: what is tested here is the command line; the data layer runs on PostgreSQL elsewhere."""
    return Deployment(tmp_path, f"sqlite:///{tmp_path / 'cli.db'}")


def test_it_adds_people_and_reads_norwegian_numbers_as_plus_47(cli):
    kari = cli.add("worker", "add", "--name", "Kari Nordmann", "--phone", "412 34 567", "--email", "Kari@OT.example")
    assert set(kari) == {"id", "invite_code", "invite_link"}
    ola = cli.add("youth", "add", "--name", "Ola", "--primary", str(kari["id"]), "--birth-date", "2009-05-17",
                  "--language", "nn")
    parent = cli.add("parent", "add", "--youth", str(ola["id"]), "--name", "Lise", "--phone", "+380501234567")
    assert parent["invite_link"].endswith(parent["invite_code"])
    exported = json.loads(cli.cli("person", "export", str(kari["id"])).stdout)
    assert exported["person"]["phone"] == "+4741234567" and exported["person"]["email"] == "kari@ot.example"
    assert json.loads(cli.cli("person", "export", str(ola["id"])).stdout)["person"]["language"] == "nn"


@pytest.mark.parametrize(("args", "field"), [
    (["worker", "hours", "1", "mon-fri 25:00-23:00"], "hours"),
    (["worker", "hours", "1", "mon-xyz 08:00-16:00"], "hours"),
    (["worker", "absent", "1", "--from", "2026-12-05", "--until", "2026-12-01"], "until"),
    (["worker", "absent", "1", "--from", "yesterday", "--until", "2026-12-01"], "from"),
    (["worker", "add", "--name", "X", "--phone", "123"], "phone"),
    (["worker", "add", "--name", "X", "--email", "not-an-email"], "email"),
    (["worker", "add", "--name", "X", "--language", "xx"], "language"),
    (["worker", "add", "--name", "X", "--role", "boss"], "role"),
    (["worker", "add", "--name", "   "], "name"),
    (["youth", "add", "--name", "Y", "--primary", "99"], "primary"),
    (["youth", "add", "--name", "Y", "--primary", "1", "--secondary", "1"], "secondary"),
    (["youth", "add", "--name", "Y", "--primary", "1", "--birth-date", "17.05.2009"], "birth-date"),
    (["parent", "add", "--youth", "1", "--name", "P"], "youth"),
    (["log", "export", "--format", "xml"], "format"),
    (["log", "export", "--format", "csv", "--from", "2026-12-05", "--until", "2026-12-01"], "until"),
    (["worker", "set-password", "1"], "password"),
    (["person", "export", "42"], "id"),
])
def test_it_refuses_a_bad_value_naming_the_field(cli, args, field):
    cli.add("worker", "add", "--name", "Kari")
    result = cli.cli(*args, stdin="short\n", check=False)
    assert result.returncode != 0
    assert result.stderr.startswith(f"error: {field}:"), result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_it_sets_hours_and_an_absence(cli):
    kari = cli.add("worker", "add", "--name", "Kari")
    hours = cli.add("worker", "hours", str(kari["id"]), "man-fre 15:00-23:00; lør,søn 10:00-22:00")
    assert hours == {"id": kari["id"], "hours": "mon-fri 15:00-23:00; sat,sun 10:00-22:00"}
    absence = cli.add("worker", "absent", str(kari["id"]), "--from", "2026-12-01", "--until", "2026-12-05T12:00")
    assert isinstance(absence["id"], int)
    result = cli.cli("worker", "set-password", str(kari["id"]), "--json", stdin="et langt passord\n")
    assert json.loads(result.stdout) == {"id": kari["id"]}


def test_it_refuses_a_bad_setting_with_a_clear_message(cli):
    cli.env["TETTPA_ESCALATION_AFTER"] = "soon"
    result = cli.cli("worker", "add", "--name", "Kari", check=False)
    assert result.returncode != 0 and "escalation_after" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("name", ["TETTPA_POLL_BACKOFF", "TETTPA_OUTBOX_BACKOFF"])
def test_it_refuses_a_backoff_of_nothing(cli, name):
    """A back-off of 0 would try a failing Telegram or Twilio again without a pause, as fast as it can."""
    cli.env[name] = "0s"
    result = cli.cli("worker", "add", "--name", "Kari", check=False)
    assert result.returncode != 0 and name.removeprefix("TETTPA_").lower() in result.stderr
    assert "Traceback" not in result.stderr


def test_it_refuses_to_run_with_credentials_but_a_placeholder_secret(cli):
    cli.env["TETTPA_TELEGRAM_TOKEN"] = "123:abc"
    cli.env["TETTPA_SECRET_KEY"] = "changeme"
    result = cli.cli("db", "upgrade", check=False)
    assert result.returncode != 0 and "TETTPA_SECRET_KEY" in result.stderr


def test_the_tettpa_command_runs_as_a_process(tmp_path):
    """The rest of this file runs the commands in this process (CliRunner); this one is the installed
    `tettpa` script itself, a new process with its own environment and working directory."""
    cli = Deployment(tmp_path, f"sqlite:///{tmp_path / 'cli.db'}", process=True)
    kari = cli.add("worker", "add", "--name", "Kari Nordmann", "--phone", "412 34 567")
    assert set(kari) == {"id", "invite_code", "invite_link"}
    assert json.loads(cli.cli("person", "export", str(kari["id"])).stdout)["person"]["phone"] == "+4741234567"
    refused = cli.cli("worker", "add", "--name", "X", "--phone", "123", check=False)
    assert refused.returncode != 0 and refused.stderr.startswith("error: phone:") and "Traceback" not in refused.stderr
