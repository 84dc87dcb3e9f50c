"""The follow-up period: notices before it ends, what stops at its end, and the hand-over to the ordinary OT."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlmodel import Session, select

from bot import texts, units
from bot.contactlog import record
from bot.errors import InputError
from bot.i18n import Lang
from bot.out.outbox import send_text
from bot.service import Service
from models.people import Person, Role, get_person, parents_of
from models.programme import Deactivation, FollowUp

NOTICES = (14, 2)  # days before the last day of the period
# Notices go out in the day, never at the first sweep after midnight.
NOTICE_FROM = time(10, 0)
GRACE = "grace"
OVER = "over"


def lang(service: Service, person: Person) -> Lang:
    return Lang(person.language, service.settings.tz)


def get(session: Session, youth_id: int) -> FollowUp | None:
    return session.get(FollowUp, youth_id)


def set_period(session: Session, youth: Person, *, start: date | None, end: date | None,
               field: str = "until") -> FollowUp:
    """Set or change a youth's period; the end is the last day of it. `field` names the end in errors."""
    if youth is None or youth.role != Role.youth:
        raise InputError("youth", "there is no such youth")
    row = get(session, youth.id)
    start = start if start is not None else (row.start if row else None)
    if end is None:
        raise InputError(field, "give the last day of the period")
    if start is not None and end < start:
        raise InputError(field, "the period cannot end before it starts")
    if row is None:
        row = FollowUp(youth_id=youth.id)
        session.add(row)
    row.start, row.end = start, end
    session.flush()
    return row


def change_period(service: Service, session: Session, *, youth_id: int, start: date | None, end: date | None,
                  by: Person | None = None) -> FollowUp:
    """`tettpa youth period`: set, shorten or extend the period, in the log; extending resumes everything."""
    row = set_period(session, get_person(session, person_id=youth_id), start=start, end=end)
    N = Lang("nb", service.settings.tz)
    record(session, service.settings, at=service.now(), youth_id=youth_id, party="worker" if by else "system",
           worker_id=by.id if by else None, channel="manual", direction="none", kind="period",
           text=N._("Oppfølgingsperiode: {start}–{end}", start=row.start.isoformat() if row.start else "",
                    end=row.end.isoformat()))
    return row


def ends_at(end: date, service: Service) -> datetime:
    """The moment a period whose last day is `end` is over: the next local midnight."""
    return datetime.combine(end + timedelta(days=1), time(), tzinfo=service.settings.tz)


def phase(session: Session, service: Service, youth: Person, now: datetime) -> str | None:
    """None while the period runs (or has no end); GRACE for TETTPA_HANDOVER_GRACE after it; then OVER."""
    if session.get(Deactivation, youth.id) is not None:
        return OVER
    row = get(session, youth.id)
    if row is None or row.end is None or now < ends_at(row.end, service):
        return None
    return GRACE if now < ends_at(row.end, service) + service.settings.handover_grace else OVER


def last_days(session: Session, youth_ids: list[int]) -> dict[int, date]:
    """The last day of each youth's period (youths with no end are left out)."""
    if not youth_ids:
        return {}
    rows = session.exec(select(FollowUp).where(FollowUp.youth_id.in_(youth_ids), FollowUp.end.is_not(None)))
    ends = {row.youth_id: row.end for row in rows}
    for gone in session.exec(select(Deactivation).where(Deactivation.person_id.in_(youth_ids))):
        ends[gone.person_id] = date.min  # a deactivated youth gets no more wake-ups
    return ends


def is_over(session: Session, service: Service, youth_id: int, now: datetime) -> bool:
    if session.get(Deactivation, youth_id) is not None:
        return True
    row = get(session, youth_id)
    return row is not None and row.end is not None and now >= ends_at(row.end, service)


def ot_contact(session: Session, L: Lang, youth: Person) -> str:
    unit = units.unit_of(session, youth)
    return unit.ot_contact if unit and unit.ot_contact else L._("oppfølgingstjenesten i fylket ditt")


def is_minor(youth: Person, today: date) -> bool:
    """Under 18; a youth whose birth date is not known is treated as a minor, so the parents are not left out."""
    if youth.birth_date is None:
        return True
    born = youth.birth_date
    return (today.year - born.year - ((today.month, today.day) < (born.month, born.day))) < 18


def sweep(service: Service) -> int:
    """Send the notices that are due; how many youths were told."""
    now = service.now()
    local = now.astimezone(service.settings.tz)
    if local.time() < NOTICE_FROM:
        return 0
    today = local.date()
    told = 0
    with service.tx() as session:
        rows = session.exec(select(FollowUp).where(FollowUp.end.is_not(None), FollowUp.end >= today,
                                                   FollowUp.end <= today + timedelta(days=NOTICES[0])))
        gone = set(session.exec(select(Deactivation.person_id)))
        for row in rows:
            if row.youth_id in gone:
                continue  # a deactivated youth is told nothing more
            days = 2 if row.end - today <= timedelta(days=NOTICES[1]) else 14
            if row.notice_2_for == row.end or (days == 14 and row.notice_14_for == row.end):
                continue
            youth = get_person(session, person_id=row.youth_id)
            notify(service, session, youth, row.end, days, now)
            if days == 2:
                row.notice_2_for = row.end
            row.notice_14_for = row.end
            told += 1
    service.kick_outbox()
    return told


def notify(service: Service, session: Session, youth: Person, end: date, days: int, now: datetime) -> None:
    """The youth, the parents of a minor, and the workers are told when the period ends."""
    last = datetime.combine(end, time(12), tzinfo=service.settings.tz)
    key = f"period:{youth.id}:{end.isoformat()}:{days}"
    L = lang(service, youth)
    send_text(session, key=f"{key}:{youth.id}", person=youth, now=now, text=L._(
        "Hei {name}! Oppfølgingen din i Tett på varer til og med {end}. Etter det kan du ta kontakt med {contact}.",
        name=texts.first_name(youth.name), end=L.date(last), contact=ot_contact(session, L, youth)))
    if is_minor(youth, now.astimezone(service.settings.tz).date()):
        for parent in parents_of(session, youth_id=youth.id):
            P = lang(service, parent)
            send_text(session, key=f"{key}:{parent.id}", person=parent, now=now, text=P._(
                "Hei {name}! Oppfølgingen av {youth} i Tett på varer til og med {end}. Etter det kan dere ta "
                "kontakt med {contact}.", name=texts.first_name(parent.name), youth=texts.first_name(youth.name),
                end=P.date(last), contact=ot_contact(session, P, youth)))
    for worker_id in (youth.primary_id, youth.secondary_id):
        worker = get_person(session, person_id=worker_id) if worker_id else None
        if worker is not None:
            W = lang(service, worker)
            send_text(session, key=f"{key}:{worker.id}", person=worker, now=now, channel="telegram", text=W._(
                "Oppfølgingsperioden til {youth} slutter {end}. Forlenger dere, bruk «tettpa youth period».",
                youth=youth.name, end=W.date(last)))
    N = Lang("nb", service.settings.tz)
    record(session, service.settings, at=now, youth_id=youth.id, party="system", channel="manual",
           direction="out", kind="period", text=N._("Varsel sendt: oppfølgingsperioden slutter {end}",
                                                    end=N.date(last)))


def alarm_also(session: Session, youth: Person, ended: str | None, workers: list[Person]) -> list[Person]:
    """After the period, an acute message reaches the unit's coordinators too, besides the former workers."""
    if ended is None:
        return []
    have = {w.id for w in workers}
    return [c for c in units.coordinators_of(session, youth) if c.id not in have]


def hand_over_text(session: Session, L: Lang, youth: Person) -> str:
    first = L._("Oppfølgingen din i Tett på er avsluttet, så meldingen går ikke lenger til en kontaktperson. "
                "Ta kontakt med {contact}.", contact=ot_contact(session, L, youth))
    return f"{first}\n\n{texts.emergency(L)}"
