"""The web edge without the rest: health and the webhook guards."""

from __future__ import annotations

from types import SimpleNamespace

from starlette.applications import Starlette
from starlette.testclient import TestClient

from handlers.web import routes as web
from models.db import make_engine


def _app(engine, **runtime):
    app = Starlette(routes=web.routes)
    app.state.runtime = SimpleNamespace(service=SimpleNamespace(engine=engine), status=lambda database: {}, **runtime)
    return app


def test_it_reports_503_when_the_database_does_not_answer():
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    response = TestClient(_app(engine)).get("/healthz")
    assert response.status_code == 503 and response.json()["database"] == "down"


def test_it_reports_503_not_500_from_a_real_runtime_when_the_database_does_not_answer():
    from bot.run.app import Runtime, create_app
    from bot.service import Service
    from tests.conftest import make_settings

    url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    runtime = Runtime(Service(settings=make_settings(url), engine=make_engine(url)))
    response = TestClient(create_app(runtime)).get("/healthz")  # no lifespan: the service is not started
    assert response.status_code == 503
    assert response.json()["database"] == "down" and response.json()["outbox_backlog"] is None


def test_it_reports_200_while_the_database_answers(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'h.db'}")
    response = TestClient(_app(engine)).get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_it_refuses_webhook_updates_without_a_secret_when_none_is_configured(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'h.db'}")
    client = TestClient(_app(engine, webhook_secret=""))
    assert client.post("/telegram/webhook", json={"update_id": 1}).status_code == 403


def test_it_refuses_malformed_and_oversized_webhook_bodies(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'h.db'}")
    client = TestClient(_app(engine, webhook_secret="s3cret"))
    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    assert client.post("/telegram/webhook", content=b"{not json", headers=headers).status_code == 400
    assert client.post("/telegram/webhook", json=[1, 2], headers=headers).status_code == 400
    assert client.post("/telegram/webhook", json={"update_id": "1"}, headers=headers).status_code == 400
    big = b'{"update_id": 1, "x": "' + b"a" * 1_100_000 + b'"}'
    assert client.post("/telegram/webhook", content=big, headers=headers).status_code == 413
