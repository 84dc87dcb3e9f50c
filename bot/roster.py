"""Adding people and their invites; shared by the CLI, the sandbox and the dashboard."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from argon2 import PasswordHasher
from sqlmodel import Session

from bot import invites, period, units
from bot.errors import InputError
from bot.i18n import LANGUAGES, available_languages, normalize_language
from bot.phones import normalize_phone
from bot.timespec import SpecError, WeeklyHours
from models import kv
from models.people import Absence, Person, Role, by_email, create_person, get_person

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
passwords = PasswordHasher()


@dataclass
class Invited:
    person: Person
    code: str
    link: str


def _phone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalize_phone(value)
    except ValueError as exc:
        raise InputError("phone", str(exc)) from None


def _language(value: str | None) -> str:
    lang = normalize_language(value or "nb")
    if lang is None:
        choices = ", ".join(available_languages() or LANGUAGES)
        raise InputError("language", f"{value!r} is not a supported language (one of {choices})")
    return lang


def _name(value: str) -> str:
    name = " ".join((value or "").split())
    if not name or len(name) > 100:
        raise InputError("name", "give a name of 1 to 100 characters")
    return name


def _staff(session: Session, worker_id: int | None, field: str) -> Person | None:
    if worker_id is None:
        return None
    worker = get_person(session, person_id=worker_id)
    if worker is None or not worker.is_staff:
        raise InputError(field, f"there is no worker with id {worker_id}")
    return worker


def _invite(session: Session, person: Person, *, secret_key: str, now: datetime) -> Invited:
    code = invites.new_code()
    person.invite_hash = invites.code_hash(code, secret_key)
    person.invite_issued_at = now  # it expires TETTPA_INVITE_VALID from here
    username = kv.get(session, "telegram_username") or "TettPaBot"
    return Invited(person, code, invites.invite_link(code, username))


def add_worker(
    session: Session, *, name: str, now: datetime, secret_key: str, phone: str | None = None,
    email: str | None = None, language: str | None = "nb", role: str = "worker", unit: int | None = None,
) -> Invited:
    if role not in (Role.worker, Role.coordinator, Role.admin):
        raise InputError("role", f"{role!r} is not a role (worker, coordinator or admin)")
    if email is not None:
        email = email.strip().lower()
        if not EMAIL.match(email):
            raise InputError("email", f"{email!r} is not an e-mail address")
        if by_email(session, email=email):
            raise InputError("email", f"{email} is already used by someone else")
    person = create_person(
        session, role=Role(role), name=_name(name), phone=_phone(phone), email=email,
        language=_language(language), created_at=now,
    )
    if person.role != Role.admin:  # an admin sees every unit and belongs to none
        units.place(session, person, unit)
    return _invite(session, person, secret_key=secret_key, now=now)


def add_youth(
    session: Session, *, name: str, primary: int, now: datetime, secret_key: str,
    secondary: int | None = None, phone: str | None = None, language: str | None = "nb",
    birth_date: str | date | None = None, unit: int | None = None, period_from: date | None = None,
    period_until: date | None = None,
) -> Invited:
    primary_worker = _staff(session, primary, "primary")
    _staff(session, secondary, "secondary")
    if secondary is not None and secondary == primary:
        raise InputError("secondary", "the secondary worker must be someone else than the primary")
    if isinstance(birth_date, str):
        try:
            birth_date = date.fromisoformat(birth_date)
        except ValueError:
            raise InputError("birth-date", f"{birth_date!r} is not a date (YYYY-MM-DD)") from None
    person = create_person(
        session, role=Role.youth, name=_name(name), phone=_phone(phone), language=_language(language),
        primary_id=primary, secondary_id=secondary, birth_date=birth_date, created_at=now,
    )
    units.place(session, person, unit, default_from=primary_worker)
    if period_from is not None or period_until is not None:
        period.set_period(session, person, start=period_from, end=period_until, field="period-until")
    return _invite(session, person, secret_key=secret_key, now=now)


def add_parent(
    session: Session, *, youth: int, name: str, now: datetime, secret_key: str,
    phone: str | None = None, language: str | None = "nb",
) -> Invited:
    youth_row = get_person(session, person_id=youth)
    if youth_row is None or youth_row.role != Role.youth:
        raise InputError("youth", f"there is no youth with id {youth}")
    person = create_person(
        session, role=Role.parent, name=_name(name), phone=_phone(phone), language=_language(language),
        youth_id=youth, created_at=now,
    )
    return _invite(session, person, secret_key=secret_key, now=now)


def set_hours(session: Session, *, worker_id: int, spec: str) -> Person:
    worker = _staff(session, worker_id, "worker")
    try:
        worker.hours = str(WeeklyHours.parse(spec))
    except SpecError as exc:
        raise InputError("hours", str(exc)) from None
    return worker


def add_absence(session: Session, *, worker_id: int, start: datetime, end: datetime) -> Absence:
    _staff(session, worker_id, "worker")
    if end <= start:
        raise InputError("until", "--until must be after --from")
    absence = Absence(worker_id=worker_id, start=start, end=end)
    session.add(absence)
    session.flush()
    return absence


def set_password(session: Session, *, worker_id: int, password: str) -> Person:
    """A new dashboard password; every session started with the old one ends with it."""
    worker = _staff(session, worker_id, "worker")
    if len(password) < 10:
        raise InputError("password", "use at least 10 characters")
    worker.password_hash = passwords.hash(password)
    end_sessions(session, worker_id=worker_id)
    return worker


def end_sessions(session: Session, *, worker_id: int) -> int:
    """End a worker's dashboard sessions now (a lost laptop, a password someone saw); how many."""
    from models.auth import drop_sessions_of

    _staff(session, worker_id, "worker")
    return drop_sessions_of(session, person_id=worker_id)


def renew_invite(session: Session, *, person_id: int, now: datetime, secret_key: str) -> Invited:
    """A new invite code for anyone (the old one stops working); it may link a new Telegram account."""
    person = get_person(session, person_id=person_id)
    if person is None:
        raise InputError("id", f"there is no person with id {person_id}")
    person.invite_used_at = None
    return _invite(session, person, secret_key=secret_key, now=now)
