"""Alembic on SQLModel.metadata, configured in code so no alembic.ini has to be found at run time.

Migrations run under a lock, so two processes starting together (two `tettpa serve` behind a load
balancer, a `serve` and a `db upgrade`) never both apply the same revision: on PostgreSQL a session-level
advisory lock, on SQLite an exclusive `flock` on a file beside the database (`<file>-migrate.lock`). The
second process waits, then finds the schema current and does nothing. Commands other than `db upgrade`
and `serve` do not migrate: they check with `require_current` and say so when the schema is behind.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

HERE = Path(__file__).parent
# pg_advisory_lock takes one bigint; this one is "tettpa" in ASCII, so it is easy to spot in pg_locks.
ADVISORY_LOCK_KEY = 0x746574747061


class SchemaNotCurrent(Exception):
    """The database's schema is not the one this version of the code expects."""

    def __init__(self, current: set[str], expected: set[str]):
        self.current, self.expected = current, expected
        if not current:
            what = "the database has no tables yet"
        elif current - expected:
            what = "the database was migrated by a newer version of Tett på"
        else:
            what = "the database's schema is older than this version"
        super().__init__(f"{what}: run `tettpa db upgrade`")


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


@contextlib.contextmanager
def migration_lock(engine: Engine, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Held while migrating: one process at a time, the others wait their turn (`on_wait` is called once
    when the lock is taken by another process, before waiting for it)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            params = {"key": ADVISORY_LOCK_KEY}
            if not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), params).scalar():
                if on_wait is not None:
                    on_wait()
                conn.execute(text("SELECT pg_advisory_lock(:key)"), params)
            conn.commit()  # the lock belongs to the session, not to a transaction left open
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), params)
                conn.commit()
        return
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        yield  # an in-memory database belongs to this process alone
        return
    import fcntl  # POSIX; the service runs on Linux

    lock_path = Path(f"{database}-migrate.lock")
    # Never deleted: removing a lock file races with the next locker. Owner-only, like the database beside it.
    with os.fdopen(os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def upgrade(engine: Engine, on_wait: Callable[[], None] | None = None) -> None:
    """Bring the schema to this version's heads, under the migration lock."""
    with migration_lock(engine, on_wait):
        command.upgrade(alembic_config(engine), "heads")  # parallel branches may each add tables


def expected_heads(engine: Engine) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())


def current_heads(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def require_current(engine: Engine) -> None:
    """Raise SchemaNotCurrent unless the database is at exactly this version's heads."""
    current, expected = current_heads(engine), expected_heads(engine)
    if current != expected:
        raise SchemaNotCurrent(current, expected)


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a migration from the difference between the tables and the database."""
    command.revision(alembic_config(engine), message=message, autogenerate=True)
