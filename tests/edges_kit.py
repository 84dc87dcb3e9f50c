"""A service over a fresh SQLite file with a fake clock, for the edge tests (kept apart from conftest)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.clock import FakeClock
from bot.service import Service
from bot.settings import Settings
from models import crypto
from models.db import make_engine
from models.migrate import upgrade

DATA_KEY = "p7MTNXGzEyF3x6u8f3N0hQ2cY1b8lD5yZ4R6kJ9wVxM="
SECRET = "test-secret-key-for-invites-and-sessions"
MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Oslo


def settings(url: str, **overrides) -> Settings:
    """Real-looking settings (a Telegram token, real keys) unless overridden."""
    values = {"database_url": url, "secret_key": SECRET, "data_key": DATA_KEY, "telegram_token": "123456:TEST",
              "timezone": "Europe/Oslo"}
    values.update(overrides)
    return Settings(_env_file=None, **{k: v for k, v in values.items() if v is not None})


def make_service(tmp_path, **overrides) -> Service:
    """A migrated SQLite database in tmp_path and a clock that moves only when told."""
    s = settings(f"sqlite:///{tmp_path / 'edges.db'}", **overrides)
    crypto.use_keys([s.data_key])
    engine = make_engine(s.database_url)
    upgrade(engine)
    return Service(settings=s, engine=engine, clock=FakeClock(MONDAY_10))
