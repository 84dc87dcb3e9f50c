"""Lists, edits and deactivation of workers and youths: what a coordinator needs beside adding people."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session, select

from bot import roster, status_codes, units
from bot.errors import InputError
from models.people import STAFF, Person, Role, by_email, get_person
from models.programme import Deactivation, FollowUp

PERIODS = ("running", "ended", "none")


def is_active(session: Session, person_id: int) -> bool:
    return session.get(Deactivation, person_id) is None


def deactivated_ids(session: Session) -> set[int]:
    return set(session.exec(select(Deactivation.person_id)))


def list_workers(session: Session, *, unit_id: int | None = None, include_inactive: bool = False) -> list[dict]:
    gone = deactivated_ids(session)
    youths = list(session.exec(select(Person).where(Person.role == Role.youth)))
    rows = []
    for p in session.exec(select(Person).where(Person.role.in_(STAFF)).order_by(Person.id)):
        unit = units.unit_id_of(session, p)
        if (unit_id is not None and unit != unit_id) or (p.id in gone and not include_inactive):
            continue
        rows.append({"id": p.id, "name": p.name, "role": p.role, "unit": unit, "email": p.email,
                     "language": p.language, "active": p.id not in gone,
                     "primary_for": sum(1 for y in youths if y.primary_id == p.id and y.id not in gone),
                     "secondary_for": sum(1 for y in youths if y.secondary_id == p.id and y.id not in gone)})
    return rows


def list_youths(session: Session, *, today: date, unit_id: int | None = None, worker_id: int | None = None,
                status: str | None = None, period_state: str | None = None,
                include_inactive: bool = False) -> list[dict]:
    """Youths with their unit, workers, status code and period; filtered by each of those."""
    if period_state is not None and period_state not in PERIODS:
        raise InputError("period", f"{period_state!r} is not one of {', '.join(PERIODS)}")
    code = status_codes.normalize(status) if status else None
    gone = deactivated_ids(session)
    youths = list(session.exec(select(Person).where(Person.role == Role.youth).order_by(Person.id)))
    codes = status_codes.status_on(session, [y.id for y in youths], today)
    periods = {f.youth_id: f for f in session.exec(select(FollowUp))}
    rows = []
    for y in youths:
        f = periods.get(y.id)
        state = "none" if f is None or f.end is None else ("ended" if f.end < today else "running")
        unit = units.unit_id_of(session, y)
        if ((unit_id is not None and unit != unit_id) or (worker_id is not None and worker_id not in
            (y.primary_id, y.secondary_id)) or (code is not None and codes.get(y.id) != code)
                or (period_state is not None and state != period_state) or (y.id in gone and not include_inactive)):
            continue
        rows.append({"id": y.id, "name": y.name, "unit": unit, "primary": y.primary_id, "secondary": y.secondary_id,
                     "language": y.language, "status": codes.get(y.id), "period": state,
                     "period_from": f.start.isoformat() if f and f.start else None,
                     "period_until": f.end.isoformat() if f and f.end else None, "active": y.id not in gone})
    return rows


def _person(session: Session, person_id: int, roles: tuple[str, ...], field: str) -> Person:
    person = get_person(session, person_id=person_id)
    if person is None or person.role not in roles:
        raise InputError(field, f"there is no {'youth' if roles == (Role.youth,) else 'worker'} with id {person_id}")
    return person


def edit(session: Session, *, person_id: int, youth: bool, name: str | None = None, phone: str | None = None,
         email: str | None = None, language: str | None = None, unit: int | None = None, role: str | None = None,
         primary: int | None = None, secondary: int | None = None, birth_date: str | None = None) -> Person:
    """Change what is given; every value is checked as when adding, and a bad one names its field."""
    person = _person(session, person_id, (Role.youth,) if youth else STAFF, "id")
    if name is not None:
        person.name = roster._name(name)
    if phone is not None:
        person.phone = roster._phone(phone) if phone.strip() else None
    if language is not None:
        person.language = roster._language(language)
    if email is not None:
        address = email.strip().lower()
        if address and not roster.EMAIL.match(address):
            raise InputError("email", f"{address!r} is not an e-mail address")
        other = by_email(session, email=address) if address else None
        if other is not None and other.id != person.id:
            raise InputError("email", f"{address} is already used by someone else")
        person.email = address or None
    if role is not None:
        if youth or role not in STAFF:
            raise InputError("role", f"{role!r} is not a role (worker, coordinator or admin)")
        person.role = role
    if primary is not None or secondary is not None:
        if not youth:
            raise InputError("primary", "only a youth has workers")
        new_primary = roster._staff(session, primary if primary is not None else person.primary_id, "primary")
        new_secondary = secondary if secondary is not None else person.secondary_id
        if secondary == 0:
            new_secondary = None  # --secondary 0: no backup worker
        roster._staff(session, new_secondary, "secondary")
        if new_secondary is not None and new_secondary == new_primary.id:
            raise InputError("secondary", "the secondary worker must be someone else than the primary")
        person.primary_id, person.secondary_id = new_primary.id, new_secondary
    if birth_date is not None:
        try:
            person.birth_date = date.fromisoformat(birth_date) if birth_date else None
        except ValueError:
            raise InputError("birth-date", f"{birth_date!r} is not a date (YYYY-MM-DD)") from None
    if unit is not None:
        units.place(session, person, unit)
    session.flush()
    return person


def deactivate(session: Session, *, person_id: int, now: datetime, youth: bool) -> Person:
    """No more relays, wake-ups, reminders or dashboard login; the log stays. A youth's messages get the
    hand-over answer, as after the follow-up period."""
    person = _person(session, person_id, (Role.youth,) if youth else STAFF, "id")
    if session.get(Deactivation, person.id) is None:
        session.add(Deactivation(person_id=person.id, at=now))
    if person.is_staff:
        person.password_hash = None  # the session check needs one: this logs them out as well
    session.flush()
    return person



def programme_facts(session: Session, person: Person) -> dict:
    """What the programme stores about a person, for their data export (GDPR art. 15)."""
    from bot import consent

    facts: dict = {"unit": units.unit_id_of(session, person), "active": is_active(session, person.id)}
    if person.role == Role.youth:
        row = session.get(FollowUp, person.id)
        facts["period"] = {"from": row.start.isoformat() if row and row.start else None,
                           "until": row.end.isoformat() if row and row.end else None}
        facts["status"] = [{"code": s.code, "from": s.start.isoformat()} for s in status_codes.history(session, person.id)]
        facts["consent"] = sorted(consent.current(session, person.id))
    return facts
