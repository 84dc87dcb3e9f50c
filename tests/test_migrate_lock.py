"""Migrations run under a lock (PostgreSQL: an advisory lock; SQLite: a file lock), only `db upgrade` and
`serve` migrate, and every other command refuses a database whose schema is not current."""

from __future__ import annotations

import os
import subprocess

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import models  # noqa: F401  (registers every table on SQLModel.metadata)
from models.db import make_engine
from models.migrate import current_heads, expected_heads, migration_lock
from tests.conftest import TEST_DATA_KEY
from tests.e2e import TETTPA
from tests.reliability import wait_until


def _env(database_url: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("TETTPA_")},
        "TETTPA_DATABASE_URL": database_url,
        "TETTPA_SECRET_KEY": "migrate-lock-secret-not-a-placeholder",
        "TETTPA_DATA_KEY": TEST_DATA_KEY,
    }


def _tettpa(tmp_path, database_url, *args):
    return subprocess.Popen([TETTPA, *args], cwd=tmp_path, env=_env(database_url), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _schema_is_complete(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert current_heads(engine) == expected_heads(engine)
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
    finally:
        engine.dispose()


def test_it_migrates_two_processes_started_together(tmp_path, database_url):
    upgrades = [_tettpa(tmp_path, database_url, "db", "upgrade", "--json") for _ in range(2)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in upgrades]
    for code, stdout, stderr in results:
        assert code == 0, stderr[-2000:]
        assert stdout.strip() == '{"status": "ok"}'
    _schema_is_complete(database_url)


def test_it_waits_for_the_migration_lock(tmp_path, database_url):
    engine = make_engine(database_url)
    try:
        with migration_lock(engine):
            stderr = tmp_path / "upgrade.err"
            with stderr.open("w") as err:
                upgrade = subprocess.Popen([TETTPA, "db", "upgrade"], cwd=tmp_path, env=_env(database_url),
                                           text=True, stdout=subprocess.DEVNULL, stderr=err)
            # It reached the lock, found it taken, said so, and waits.
            wait_until(lambda: "waiting for another process" in stderr.read_text() or upgrade.poll() is not None,
                       60, "the upgrade to reach the lock")
            assert upgrade.poll() is None, stderr.read_text()
            assert current_heads(engine) == set(), "it migrated without the lock"
        assert upgrade.wait(timeout=120) == 0, stderr.read_text()[-2000:]
    finally:
        engine.dispose()
    _schema_is_complete(database_url)


def test_it_refuses_other_commands_until_the_database_is_upgraded(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    refused = _tettpa(tmp_path, url, "worker", "add", "--name", "Kari", "--json")
    code, stdout, stderr = refused.wait(timeout=60), *refused.communicate()
    assert code != 0 and stdout == ""
    assert stderr.startswith("error: database:") and "tettpa db upgrade" in stderr, stderr
    assert "Traceback" not in stderr
    assert _tettpa(tmp_path, url, "db", "upgrade").wait(timeout=120) == 0
    added = _tettpa(tmp_path, url, "worker", "add", "--name", "Kari", "--json")
    assert added.wait(timeout=60) == 0, added.communicate()[1]
