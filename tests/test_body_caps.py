"""Bodies are capped before anything is parsed, and inputs that gave 500 get a 400 or a clear CLI error.

An outside probe: an unsigned 100 MB chunked body, multipart, deep JSON, an update without a date, a
call duration of 5000 digits, extreme dates and ids with more digits than the database holds."""

from __future__ import annotations

import json
import os

import httpx
import pytest
from sqlmodel import select
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator
from typer.testing import CliRunner

from bot.run.app import Runtime, create_app
from handlers.cli.main import app as cli_app
from handlers.intake import store_telegram, telegram_dispatcher
from handlers.limits import TWILIO_FORM_BYTES
from handlers.twilio import webhooks as twilio_handlers
from models.inbound import Inbound
from tests.edges_kit import DATA_KEY, SECRET, make_service

PUBLIC = "https://tettpa.example"
AUTH_TOKEN = "twilio-auth-token-for-tests"
WEBHOOKS = ["/twilio/sms", "/twilio/voice", "/twilio/status"]


@pytest.fixture
def runtime(tmp_path):
    svc = make_service(tmp_path, public_url=PUBLIC, twilio_account_sid="AC" + "0" * 32,
                       twilio_auth_token=AUTH_TOKEN, twilio_number="+4790000000")
    return Runtime(svc)  # not started: the web edge alone, over a real database


def _signed(path: str, form: dict) -> dict:
    return {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(f"{PUBLIC}{path}", form)}


async def test_it_stops_reading_an_unsigned_100_mb_chunked_sms_at_the_cap(runtime):
    pulled = 0

    async def hundred_megabytes():
        nonlocal pulled
        for _ in range(1600):  # 1600 x 64 kB, sent chunked: no Content-Length to refuse it by
            pulled += 65_536
            yield b"Body=" + b"a" * 65_531

    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.post("/twilio/sms", content=hundred_megabytes(),
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert pulled <= TWILIO_FORM_BYTES + 2 * 65_536, f"read {pulled} bytes of an unsigned body"


@pytest.mark.parametrize("path", WEBHOOKS)
def test_it_refuses_multipart_on_every_twilio_webhook_without_a_500(runtime, path):
    http = TestClient(create_app(runtime), raise_server_exceptions=False)
    response = http.post(path, files={"Body": ("x.txt", b"hei")}, data={"From": "+4791111111"})
    assert response.status_code == 413


def test_it_refuses_multipart_and_deep_json_on_the_telegram_webhook(runtime):
    http = TestClient(create_app(runtime), raise_server_exceptions=False)
    headers = {"X-Telegram-Bot-Api-Secret-Token": runtime.webhook_secret}
    assert http.post("/telegram/webhook", files={"f": ("u.json", b"{}")}, headers=headers).status_code == 413
    deep = b'{"update_id": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert http.post("/telegram/webhook", content=deep, headers=headers).status_code == 400
    nested = json.dumps({"update_id": 2, "x": json.loads("[" * 200 + "]" * 200)})
    assert http.post("/telegram/webhook", content=nested, headers=headers).status_code == 400


def test_it_takes_a_telegram_update_without_a_date_at_the_webhook_without_a_500(runtime):
    """Stored and acknowledged (Telegram would only send it again); the intake parks it (below)."""
    http = TestClient(create_app(runtime), raise_server_exceptions=False)
    headers = {"X-Telegram-Bot-Api-Secret-Token": runtime.webhook_secret}
    update = {"update_id": 7, "message": {"message_id": 1, "chat": {"id": 5101, "type": "private"},
                                          "from": {"id": 5101, "is_bot": False, "first_name": "Ola"},
                                          "text": "hei"}}
    assert http.post("/telegram/webhook", json=update, headers=headers).status_code == 200
    assert http.post("/telegram/webhook", json={"update_id": 10**30}, headers=headers).status_code == 400
    with runtime.service.tx() as session:
        assert session.exec(select(Inbound.key)).all() == ["tg:7"]


def test_it_still_takes_a_signed_sms(runtime):
    http = TestClient(create_app(runtime), raise_server_exceptions=False)
    form = {"MessageSid": "SM1", "From": "+4791111111", "To": "+4790000000", "Body": "Hei"}
    response = http.post("/twilio/sms", data=form, headers=_signed("/twilio/sms", form))
    assert response.status_code == 200
    with runtime.service.tx() as session:
        assert session.exec(select(Inbound.key)).all() == ["sms:SM1"]


def test_it_answers_a_call_reference_past_the_databases_integers_with_400(runtime):
    http = TestClient(create_app(runtime), raise_server_exceptions=False)
    path = "/twilio/voice/dial?call=" + "9" * 30 + "&step=0"
    form = {"CallSid": "CA1", "DialCallStatus": "completed", "DialCallDuration": "9" * 30}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"{PUBLIC}{path}", form)
    response = http.post(path, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 400


async def test_it_handles_a_status_callback_with_a_5000_digit_call_duration(runtime):
    dispatch = twilio_handlers.status_dispatcher(runtime.service)
    assert await dispatch({"CallSid": "CA1", "CallStatus": "completed", "CallDuration": "9" * 5000}) is True


async def test_it_parks_a_stored_update_without_a_date_with_its_reason(runtime):
    svc = runtime.service
    store_telegram(svc, [{"update_id": 11, "message": {"message_id": 1, "chat": {"id": 5101, "type": "private"},
                                                       "text": "hei"}}])
    runtime.intake.dispatchers["telegram"] = telegram_dispatcher(runtime.application)
    assert await runtime.intake.run_once() is True
    with svc.tx() as session:
        row = session.exec(select(Inbound)).one()
        assert row.parked_at is not None and row.processed_at is None and "Telegram update" in row.error
    runtime.intake.retry_at.clear()
    svc.clock.advance(hours=2)
    assert await runtime.intake.run_once() is False, "a parked item is not tried again"
    status = await runtime.status()
    assert sum(status["inbound_parked"].values()) == 1 and status["inbound_stuck"] == 0
    assert (await runtime.metrics())["inbound_parked"][2] == 1


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("TETTPA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    for name, value in {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "SECRET_KEY": SECRET,
                        "DATA_KEY": DATA_KEY, "TELEGRAM_TOKEN": "123456:TEST"}.items():
        monkeypatch.setenv(f"TETTPA_{name}", value)


@pytest.mark.parametrize("args, field", [
    (["--from", "0001-01-01"], "from"),
    (["--until", "9999-12-31"], "until"),
    (["--youth", "99"], "youth"),
    (["--youth", "9" * 25], "youth"),
])
def test_it_refuses_a_log_export_it_cannot_do_naming_the_field(cli_env, args, field):
    assert CliRunner().invoke(cli_app, ["db", "upgrade"]).exit_code == 0
    result = CliRunner().invoke(cli_app, ["log", "export", "--format", "csv", *args])
    assert result.exit_code != 0
    assert f"error: {field}:" in result.output, result.output
    assert "Traceback" not in result.output


# --- the dashboard: a coordinator's filters and note times ---

def _coordinator_client(svc) -> tuple[TestClient, int, str]:
    """A logged-in coordinator (Cora) with one youth (Ola); the client, Ola's id and the form's CSRF token."""
    from types import SimpleNamespace

    from starlette.applications import Starlette

    from bot import auth, roster
    from handlers.web import auth as web_auth
    from handlers.web import dashboard, dashboard_export
    from handlers.web.dashboard_base import SESSION_COOKIE
    from models.auth import STAGE_FULL

    kw = {"now": svc.now(), "secret_key": svc.settings.secret_key}
    with svc.tx() as session:
        cora = roster.add_worker(session, name="Cora Koordinator", email="cora@ot.example", role="coordinator",
                                 **kw).person
        roster.set_password(session, worker_id=cora.id, password="et langt passord")
        ola = roster.add_youth(session, name="Ola Berg", primary=cora.id, **kw).person
        cookie = auth.start_session(svc, session, cora, STAGE_FULL)
        ola_id = ola.id
    app = Starlette(routes=dashboard.routes + dashboard_export.routes + web_auth.routes)
    app.state.runtime = SimpleNamespace(service=svc)
    http = TestClient(app, base_url="https://testserver", follow_redirects=False, raise_server_exceptions=False)
    http.cookies.set(SESSION_COOKIE, cookie)
    page = http.get(f"/dashboard/youth/{ola_id}")
    assert page.status_code == 200, page.text
    import re

    return http, ola_id, re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


@pytest.mark.parametrize("query", [
    "/dashboard?week=0001-01-01", "/dashboard?week=9999-12-31",
    "/dashboard/youth/{ola}?from=0001-01-01", "/dashboard/youth/{ola}?until=9999-12-31",
    "/dashboard/youth/{ola}/export.csv?from=0001-01-01", "/dashboard/youth/{ola}/export.csv?until=9999-12-31",
    "/dashboard/entries?from=0001-01-01&until=9999-12-31",
    "/dashboard/entries?youth=" + "9" * 30, "/dashboard/youth/{ola}?at=" + "9" * 30,
    "/dashboard/audit?before=" + "9" * 30,
])
def test_it_answers_a_coordinators_extreme_filter_with_400(tmp_path, query):
    http, ola, _ = _coordinator_client(make_service(tmp_path))
    response = http.get(query.format(ola=ola))
    assert response.status_code == 400, (response.status_code, response.text[:300])


@pytest.mark.parametrize("path", ["/dashboard/youth/" + "9" * 30, "/dashboard/entries/" + "9" * 30])
def test_it_answers_an_id_past_the_databases_integers_with_404(tmp_path, path):
    http, _, _ = _coordinator_client(make_service(tmp_path))
    assert http.get(path).status_code == 404


@pytest.mark.parametrize("at", ["0001-01-01T00:00", "9999-12-31T23:59"])
def test_it_refuses_a_note_dated_at_the_ends_of_time_with_400(tmp_path, at):
    http, ola, csrf = _coordinator_client(make_service(tmp_path))
    response = http.post(f"/dashboard/youth/{ola}/notes", data={"csrf": csrf, "text": "Ringte", "at": at})
    assert response.status_code == 400
    assert "Tidspunktet er ikke gyldig." in response.text


def test_it_caps_dashboard_forms_and_refuses_multipart(tmp_path):
    http, ola, csrf = _coordinator_client(make_service(tmp_path))
    big = {"csrf": csrf, "text": "a" * 200_000}
    assert http.post(f"/dashboard/youth/{ola}/notes", data=big).status_code == 413
    multipart = http.post(f"/dashboard/youth/{ola}/notes", data={"csrf": csrf}, files={"f": ("n.txt", b"x")})
    assert multipart.status_code == 413
    assert http.post("/login", content=b"email=" + b"a" * 200_000,
                     headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 413
