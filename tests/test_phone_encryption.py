"""Phone numbers and e-mails at rest are encrypted like names, found by a keyed hash; the SQLite file is
its owner's alone. Kari (a worker) logs in by e-mail; Per (a worker) and Lise (Ola's mother) have phones."""

from __future__ import annotations

import os
import stat

from alembic import command
from sqlalchemy import text

from bot import privacy, roster
from bot.auth import check_password
from models import crypto
from models.db import make_engine
from models.migrate import alembic_config, upgrade
from models.people import Person, by_email, by_phone
from tests.conftest import TEST_DATA_KEY
from tests.personas import cast

PER_PHONE, LISE_PHONE, KARI_EMAIL = "+4791111111", "+4792222222", "kari@ot.example"


def _stored(service) -> list[tuple]:
    with service.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT phone, email, phone_hash, email_hash FROM person"))]


def test_it_stores_no_phone_number_or_email_in_clear(service):
    cast(service)

    stored = repr(_stored(service))

    assert PER_PHONE not in stored and LISE_PHONE not in stored and KARI_EMAIL not in stored
    assert PER_PHONE.removeprefix("+47") not in stored
    with service.tx() as session:
        assert [p.name for p in by_phone(session, phone=PER_PHONE)] == ["Per Hansen"]
        assert by_email(session, email=" Kari@OT.example ").name == "Kari Nordmann"


def test_it_lets_kari_log_in_by_email(service):
    people = cast(service)
    with service.tx() as session:
        roster.set_password(session, worker_id=people.primary, password="lang-nok-passord")

    with service.tx() as session:
        check = check_password(service, session, "KARI@ot.example", "lang-nok-passord")

    assert check.person is not None and check.person.id == people.primary


def test_it_finds_lise_by_phone_during_and_after_a_key_rotation(service):
    cast(service)
    new = crypto.new_key()
    try:
        crypto.use_keys([new, TEST_DATA_KEY])  # rotation begun: rows are still hashed with the old key
        with service.tx() as session:
            assert [p.name for p in by_phone(session, phone=LISE_PHONE)] == ["Lise Berg"]
            privacy.rotate_keys(session)
        crypto.use_keys([new])  # the old key is gone
        with service.tx() as session:
            assert [p.name for p in by_phone(session, phone=LISE_PHONE)] == ["Lise Berg"]
            assert by_email(session, email=KARI_EMAIL) is not None
            assert session.get(Person, by_phone(session, phone=LISE_PHONE)[0].id).phone == LISE_PHONE
    finally:
        crypto.use_keys([TEST_DATA_KEY])


def test_it_creates_the_sqlite_file_and_its_wal_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "tettpa.db"
    old = os.umask(0o022)
    try:
        crypto.use_keys([TEST_DATA_KEY])
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        with engine.connect() as conn:  # open: the -wal and -shm files exist now
            conn.execute(text("SELECT count(*) FROM person"))
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
        engine.dispose()
    finally:
        os.umask(old)

    assert set(modes) >= {"tettpa.db", "tettpa.db-wal", "tettpa.db-shm"}
    assert all(mode & 0o077 == 0 for mode in modes.values()), {k: oct(v) for k, v in modes.items()}


def test_it_encrypts_the_numbers_a_database_already_holds_when_migrated(database_url):
    crypto.use_keys([TEST_DATA_KEY])
    engine = make_engine(database_url)
    command.upgrade(alembic_config(engine), "0005_inbound_lease")
    insert = text("INSERT INTO person (role, name, phone, email, language, hours, off, sms_opt_out, created_at, "
                  "primary_id, youth_id) VALUES (:role, :name, :phone, :email, 'nb', '', false, false, "
                  "'2026-11-23 10:00:00', :primary, :youth)")
    with engine.begin() as conn:
        # Rows that refer to each other, as a real roster does: the migration must not have to copy the table.
        conn.execute(insert, {"role": "worker", "name": crypto.encrypt("Kari Nordmann"), "phone": None,
                              "email": "Kari@OT.example", "primary": None, "youth": None})
        kari = conn.execute(text("SELECT id FROM person")).scalar_one()
        conn.execute(insert, {"role": "youth", "name": crypto.encrypt("Ola Berg"), "phone": None, "email": None,
                              "primary": kari, "youth": None})
        ola = conn.execute(text("SELECT max(id) FROM person")).scalar_one()
        conn.execute(insert, {"role": "parent", "name": crypto.encrypt("Lise Berg"), "phone": LISE_PHONE,
                              "email": "Lise@Example.no", "primary": None, "youth": ola})
        conn.execute(text("INSERT INTO conversation (person_id, youth_id) VALUES (:p, :p)"), {"p": ola})

    upgrade(engine)

    with engine.connect() as conn:
        stored = repr(conn.execute(text("SELECT phone, email FROM person")).all())
    assert "2222" not in stored and "lise" not in stored.lower() and "kari" not in stored.lower()
    from sqlmodel import Session
    with Session(engine) as session:
        (lise,) = by_phone(session, phone=LISE_PHONE)
        assert lise.phone == LISE_PHONE and lise.email == "lise@example.no"
        assert by_email(session, email="lise@example.no").id == lise.id
        assert by_email(session, email="kari@ot.example").role == "worker"
    engine.dispose()


def test_it_keeps_no_mistyped_login_address_in_clear(service):
    cast(service)
    with service.tx() as session:
        check_password(service, session, "kari@ot.exampel", "feil passord")

    with service.engine.connect() as conn:
        stored = repr(conn.execute(text("SELECT email FROM login_attempt")).all())

    assert "exampel" not in stored and "kari" not in stored
