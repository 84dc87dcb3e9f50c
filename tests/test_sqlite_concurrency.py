"""SQLite under threads: `models.db.transaction` takes the write lock at BEGIN (BEGIN IMMEDIATE), so a
read-then-write transaction can never read a value another thread is about to change. The service runs
the outbox sender, intake, scheduler and webhooks side by side on one SQLite file, and every counter,
lease and status they keep is such a read-then-write.

The contrast at the end shows what the same transaction does on a plain engine (pysqlite's deferred
BEGIN): two threads both read, both write, and one update is lost."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session

from models.db import make_engine, transaction

THREADS = 8
INCREMENTS = 25


def _make_counter(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO counter (id, value) VALUES (1, 0)"))


def _value(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT value FROM counter WHERE id = 1")).scalar_one()


def _read_then_write(session: Session, pause: float = 0.0) -> None:
    current = session.execute(text("SELECT value FROM counter WHERE id = 1")).scalar_one()
    if pause:
        time.sleep(pause)  # widen the window between the read and the write
    session.execute(text("UPDATE counter SET value = :v WHERE id = 1"), {"v": current + 1})


def _run_threads(work, count: int) -> list[BaseException]:
    errors: list[BaseException] = []

    def run():
        try:
            work()
        except BaseException as exc:  # collected and asserted on in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return errors


def test_it_loses_no_update_when_many_threads_read_then_write_through_a_transaction(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'tettpa.db'}")
    _make_counter(engine)

    def work():
        for _ in range(INCREMENTS):
            with transaction(engine) as session:
                _read_then_write(session, pause=0.001)

    errors = _run_threads(work, THREADS)
    assert errors == []
    assert _value(engine) == THREADS * INCREMENTS
    engine.dispose()


def test_it_makes_a_second_writer_wait_until_the_first_has_committed(tmp_path):
    """Deterministic: the second transaction cannot even begin (and so cannot read) while the first is open."""
    engine = make_engine(f"sqlite:///{tmp_path / 'tettpa.db'}")
    _make_counter(engine)
    first_read = threading.Event()
    release_first = threading.Event()
    second_read_value: list[int] = []

    def first():
        with transaction(engine) as session:
            _read_then_write(session)
            first_read.set()
            release_first.wait(10)

    def second():
        first_read.wait(10)
        with transaction(engine) as session:
            second_read_value.append(session.execute(text("SELECT value FROM counter")).scalar_one())
            session.execute(text("UPDATE counter SET value = :v"), {"v": second_read_value[0] + 1})

    t1, t2 = threading.Thread(target=first), threading.Thread(target=second)
    t1.start()
    t2.start()
    first_read.wait(10)
    time.sleep(0.3)
    assert second_read_value == []  # still waiting at BEGIN IMMEDIATE, not reading a stale 0
    release_first.set()
    t1.join(10)
    t2.join(10)
    assert second_read_value == [1] and _value(engine) == 2
    engine.dispose()


def lost_updates_on_a_plain_engine(path) -> int:
    """The same read-then-write on a plain SQLAlchemy engine (deferred BEGIN): both threads read before
    either writes, so the counter ends one short. Returns how many updates were lost."""
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30})
    _make_counter(engine)
    both_read = threading.Barrier(2, timeout=10)

    def work():
        with Session(engine) as session, session.begin():
            current = session.execute(text("SELECT value FROM counter WHERE id = 1")).scalar_one()
            both_read.wait()
            session.execute(text("UPDATE counter SET value = :v WHERE id = 1"), {"v": current + 1})

    errors = _run_threads(work, 2)
    assert errors == []
    lost = 2 - _value(engine)
    engine.dispose()
    return lost


def test_it_would_lose_an_update_without_begin_immediate(tmp_path):
    """Why make_engine issues BEGIN IMMEDIATE: without it, this interleaving loses one of two updates.
    (With it, the barrier above could never be reached by both threads: the second would wait at BEGIN.)"""
    assert lost_updates_on_a_plain_engine(tmp_path / "plain.db") == 1


def test_it_refuses_a_sqlite_older_than_what_its_statements_need(tmp_path, monkeypatch):
    """INSERT ... ON CONFLICT ... RETURNING needs SQLite 3.35: an older one is named at start, not at the
    first message."""
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    with pytest.raises(RuntimeError, match=r"TETTPA_DATABASE_URL: SQLite 3\.34\.1 is too old.*3\.35"):
        make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    assert not (tmp_path / "old.db").exists()
