"""Units (projects, OT offices): who belongs where, and who may see which youth."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from bot.errors import InputError
from models.people import Person, Role, get_person
from models.programme import Membership, Unit

SEES_UNIT = (Role.coordinator, Role.admin)


def add_unit(session: Session, *, name: str, now: datetime, ot_contact: str | None = None) -> Unit:
    name = " ".join((name or "").split())
    if not name or len(name) > 100:
        raise InputError("name", "give a name of 1 to 100 characters")
    if session.exec(select(Unit).where(Unit.name == name)).first() is not None:
        raise InputError("name", f"there is already a unit called {name!r}")
    contact = " ".join((ot_contact or "").split())
    if len(contact) > 300:
        raise InputError("ot-contact", "give at most 300 characters")
    first = not all_units(session)
    unit = Unit(name=name, ot_contact=contact, created_at=now)
    session.add(unit)
    session.flush()
    if first:
        _adopt_everyone(session, unit)
    return unit


def _adopt_everyone(session: Session, unit: Unit) -> None:
    """The first unit takes in everyone added before units existed, as the migration does for an old database."""
    placed = set(session.exec(select(Membership.person_id)))
    people = session.exec(select(Person.id).where(Person.role.in_((Role.worker, Role.coordinator, Role.youth))))
    session.add_all(Membership(person_id=pid, unit_id=unit.id) for pid in people if pid not in placed)
    session.flush()


def all_units(session: Session) -> list[Unit]:
    return list(session.exec(select(Unit).order_by(Unit.id)))


def get_unit(session: Session, unit_id: int | None, field: str = "unit") -> Unit:
    unit = session.get(Unit, unit_id) if unit_id is not None else None
    if unit is None:
        raise InputError(field, f"there is no unit with id {unit_id}")
    return unit


def unit_id_of(session: Session, person: Person | None) -> int | None:
    """The unit of a person; a parent's is their youth's."""
    if person is None:
        return None
    if person.role == Role.parent and person.youth_id:
        person = get_person(session, person_id=person.youth_id)
    row = session.get(Membership, person.id) if person else None
    return row.unit_id if row else None


def unit_of(session: Session, person: Person | None) -> Unit | None:
    unit_id = unit_id_of(session, person)
    return session.get(Unit, unit_id) if unit_id is not None else None


def place(session: Session, person: Person, unit_id: int | None, *, default_from: Person | None = None) -> None:
    """Put a person in a unit: the one named, else `default_from`'s, else the only unit there is.
    With several units and none named, a worker must be given one (a youth follows their primary)."""
    if unit_id is not None:
        get_unit(session, unit_id)
    elif default_from is not None and unit_id_of(session, default_from) is not None:
        unit_id = unit_id_of(session, default_from)
    else:
        units = all_units(session)
        if len(units) > 1:
            raise InputError("unit", f"there are {len(units)} units: say which with --unit")
        unit_id = units[0].id if units else None
    row = session.get(Membership, person.id)
    if unit_id is None:
        if row is not None:
            session.delete(row)
        return
    if row is None:
        session.add(Membership(person_id=person.id, unit_id=unit_id))
    else:
        row.unit_id = unit_id
    session.flush()


def member_ids(session: Session, unit_id: int) -> set[int]:
    return set(session.exec(select(Membership.person_id).where(Membership.unit_id == unit_id)))


def sees_every_unit(session: Session, viewer: Person) -> bool:
    """An admin, or a coordinator of no unit (as before units existed), sees every youth."""
    return viewer.role == Role.admin or (viewer.role == Role.coordinator and unit_id_of(session, viewer) is None)


def may_see(session: Session, viewer: Person, youth: Person | None) -> bool:
    """An admin sees every youth, a coordinator their unit's, a worker those they are primary or secondary for."""
    if youth is None or youth.role != Role.youth or not viewer.is_staff:
        return False
    if viewer.id in (youth.primary_id, youth.secondary_id) or sees_every_unit(session, viewer):
        return True
    return viewer.role == Role.coordinator and unit_id_of(session, viewer) == unit_id_of(session, youth)


def visible_youth_ids(session: Session, viewer: Person) -> tuple[int, ...] | None:
    """The youths a coordinator or admin sees; None for every youth. Workers are not asked here."""
    if sees_every_unit(session, viewer):
        return None
    unit_id = unit_id_of(session, viewer)
    members = member_ids(session, unit_id) if unit_id is not None else set()
    youths = session.exec(select(Person.id).where(Person.role == Role.youth).order_by(Person.id))
    return tuple(y for y in youths if y in members)


def coordinators_of(session: Session, youth: Person) -> list[Person]:
    """The coordinators of the youth's unit, and the admins."""
    unit_id = unit_id_of(session, youth)
    members = member_ids(session, unit_id) if unit_id is not None else set()
    rows = session.exec(select(Person).where(Person.role.in_(SEES_UNIT)).order_by(Person.id))
    return [p for p in rows if p.role == Role.admin or p.id in members]
