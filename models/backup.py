"""`tettpa backup FILE`: a consistent copy of a SQLite database while the service runs.

SQLite's online backup API copies the database page by page inside one read transaction, so it sees one
moment of the database and, in WAL mode, never takes the write lock: the service keeps writing meanwhile.
PostgreSQL is backed up with pg_dump (README), which does the same for it.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """Why no backup was made, in words for the operator."""


@dataclass
class Backup:
    file: str
    bytes: int
    integrity: str


def sqlite_path(database_url: str) -> Path:
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite"):
        raise BackupError("the database is PostgreSQL: back it up with pg_dump "
                          "(pg_dump --format=custom --file FILE DATABASE_URL; see the README)")
    if not url.database or url.database == ":memory:":
        raise BackupError("the database is in memory: there is nothing on disk to back up")
    path = Path(url.database)
    if not path.exists():
        raise BackupError(f"there is no database file at {path}")
    return path


def backup(database_url: str, target: Path, *, overwrite: bool = False) -> Backup:
    """Copy the database to `target` (readable by its owner only); checked before it replaces anything."""
    source = sqlite_path(database_url)
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists already (give --overwrite to replace it)")
    if target.resolve() == source.resolve():
        raise BackupError("the backup would overwrite the database itself")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    # Created 0600 before a byte is written: the copy holds the same personal data as the database.
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # all pages in one step: one consistent read, no write lock
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            integrity = dst.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            dst.close()
            src.close()
        if integrity != "ok":
            raise BackupError(f"the copy failed its integrity check: {integrity}")
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return Backup(str(target), target.stat().st_size, integrity)
