"""Sessions end when they should, invites expire and can be renewed, login throttling is per address and per
client (so spraying is stopped and nobody can keep a coordinator locked out), and HSTS over https."""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
from datetime import timedelta

import pytest
from sqlmodel import select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from bot import auth, linking, roster
from bot.events import Incoming
from bot.run.app import Runtime, create_app
from handlers.cli.main import app as cli_app
from models.auth import STAGE_FULL
from models.outbox import Outbox
from models.people import Person
from tests.edges_kit import DATA_KEY, SECRET, make_service

PASSWORD = "et langt passord"
_updates = itertools.count(1)


def _staff(svc, name: str, email: str, role: str = "worker") -> int:
    with svc.tx() as session:
        person = roster.add_worker(session, name=name, email=email, role=role, now=svc.now(),
                                   secret_key=svc.settings.secret_key).person
        roster.set_password(session, worker_id=person.id, password=PASSWORD)
        return person.id


def _session_cookie(svc, person_id: int) -> str:
    with svc.tx() as session:
        return auth.start_session(svc, session, session.get(Person, person_id), STAGE_FULL)


def _live(svc, cookie: str) -> bool:
    with svc.tx() as session:
        return auth.load_session(svc, session, cookie) is not None


# --- sessions ---

def test_it_ends_a_primarys_old_sessions_when_her_password_is_set(tmp_path):
    svc = make_service(tmp_path)
    kari = _staff(svc, "Kari Nordmann", "kari@ot.example")
    laptop, phone = _session_cookie(svc, kari), _session_cookie(svc, kari)
    per = _staff(svc, "Per Hansen", "per@ot.example")
    pers = _session_cookie(svc, per)
    with svc.tx() as session:
        roster.set_password(session, worker_id=kari, password="et helt nytt passord")
    assert not _live(svc, laptop) and not _live(svc, phone)
    assert _live(svc, pers), "another worker's session is not touched"


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("TETTPA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    for name, value in {"DATABASE_URL": f"sqlite:///{tmp_path / 'edges.db'}", "SECRET_KEY": SECRET,
                        "DATA_KEY": DATA_KEY, "TELEGRAM_TOKEN": "123456:TEST"}.items():
        monkeypatch.setenv(f"TETTPA_{name}", value)


def test_it_ends_a_coordinators_sessions_on_demand_from_the_command_line(tmp_path, cli_env):
    svc = make_service(tmp_path, telegram_token="123456:TEST")
    cora = _staff(svc, "Cora Koordinator", "cora@ot.example", role="coordinator")
    cookie = _session_cookie(svc, cora)
    result = CliRunner().invoke(cli_app, ["worker", "sessions-end", str(cora), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["id"] == cora
    assert not _live(svc, cookie)
    missing = CliRunner().invoke(cli_app, ["worker", "sessions-end", "999", "--json"])
    assert missing.exit_code != 0 and "worker:" in missing.output


# --- invites ---

def _start(svc, user_id: int, code: str) -> list[str]:
    """The user sends /start CODE; what the bot answers them."""
    inc = Incoming(source_key=f"tg:{next(_updates)}", channel="telegram", address=str(user_id), user_id=user_id,
                   text=f"/start {code}", language_code="nb")
    with svc.tx() as session:
        before = {o.id for o in session.exec(select(Outbox)).all()}
        linking.start(svc, session, inc, code)
    with svc.tx() as session:
        rows = [o for o in session.exec(select(Outbox).where(Outbox.address == str(user_id))).all()
                if o.id not in before]
        return [json.loads(o.payload)["text"] for o in rows]


def _youth(svc) -> tuple[int, str]:
    with svc.tx() as session:
        kari = roster.add_worker(session, name="Kari Nordmann", now=svc.now(), secret_key=SECRET).person
        invited = roster.add_youth(session, name="Ola Berg", primary=kari.id, now=svc.now(), secret_key=SECRET)
        return invited.person.id, invited.code


def _linked(svc, person_id: int) -> int | None:
    with svc.tx() as session:
        return session.get(Person, person_id).telegram_user_id


def test_it_refuses_a_youths_invite_code_after_fourteen_days(tmp_path):
    svc = make_service(tmp_path)
    ola, code = _youth(svc)
    svc.clock.advance(days=14, minutes=1)
    (answer,) = _start(svc, 5101, code)
    assert "utløpt" in answer
    assert _linked(svc, ola) is None


def test_it_links_a_youth_within_the_invites_validity(tmp_path):
    svc = make_service(tmp_path)
    ola, code = _youth(svc)
    svc.clock.advance(days=13)
    _start(svc, 5101, code)
    assert _linked(svc, ola) == 5101


def test_it_renews_an_expired_invite_from_the_command_line_and_the_old_code_stops(tmp_path, cli_env):
    svc = make_service(tmp_path, telegram_token="123456:TEST")
    ola, old_code = _youth(svc)
    result = CliRunner().invoke(cli_app, ["invite", "renew", str(ola), "--json"])
    assert result.exit_code == 0, result.output
    renewed = json.loads(result.output)
    assert renewed["id"] == ola and renewed["invite_code"] != old_code and renewed["invite_link"].endswith(
        renewed["invite_code"])
    (answer,) = _start(svc, 5101, old_code)
    assert _linked(svc, ola) is None
    _start(svc, 5101, renewed["invite_code"])
    assert _linked(svc, ola) == 5101
    missing = CliRunner().invoke(cli_app, ["invite", "renew", "999"])
    assert missing.exit_code != 0 and "id:" in missing.output


# --- login throttling ---

def _login(svc, email: str, password: str, client: str) -> auth.PasswordCheck:
    with svc.tx() as session:
        return auth.check_password(svc, session, email, password, client=client)


def test_it_stops_a_client_spraying_four_tries_over_many_accounts(tmp_path):
    svc = make_service(tmp_path)
    cora = _staff(svc, "Cora Koordinator", "cora@ot.example", role="coordinator")
    for account in range(5):
        for _ in range(4):  # under the per-account limit of 5 on every account
            _login(svc, f"ansatt{account}@ot.example", "gjett1234567", client="203.0.113.9")
    locked = _login(svc, "cora@ot.example", PASSWORD, client="203.0.113.9")
    assert locked.locked_until is not None and locked.person is None
    assert _login(svc, "cora@ot.example", PASSWORD, client="198.51.100.20").person.id == cora
    svc.clock.advance(svc.settings.login_lockout + timedelta(seconds=1))
    assert _login(svc, "cora@ot.example", PASSWORD, client="203.0.113.9").person.id == cora


def test_it_lets_a_coordinator_in_while_someone_elsewhere_keeps_failing_on_her_address(tmp_path):
    svc = make_service(tmp_path)
    cora = _staff(svc, "Cora Koordinator", "cora@ot.example", role="coordinator")
    for _ in range(3):  # an attacker who comes back every lock-out period, for ever
        for _ in range(5):
            _login(svc, "cora@ot.example", "feil-passord", client="203.0.113.9")
        assert _login(svc, "cora@ot.example", "feil-passord", client="203.0.113.9").locked_until is not None
        assert _login(svc, "cora@ot.example", PASSWORD, client="198.51.100.20").person.id == cora
        svc.clock.advance(svc.settings.login_lockout)


def test_it_believes_x_forwarded_for_only_from_a_trusted_proxy():
    proxies = [ipaddress.ip_network("10.0.0.0/8")]
    assert auth.client_address("10.0.0.5", "198.51.100.7, 10.0.0.2", proxies) == "198.51.100.7"
    assert auth.client_address("10.0.0.5", "1.2.3.4, 198.51.100.7", proxies) == "198.51.100.7"
    assert auth.client_address("203.0.113.9", "198.51.100.7", proxies) == "203.0.113.9"
    assert auth.client_address("203.0.113.9", "198.51.100.7", []) == "203.0.113.9"


def test_it_keeps_a_sprayer_locked_however_it_rotates_x_forwarded_for(tmp_path):
    from types import SimpleNamespace

    from starlette.applications import Starlette

    from handlers.web import auth as web_auth

    svc = make_service(tmp_path)
    _staff(svc, "Cora Koordinator", "cora@ot.example", role="coordinator")
    app = Starlette(routes=web_auth.routes)
    app.state.runtime = SimpleNamespace(service=svc)
    http = TestClient(app, follow_redirects=False)

    def attempt(email: str, password: str, forwarded: str) -> int:
        page = http.get("/login")
        csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        return http.post("/login", data={"email": email, "password": password, "csrf": csrf},
                         headers={"X-Forwarded-For": forwarded}).status_code

    for n in range(10):
        attempt(f"ansatt{n % 5}@ot.example", "gjett1234567", forwarded=f"192.0.2.{n}")
    assert attempt("cora@ot.example", PASSWORD, forwarded="192.0.2.99") == 429


# --- HSTS ---

@pytest.mark.parametrize("public_url, expected", [("https://tettpa.example", True), ("http://127.0.0.1:8000", False)])
def test_it_sends_hsts_exactly_when_the_public_url_is_https(tmp_path, public_url, expected):
    svc = make_service(tmp_path, public_url=public_url)
    http = TestClient(create_app(Runtime(svc)))
    for path in ("/healthz", "/login"):
        header = http.get(path).headers.get("strict-transport-security")
        assert (header is not None and "max-age=" in header) is expected
