"""Shared fixtures: a fresh database per test (SQLite, and PostgreSQL where one runs), a service with a
fake clock, and the Telegram stand-in served over HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from bot.clock import FakeClock
from bot.service import Service
from bot.settings import Settings
from models import crypto
from models.db import make_engine
from models.migrate import upgrade

# Property tests on a shared 2-core machine: no per-example deadline, no "input generation is slow"
# failures from load, and in CI the same examples every run so a red run can be replayed.
settings.register_profile(
    "tettpa", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=bool(os.environ.get("CI")),
)
settings.load_profile("tettpa")

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("TETTPA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TEST_DATA_KEY = "p7MTNXGzEyF3x6u8f3N0hQ2cY1b8lD5yZ4R6kJ9wVxM="
# A Monday, 10:00 in Oslo: inside office hours.
MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _postgres_admin():
    import psycopg

    url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def postgres_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        with _postgres_admin():
            return None
    except Exception as exc:  # any failure to connect means: no PostgreSQL here
        return f"no PostgreSQL at {POSTGRES_URL}: {type(exc).__name__}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """A fresh, empty database: a SQLite file, or a new PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tettpa.db'}"
        return
    reason = postgres_available()
    if reason:
        if os.environ.get("TETTPA_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required here (TETTPA_REQUIRE_POSTGRES): {reason}")
        pytest.skip(reason)
    name = f"tettpa_{uuid.uuid4().hex[:12]}"
    with _postgres_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with _postgres_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(database_url: str, **overrides) -> Settings:
    values = {
        "database_url": database_url,
        "secret_key": "test-secret-key-for-invites-and-sessions",
        "data_key": TEST_DATA_KEY,
        "telegram_token": "123456:TEST-TOKEN",
        "timezone": "Europe/Oslo",
        "escalation_after": "15m",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def clock():
    return FakeClock(MONDAY_10)


@pytest.fixture
def service(database_url, clock) -> Service:
    """The core's surroundings over a migrated database, with time that moves only when told."""
    settings = make_settings(database_url)
    crypto.use_keys([settings.data_key])
    engine = make_engine(database_url)
    upgrade(engine)
    yield Service(settings=settings, engine=engine, clock=clock)
    engine.dispose()
