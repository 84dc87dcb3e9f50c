"""The sandbox fails closed (CONTRACT.md, TETTPA_SANDBOX): `auto` runs it only without credentials and over
a database holding nothing but its demo roster; it never shows real people or changes their service."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from bot import roster
from bot.run.bootstrap import open_service
from bot.run.sandbox import Sandbox, refusal
from bot.settings import Settings
from handlers.cli.main import app
from tests.edges_kit import DATA_KEY, SECRET


@pytest.fixture
def bare_env(tmp_path, monkeypatch):
    """No TETTPA_* from outside and no .env: what a newcomer's shell has, over a database in tmp_path."""
    for name in list(os.environ):
        if name.startswith("TETTPA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'real.db'}"
    monkeypatch.setenv("TETTPA_DATABASE_URL", url)
    return url


def _real_roster(url: str, monkeypatch) -> int:
    """A real deployment's database: a coordinator, linked to Telegram, made with real keys and a token."""
    monkeypatch.setenv("TETTPA_SECRET_KEY", SECRET)
    monkeypatch.setenv("TETTPA_DATA_KEY", DATA_KEY)
    svc = open_service(Settings(_env_file=None, telegram_token="123456:REAL"))
    with svc.tx() as session:
        kari = roster.add_worker(session, name="Kari Ekte", email="kari@ot.example", role="coordinator",
                                 now=svc.now(), secret_key=svc.settings.secret_key).person
        kari.telegram_user_id = kari.telegram_chat_id = 424242
        kari_id = kari.id
    svc.engine.dispose()
    return kari_id


def test_it_refuses_to_serve_the_sandbox_over_a_database_with_real_people(bare_env, monkeypatch):
    _real_roster(bare_env, monkeypatch)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code != 0
    assert "sandbox" in result.output and "TETTPA_SANDBOX" in result.output
    assert "demo roster" in result.output


def test_it_keeps_the_escalation_time_of_a_real_database_without_credentials(bare_env, monkeypatch):
    _real_roster(bare_env, monkeypatch)
    svc = open_service(Settings(_env_file=None))
    assert svc.settings.sandbox and refusal(svc) is not None
    assert svc.settings.escalation_after == timedelta(minutes=15)


def test_it_never_runs_the_sandbox_with_sandbox_0(bare_env, monkeypatch):
    monkeypatch.setenv("TETTPA_SANDBOX", "0")
    monkeypatch.setenv("TETTPA_SECRET_KEY", SECRET)
    monkeypatch.setenv("TETTPA_DATA_KEY", DATA_KEY)
    settings = Settings(_env_file=None)
    assert settings.sandbox is False
    svc = open_service(settings)
    assert svc.settings.escalation_after == timedelta(minutes=15)


def test_it_runs_the_sandbox_over_an_empty_database_with_the_production_escalation(bare_env):
    svc = open_service(Settings(_env_file=None))
    assert svc.settings.sandbox and refusal(svc) is None
    assert svc.settings.escalation_after == timedelta(minutes=15)  # the clock makes things happen, not settings
    Sandbox(svc).seed()
    assert refusal(svc) is None  # its own roster does not count against it on the next start
    assert [p["name"] for p in Sandbox(svc).people()] == [
        "Kari Nordmann", "Per Hansen", "Cora Koordinator", "Ola Berg", "Amir Said", "Oksana Kovalenko", "Lise Berg"]
    sandbox = Sandbox(svc)
    sandbox.seed()
    assert sandbox.login_shown and sandbox.coordinator_session(), "over its own roster the demo login works"


def test_it_shows_only_the_demo_roster_on_the_sandbox_page_even_when_forced(bare_env, monkeypatch):
    kari_id = _real_roster(bare_env, monkeypatch)
    monkeypatch.setenv("TETTPA_SANDBOX", "1")
    svc = open_service(Settings(_env_file=None, telegram_token="123456:REAL"))
    assert svc.settings.sandbox and refusal(svc) is None
    assert svc.settings.escalation_after == timedelta(minutes=15), "real people keep their escalation time"
    sandbox = Sandbox(svc)
    sandbox.seed()
    shown = sandbox.people()
    assert kari_id not in {p["id"] for p in shown} and "Kari Ekte" not in {p["name"] for p in shown}
    assert 424242 not in {p["user_id"] for p in shown}
    assert sandbox.login_shown is False and sandbox.coordinator_session() is None, "no demo login over real people"
