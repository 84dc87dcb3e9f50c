"""Opening the service: settings, keys, database and migrations, shared by `serve` and the CLI."""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

from bot.service import Service
from bot.settings import Settings, get_settings
from models import crypto
from models.db import make_engine
from models.migrate import require_current, upgrade

SANDBOX_SECRETS = Path("tettpa-sandbox.secrets")


def sandbox_secrets(settings: Settings, path: Path = SANDBOX_SECRETS) -> None:
    """The sandbox makes its own keys once and keeps them beside the database, so restarts can decrypt."""
    if settings.secret_key and settings.data_key:
        return
    if path.exists():
        stored = json.loads(path.read_text())
    else:
        stored = {"secret_key": secrets.token_urlsafe(32), "data_key": crypto.new_key()}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh)
    settings.secret_key = settings.secret_key or stored["secret_key"]
    settings.data_key = settings.data_key or stored["data_key"]


def data_keys(settings: Settings) -> list[str]:
    """TETTPA_DATA_KEY, optionally followed by older keys (comma-separated) that still decrypt."""
    return [k.strip() for k in settings.data_key.split(",") if k.strip()]


def _say_waiting() -> None:
    # A `serve` or `db upgrade` that seems to hang at start says why: another process holds the lock.
    print("waiting for another process to finish migrating the database", file=sys.stderr, flush=True)


def open_service(settings: Settings | None = None, *, migrate: bool = True) -> Service:
    """Settings, keys and engine. `migrate`: bring the schema up to date under the migration lock (`serve`,
    `db upgrade`); otherwise the schema must already be current (models.migrate.SchemaNotCurrent)."""
    settings = settings or get_settings()
    if settings.sandbox:
        sandbox_secrets(settings)
    crypto.use_keys(data_keys(settings))
    engine = make_engine(settings.database_url, busy_timeout=settings.db_busy_timeout.total_seconds())
    if migrate:
        upgrade(engine, on_wait=_say_waiting)
    else:
        try:
            require_current(engine)
        except Exception:
            engine.dispose()
            raise
    service = Service(settings=settings, engine=engine)
    return service

