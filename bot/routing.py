"""Who is responsible for a youth right now: the primary when available, else the secondary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot import availability
from bot.timespec import WeeklyHours
from models.people import Person, absences_of, get_person
from models.programme import Deactivation


def _absences(session: Session, worker: Person) -> list[availability.Absence]:
    return [availability.Absence(a.start, a.end) for a in absences_of(session, worker_id=worker.id)]


# The pure rules are bot/availability.py's is_available and next_available (hours, absences, off); these two
# read a worker's hours and absences from the database first, and say so in their names.

def worker_is_available(session: Session, worker: Person, at: datetime, tz: ZoneInfo) -> bool:
    if session.get(Deactivation, worker.id) is not None:
        return False  # a deactivated worker gets nothing; the other worker does
    return availability.is_available(
        at, hours=WeeklyHours.parse(worker.hours), absences=_absences(session, worker), off=worker.off, tz=tz
    )


def worker_next_available(session: Session, worker: Person, at: datetime, tz: ZoneInfo) -> datetime | None:
    if session.get(Deactivation, worker.id) is not None:
        return None
    return availability.next_available(
        at, hours=WeeklyHours.parse(worker.hours), absences=_absences(session, worker), off=worker.off, tz=tz
    )


@dataclass
class Route:
    primary: Person | None
    secondary: Person | None
    responsible: Person | None  # None: nobody is available now
    backup: Person | None  # the one an escalation goes to

    @property
    def workers(self) -> list[Person]:
        return [w for w in (self.primary, self.secondary) if w is not None]


def route(session: Session, youth: Person, at: datetime, tz: ZoneInfo) -> Route:
    primary = get_person(session, person_id=youth.primary_id) if youth.primary_id else None
    secondary = get_person(session, person_id=youth.secondary_id) if youth.secondary_id else None
    if primary and worker_is_available(session, primary, at, tz):
        return Route(primary, secondary, primary, secondary)
    if secondary and worker_is_available(session, secondary, at, tz):
        return Route(primary, secondary, secondary, primary)
    return Route(primary, secondary, None, None)


def next_back(session: Session, youth: Person, at: datetime, tz: ZoneInfo) -> tuple[Person, datetime] | None:
    """The worker who will be back first, and when."""
    best = None
    for worker_id in (youth.primary_id, youth.secondary_id):
        worker = get_person(session, person_id=worker_id) if worker_id else None
        when = worker_next_available(session, worker, at, tz) if worker else None
        if when is not None and (best is None or when < best[1]):
            best = (worker, when)
    return best
