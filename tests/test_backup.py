"""`tettpa backup FILE`: a coordinator copies the database while the service keeps writing, and the copy
restores to the same contact log."""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat

import pytest
from typer.testing import CliRunner

from handlers.cli.main import app
from tests.conftest import TEST_DATA_KEY
from tests.personas import PARENT_TG, YOUTH_TG, cast, tg, writes


def tettpa(database_url: str, *args: str):
    env = {"TETTPA_DATABASE_URL": database_url, "TETTPA_SECRET_KEY": "test-secret-key-for-invites-and-sessions",
           "TETTPA_DATA_KEY": TEST_DATA_KEY, "TETTPA_TELEGRAM_TOKEN": "123456:TEST-TOKEN"}
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def sqlite_service(service, monkeypatch, tmp_path):
    """The shared service over its SQLite file, the working directory a scratch folder (no stray .env)."""
    monkeypatch.chdir(tmp_path)
    assert service.settings.database_url.startswith("sqlite:///")
    return service


def test_it_copies_the_log_while_the_service_writes_and_the_copy_restores(sqlite_service, tmp_path):
    service = sqlite_service
    cast(service)
    writes(service, tg(YOUTH_TG, "Hei Kari, kan vi snakkes i morgen?"))
    writes(service, tg(PARENT_TG, "Ola er syk i dag, æøå"))
    url = service.settings.database_url
    before = json.loads(tettpa(url, "log", "export", "--format", "json").stdout)["entries"]
    assert len(before) >= 2

    # Another writer holds the write lock for the whole backup, as the service may: the copy needs none.
    writer = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=1)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE person SET off = off")
    try:
        result = tettpa(url, "backup", str(tmp_path / "copy.db"), "--json")
    finally:
        writer.rollback()
        writer.close()
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done["integrity"] == "ok" and done["bytes"] > 0
    copy = tmp_path / "copy.db"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600, "the copy holds personal data: owner only"
    assert not (tmp_path / "copy.db.partial").exists()

    # Restore: the copy in place of a lost database (same data key), and the log reads the same.
    restored = tmp_path / "restored" / "tettpa.db"
    restored.parent.mkdir()
    shutil.copy(copy, restored)
    after = json.loads(tettpa(f"sqlite:///{restored}", "log", "export", "--format", "json").stdout)["entries"]
    assert after == before
    assert any(entry["text"] == "Ola er syk i dag, æøå" for entry in after)


def test_it_never_overwrites_a_file_it_was_not_told_to(sqlite_service, tmp_path):
    target = tmp_path / "copy.db"
    target.write_text("yesterday's backup")
    result = tettpa(sqlite_service.settings.database_url, "backup", str(target))
    assert result.exit_code != 0 and "--overwrite" in result.stderr
    assert target.read_text() == "yesterday's backup"
    assert tettpa(sqlite_service.settings.database_url, "backup", str(target), "--overwrite").exit_code == 0
    assert target.read_bytes().startswith(b"SQLite format 3")


def test_it_points_postgresql_at_pg_dump(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = tettpa("postgresql+psycopg://postgres@127.0.0.1:5432/test", "backup", str(tmp_path / "x.db"))
    assert result.exit_code != 0 and "pg_dump" in result.stderr
    assert not (tmp_path / "x.db").exists()
