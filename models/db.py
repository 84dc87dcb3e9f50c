"""Engine and sessions. SQLite gets WAL; a write transaction begins IMMEDIATE (takes the write lock at once),
a read transaction begins DEFERRED and never takes it. PostgreSQL works through the same code."""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlmodel import Session


def prepared(build: Callable[..., object]) -> Callable[..., object]:
    """A statement built once, the first time it is asked for, its values left as bindparams; a builder with
    arguments (a dialect, which optional conditions apply) keeps one per argument. A relay asks about twenty:
    built anew each time (the expression, then its cache key) one cost more than SQLite's answer to it, 84 µs
    against 38 µs for one built before (docs/PERFORMANCE.md)."""
    return functools.cache(build)


READ_ONLY = "tettpa_read_only"  # execution option that marks a read transaction

SQLITE_AT_LEAST = (3, 35)  # INSERT ... ON CONFLICT ... RETURNING (models.inbound.store_taken)

# SQLite has one writer. Two threads of this process that both want it would otherwise meet in SQLite's busy
# handler, which does not wake the waiter when the lock comes free but sleeps and tries again (1, 2, 5, 10,
# 15, 20, 25 ms ...): a write queued behind a 5 ms one waited 8 ms, behind a 20 ms one 33 ms. Writers of one
# process queue on this lock instead and start the moment the one before them commits; the busy handler is
# left for other processes. (Re-entrant, so a thread that opens a write inside its own write meets SQLite's
# answer as before rather than a deadlock here.)
_write_locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def make_engine(url: str, busy_timeout: float = 30.0) -> Engine:
    """`busy_timeout` (seconds, SQLite only): how long a write waits for another process's write lock before
    it fails. It waits in a worker thread, never on the event loop (see Service.run)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        if sqlite3.sqlite_version_info < SQLITE_AT_LEAST:
            # INSERT ... ON CONFLICT ... RETURNING (models.inbound.store_taken) came in SQLite 3.35.
            raise RuntimeError(f"TETTPA_DATABASE_URL: SQLite {sqlite3.sqlite_version} is too old; this service "
                               f"needs {'.'.join(map(str, SQLITE_AT_LEAST))} or newer (or PostgreSQL)")
        _owner_only(make_url(url).database)
        # Worker threads may all wait for the write lock at once; reads must still find a connection.
        pool = {} if url in ("sqlite://", "sqlite:///:memory:") else {"pool_size": 10, "max_overflow": 30}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": busy_timeout},
                               hide_parameters=True, **pool)
        _sqlite_pragmas(engine, busy_timeout)
        _write_locks[engine] = (threading.RLock(), busy_timeout)
        return engine
    # hide_parameters: a database error must not print the values it was given (numbers, texts) to the log.
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def _owner_only(path: str | None) -> None:
    """Create the SQLite file readable by its owner only (0600) before SQLite does (it would use the umask);
    SQLite gives its -wal and -shm files the mode of the database file."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    if not os.path.exists(path):
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError:
            return  # no such directory, or not writable: SQLite reports that in its own words
    for suffix in ("", "-wal", "-shm"):
        # A file made before this promise (or under a wider umask) is narrowed too: it holds the same data.
        try:
            os.chmod(path + suffix, 0o600)
        except OSError:
            pass  # not there (yet), or not ours to change


def _sqlite_pragmas(engine: Engine, busy_timeout: float) -> None:
    """WAL lets readers run beside the writer; BEGIN IMMEDIATE takes the write lock at the start of
    every write transaction, so two read-then-write transactions cannot both read and then lose an update.
    A read transaction (READ_ONLY) begins DEFERRED: in WAL it reads a snapshot and never waits for the lock."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event issue BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: committed when the block ends, rolled back if it raises. On SQLite, the writers of
    this process take turns on a lock of their own first (see _write_locks)."""
    lock, timeout = _write_locks.get(engine, (None, 0.0))
    # Waiting longer than SQLite itself would is not waiting for a turn any more: then the write goes on to
    # SQLite, which gives its own answer after busy_timeout (as it did before this lock).
    turn = lock is not None and lock.acquire(timeout=timeout)
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session
    finally:
        if turn:
            lock.release()


def _reader(engine: Engine) -> Engine:
    """The engine marked for reads, made once and kept on the engine (making it was most of an idle read's
    cost)."""
    reader = getattr(engine, "_tettpa_reader", None)
    if reader is None:
        reader = engine.execution_options(**{READ_ONLY: True})
        engine._tettpa_reader = reader
    return reader


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Session]:
    """A read: on SQLite it never takes the write lock (a snapshot in WAL); never commits anything."""
    with Session(_reader(engine), expire_on_commit=False) as session:
        try:
            yield session
        finally:
            session.expunge_all()  # what was read stays readable after the block, as after a commit
            session.rollback()


def ping(engine: Engine) -> bool:
    try:
        with engine.execution_options(**{READ_ONLY: True}).connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
