"""Shared fixtures: a fresh database per test (SQLite, and PostgreSQL where one runs), a service with a
fake clock, and the Telegram stand-in served over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import inspect
import os
import queue
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
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


# Where the database's own behaviour is the point (claims, leases, intake, two processes, migrations, the
# dashboard's queries, the crash test), a test runs on SQLite and on PostgreSQL; everywhere else on SQLite
# only, since the SQL is the same and PostgreSQL's part is tested here. A test or module elsewhere opts in
# with `@pytest.mark.on_postgres` (or `pytestmark = pytest.mark.on_postgres`). TETTPA_TEST_ALL_POSTGRES=1
# runs every database test on both, as the suite did before.
POSTGRES_MODULES = {
    "test_outbox", "test_intake", "test_lease", "test_two_processes", "test_migrations", "test_dashboard",
    "test_crash", "test_sqlite_concurrency",
    # The database is the point here too: migrations over real rows, locks, leases, the atomic handled mark.
    "test_migrate_lock", "test_phone_encryption", "test_atomic_intake", "test_outbox_recording", "test_units",
}
_FROM_TEMPLATE = pytest.StashKey[bool]()
ALL_ON_POSTGRES = os.environ.get("TETTPA_TEST_ALL_POSTGRES", "") not in ("", "0")


def pytest_configure(config):
    config.addinivalue_line("markers", "on_postgres: run on PostgreSQL as well as SQLite (database_url)")


def pytest_generate_tests(metafunc):
    if "database_url" not in metafunc.fixturenames:
        return
    if any("database_url" in str(mark.args[0]) for mark in metafunc.definition.iter_markers("parametrize")):
        return  # the test names its own databases
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    both = ALL_ON_POSTGRES or module in POSTGRES_MODULES or metafunc.definition.get_closest_marker("on_postgres")
    params = ["sqlite"] + ([pytest.param("postgresql", marks=pytest.mark.postgres)] if both else [])
    metafunc.parametrize("database_url", params, indirect=True)


def _require_postgres() -> None:
    reason = postgres_available()
    if reason:
        if os.environ.get("TETTPA_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required here (TETTPA_REQUIRE_POSTGRES): {reason}")
        pytest.skip(reason)


@pytest.fixture
def database_url(request, tmp_path):
    """A fresh, empty database: a SQLite file, or a new PostgreSQL database dropped afterwards. (For a test
    that asks for it migrated, `service` or `migrated_database_url`, a copy of the migrated template.)"""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tettpa.db'}"
        return
    _require_postgres()
    name = f"tettpa_{uuid.uuid4().hex[:12]}"
    template = ""
    if "migrated_database_url" in request.fixturenames:
        template = f' TEMPLATE "{request.getfixturevalue("migrated_template")("postgresql")}"'
    with _postgres_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"{template}')
    request.node.stash[_FROM_TEMPLATE] = bool(template)
    yield _postgres_url(name)
    _drop_later(name)


def _postgres_url(name: str) -> str:
    return f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"


def _drop_postgres(name: str) -> None:
    with _postgres_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_dropping: queue.Queue[str | None] = queue.Queue()


def _dropper() -> None:
    while (name := _dropping.get()) is not None:
        with contextlib.suppress(Exception):
            _drop_postgres(name)


_drop_thread = threading.Thread(target=_dropper, name="drop test databases", daemon=True)


def _drop_later(name: str) -> None:
    """A test's PostgreSQL database is dropped beside the next tests (a DROP takes seconds on a busy
    machine), and all of them before the session ends."""
    if not _drop_thread.is_alive():
        _drop_thread.start()
    _dropping.put(name)


# A test worker's heap grows to 600,000 objects and more that earlier tests left alive (modules, mappers,
# caches, catalogs), and every full collection walks all of them: 0.3-0.9 s each after 400 tests, measured
# with gc.callbacks, and a pause for every thread of the process, a service running in it included (one CI
# run read it as its event loop held for 0.78 s). After every FREEZE_EVERY tests what is still alive is
# collected once and frozen (gc.freeze, as `tettpa serve` does after start-up), so later full collections
# walk only what came after. Garbage among the frozen is never collected: memory, not correctness.
FREEZE_EVERY = 25
_finished = [0]


def pytest_collection_finish(session):
    gc.collect()  # every test module imported: the biggest part of the heap, frozen before the first test
    gc.freeze()


def pytest_runtest_logfinish(nodeid, location):
    _finished[0] += 1
    if _finished[0] % FREEZE_EVERY == 0:
        gc.collect()
        gc.freeze()


def pytest_sessionfinish(session, exitstatus):
    if _drop_thread.is_alive():
        _dropping.put(None)
        _drop_thread.join(120)


_SQLITE_TEMPLATE: list[Path] = []


def migrate(database_url: str) -> None:
    """Bring the database to the newest revision: a fresh SQLite file is a copy of a file migrated once per
    process (1 ms instead of Alembic's fraction of a second); anything else is migrated by Alembic."""
    path = Path(database_url.removeprefix("sqlite:///")) if database_url.startswith("sqlite:///") else None
    if path is not None and not path.exists() and path.parent.is_dir():
        if not _SQLITE_TEMPLATE:
            import tempfile

            template = Path(tempfile.mkdtemp(prefix="tettpa-template-")) / "tettpa.db"
            engine = make_engine(f"sqlite:///{template}")
            upgrade(engine)
            engine.dispose()
            _SQLITE_TEMPLATE.append(template)
        shutil.copyfile(_SQLITE_TEMPLATE[0], path)
        return
    engine = make_engine(database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory):
    """Migrated once per session (and per xdist worker): a SQLite file, and a PostgreSQL template database
    when PostgreSQL runs. Returns a function making a fresh migrated copy of either."""
    made: dict[str, str] = {}

    def template(kind: str) -> str:
        if kind not in made:
            if kind == "sqlite":
                path = tmp_path_factory.mktemp("template") / "tettpa.db"
                engine = make_engine(f"sqlite:///{path}")
                upgrade(engine)
                engine.dispose()
                made[kind] = str(path)
            else:
                name = f"tettpa_template_{uuid.uuid4().hex[:8]}"
                with _postgres_admin() as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                engine = make_engine(_postgres_url(name))
                upgrade(engine)
                engine.dispose()  # a template must have no connections while it is copied
                made[kind] = name
        return made[kind]

    yield template
    if "postgresql" in made:
        with contextlib.suppress(Exception):
            _drop_postgres(made["postgresql"])


@pytest.fixture
def migrated_database_url(request, database_url, migrated_template, tmp_path):
    """`database_url`, migrated to the newest revision: a copy of the session's migrated template (1 ms for
    SQLite, a `CREATE DATABASE ... TEMPLATE` on PostgreSQL) instead of running Alembic again."""
    if database_url.startswith("sqlite"):
        shutil.copyfile(migrated_template("sqlite"), tmp_path / "tettpa.db")
        return database_url
    if request.node.stash.get(_FROM_TEMPLATE, False):
        return database_url
    name = database_url.rsplit("/", 1)[1]
    template = migrated_template("postgresql")
    with _postgres_admin() as conn:
        conn.execute(f'DROP DATABASE "{name}"')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return database_url


# A wait for the service (a message at a stand-in) is a bound on failing, never a measurement: on a
# loaded 2-core machine a relay can take seconds. Below this floor, waits are stretched to it, except in
# the stand-ins' own tests, which check how a wait fails.
MIN_WAIT = float(os.environ.get("TETTPA_TEST_MIN_WAIT", "30"))


async def eventually(check, what: str, timeout: float = MIN_WAIT):
    """What `check()` returns (awaited, if it is a coroutine) once it is true, looked at again whenever the
    event loop has run the work under test a little further; fails naming `what` after `timeout` seconds
    (a bound on failing, TETTPA_TEST_MIN_WAIT, never a measurement)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(POLL_STEP)


POLL_STEP = 0.005  # seconds between two looks of `eventually`: the service's worker threads finish meanwhile


def wait_until(check, timeout: float, what: str, interval: float = 0.1):
    """Poll `check` until it returns something true; fail naming `what` after `timeout` seconds (a bound on
    failing, never a measurement). For code outside an event loop; inside one, `eventually`."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@contextlib.contextmanager
def live_process():
    """Another process on this machine, alive until the block ends (it waits for its stdin to close)."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        yield child
    finally:
        child.kill()
        child.wait()


@pytest.fixture(autouse=True)
def _patient_waits(request, monkeypatch):
    if request.module.__name__.rsplit(".", 1)[-1].startswith("test_standin"):
        return
    from standins.telegram import TelegramStandIn
    from standins.twilio import TwilioStandIn

    def patient(wait, default: float):
        def waiting(self, who, count: int = 1, timeout: float = default):
            return wait(self, who, count, timeout if count == 0 else max(timeout, MIN_WAIT))
        return waiting

    monkeypatch.setattr(TelegramStandIn, "wait_sent", patient(TelegramStandIn.wait_sent, 5.0))
    monkeypatch.setattr(TwilioStandIn, "wait_sms", patient(TwilioStandIn.wait_sms, 5.0))
    monkeypatch.setattr(TwilioStandIn, "wait_call", patient(TwilioStandIn.wait_call, 5.0))


def make_settings(database_url: str, **overrides) -> Settings:
    values = {
        "database_url": database_url,
        "secret_key": "test-secret-key-for-invites-and-sessions",
        "data_key": TEST_DATA_KEY,
        "telegram_token": "123456:TEST-TOKEN",
        "timezone": "Europe/Oslo",
        "escalation_after": "15m",
        # Telegram's one-a-second per chat is kept by the sender; tests that do not count it go without it
        # (tests/test_outbox_lanes.py shows the gap with it on).
        "telegram_chat_gap": "0s",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def clock():
    return FakeClock(MONDAY_10)


@pytest.fixture
def service(migrated_database_url, clock) -> Service:
    """The core's surroundings over a migrated database, with time that moves only when told."""
    database_url = migrated_database_url
    settings = make_settings(database_url)
    crypto.use_keys([settings.data_key])
    engine = make_engine(database_url)
    yield Service(settings=settings, engine=engine, clock=clock)
    engine.dispose()


@contextlib.contextmanager
def write_locked_elsewhere(service: Service):
    """Another process holds SQLite's write lock (a backup, a CLI import); yields the service with a
    0.5 s busy timeout, so anything that tries to write meanwhile fails fast instead of waiting."""
    if not service.settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    impatient = dataclasses.replace(service, engine=make_engine(service.settings.database_url, busy_timeout=0.5))
    other = sqlite3.connect(service.settings.database_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield impatient
    finally:
        other.execute("ROLLBACK")
        other.close()
        impatient.engine.dispose()
