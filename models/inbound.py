"""Everything that comes in from outside, stored before it is acknowledged and handled once."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from models.crypto import EncryptedText
from models.db import prepared
from models.types import UTCDateTime

INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}  # INSERT ... ON CONFLICT DO NOTHING

# An item that failed this many times is "stuck": no longer tried within seconds, but every SLOW_RETRY,
# until it is handled. It is never given up: a stored message must not silently stop being handled.
FAST_ATTEMPTS = 5
SLOW_RETRY = timedelta(minutes=10)


class Inbound(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    source: str  # telegram | sms | voice | status
    key: str = Field(unique=True)  # tg:<update_id>, sms:<MessageSid>, ...
    payload: str = Field(sa_type=EncryptedText)  # raw JSON: it holds message texts
    received_at: datetime = Field(sa_type=UTCDateTime)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    attempts: int = 0
    error: str | None = None
    # The process handling it now (bot.holder) and until when: with more than one process, each item is
    # handled by one of them at a time (a /notat must not be added twice).
    holder: str | None = None
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # An item that can never be handled (not JSON, not an update we understand): kept with its reason in
    # `error`, counted in /healthz and /metrics, and never tried again.
    parked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


@prepared
def _insert_taken(dialect: str):
    """The one INSERT of store_taken for a database that can say "stored before" itself, built once."""
    return INSERTS[dialect](Inbound).values(
        source=bindparam("item_source"), key=bindparam("item_key"), payload=bindparam("item_payload"),
        received_at=bindparam("now"), processed_at=None, attempts=0, error=None, holder=bindparam("item_holder"),
        lease_until=bindparam("item_lease_until"), parked_at=None,
    ).on_conflict_do_nothing(index_elements=[Inbound.key]).returning(Inbound.id)


@prepared
def _mark_handled():
    return (update(Inbound).where(Inbound.id == bindparam("item_id"), Inbound.processed_at.is_(None),
                                  Inbound.holder == bindparam("item_holder"))
            .values(processed_at=bindparam("now"), holder=None, lease_until=None))


def store(session: Session, *, source: str, key: str, payload: str, now: datetime) -> bool:
    """Store one inbound item; False when that key was stored before (a redelivery)."""
    return store_taken(session, source=source, key=key, payload=payload, now=now) is not None


def store_taken(session: Session, *, source: str, key: str, payload: str, now: datetime, holder: str | None = None,
                lease_until: datetime | None = None) -> int | None:
    """Store one inbound item, taken by `holder` until `lease_until` as `take` would (so the process that
    stored it handles it without another transaction to take it); its id, or None when that key was stored
    before (a redelivery)."""
    dialect = session.get_bind().dialect.name
    if dialect in INSERTS:
        # One statement where the database can say "stored before" itself (a redelivery, or another process
        # a moment ago): no look first, no savepoint.
        return session.execute(_insert_taken(dialect), {
            "item_source": source, "item_key": key, "item_payload": payload, "now": now, "item_holder": holder,
            "item_lease_until": lease_until,
        }).scalar_one_or_none()
    if session.exec(select(Inbound.id).where(Inbound.key == key)).first() is not None:
        return None
    row = Inbound(source=source, key=key, payload=payload, received_at=now, holder=holder, lease_until=lease_until)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None  # another process stored it between our check and insert
    return row.id


def slow_due(received_at: datetime, attempts: int) -> datetime:
    """When a stuck item may be tried again, from what the row holds: its n-th slow attempt is due
    n * SLOW_RETRY after it came in. This holds across restarts and processes; it allows at most one
    attempt per SLOW_RETRY since the item came in (plus the fast ones), so a long outage does not end in
    a burst of attempts. (Within one process the intake also waits SLOW_RETRY after each failure.)"""
    return received_at + SLOW_RETRY * (attempts - FAST_ATTEMPTS + 1)


def _free(now: datetime, holder: str | None, dead_holders: list[str] | None):
    """No other live process has it: no lease, a lease run out, ours, or a dead process's. Values or, for
    pending's reads built once, bindparams."""
    free = or_(Inbound.lease_until.is_(None), Inbound.lease_until <= now)
    if holder is not None:
        free = or_(free, Inbound.holder == holder)
    if dead_holders is not None:
        free = or_(free, Inbound.holder.in_(dead_holders))
    return free


@prepared
def _pending_statements(limit: int, sources: bool, skip: bool, holder: bool, dead: bool, handed: bool):
    """pending's two reads for one shape of its arguments (which of them are given), their values left as
    parameters: built anew, they were most of the intake's one-second look (2.2 ms of CPU a second idle)."""
    now = bindparam("now", type_=UTCDateTime())
    free = _free(now, bindparam("holder") if holder else None,
                 bindparam("dead_holders", expanding=True) if dead else None)
    unhandled = [Inbound.processed_at.is_(None), Inbound.parked_at.is_(None), free]
    if handed:
        unhandled.append(or_(Inbound.holder.is_(None), Inbound.holder != bindparam("handed_by"), Inbound.attempts > 0,
                             Inbound.lease_until.is_(None), Inbound.lease_until <= now))
    if sources:
        unhandled.append(Inbound.source.in_(bindparam("sources", expanding=True)))
    if skip:
        unhandled.append(Inbound.id.not_in(bindparam("skip", expanding=True)))
    fresh = select(Inbound.id).where(*unhandled, Inbound.attempts < FAST_ATTEMPTS).order_by(Inbound.id).limit(limit)
    stuck = select(Inbound.id, Inbound.received_at, Inbound.attempts).where(
        *unhandled, Inbound.attempts >= FAST_ATTEMPTS, Inbound.received_at <= bindparam("stuck_before", type_=UTCDateTime()))
    return fresh, stuck


def pending(session: Session, *, now: datetime, limit: int = 50, sources: list[str] | None = None,
            skip: list[int] | None = None, holder: str | None = None,
            dead_holders: list[str] | None = None, handed_by: str | None = None) -> list[Inbound]:
    """Unhandled items due now, oldest first: those not yet stuck, and stuck ones whose slow retry is due
    (see slow_due). Only of `sources` (those this process can handle now), not `skip`, and none another
    live process holds (it is handling it, or it failed there and waits for its retry). Without those
    `handed_by` took as it stored them and has not tried yet (it handles them from memory)."""
    fresh_read, stuck_read = _pending_statements(limit, sources is not None, bool(skip), holder is not None,
                                                 bool(dead_holders), handed_by is not None)
    params = {"now": now, "holder": holder, "dead_holders": dead_holders or [], "handed_by": handed_by,
              "sources": sources or [], "skip": skip or [], "stuck_before": now - SLOW_RETRY}
    fresh = list(session.exec(fresh_read, params=params))
    # Stuck items are few (each is a fault someone has to look at); which are due is decided here, not
    # in SQL, so that SQLite and PostgreSQL need no date arithmetic of their own.
    stuck = session.exec(stuck_read, params=params).all()
    due = [item_id for item_id, received_at, attempts in stuck if slow_due(received_at, attempts) <= now]
    ids = sorted(fresh + due)[:limit]
    if not ids:
        return []
    return list(session.exec(select(Inbound).where(Inbound.id.in_(ids)).order_by(Inbound.id)))


def take(session: Session, *, item_id: int, holder: str, now: datetime, lease: timedelta,
         dead_holders: list[str] | None = None) -> bool:
    """Take one unhandled item for handling; False if another process has it now or it was handled.

    One conditional UPDATE decides it, so two processes cannot both take it."""
    result = session.execute(
        update(Inbound).where(Inbound.id == item_id, Inbound.processed_at.is_(None),
                              _free(now, holder, dead_holders or None))
        .values(holder=holder, lease_until=now + lease)
    )
    return result.rowcount == 1


@dataclass
class Handling:
    """One inbound item being handled: the first write transaction that commits while it is current holds
    the item's effects and its "handled" mark (processed_at) together, so a crash can neither lose the
    effects of a handled item nor replay a handled one."""

    item_id: int
    holder: str
    marked: bool = False  # a transaction committed the item as handled
    error: str | None = None  # why handling failed (the kind of error only, never a text)

    def failed(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = type(exc).__name__


_current: ContextVar[Handling | None] = ContextVar("tettpa_inbound_handling", default=None)


def current_handling() -> Handling | None:
    return _current.get()


def handling(item_id: int, holder: str):
    """Make this item the current one (for this task and the worker threads it runs work in); returns the
    Handling and the token to reset it with (`end_handling`)."""
    state = Handling(item_id, holder)
    return state, _current.set(state)


def end_handling(token) -> None:
    _current.reset(token)


class LostItem(Exception):
    """The item is no longer ours (handled meanwhile, or another process took it): its effects roll back."""


def mark_handled(session: Session, state: Handling, *, now: datetime) -> None:
    """In the transaction holding the item's effects: mark it handled, if it is still ours."""
    result = session.execute(_mark_handled(), {"item_id": state.item_id, "item_holder": state.holder, "now": now})
    if result.rowcount != 1:
        raise LostItem(state.item_id)


@prepared
def _holders():
    return select(Inbound.holder).where(Inbound.processed_at.is_(None), Inbound.holder.is_not(None)).distinct()


def holders(session: Session) -> list[str]:
    """The processes handling items now."""
    return list(session.exec(_holders()).all())


def backlog(session: Session) -> int:
    """Stored items not handled yet (and not parked): what came in and is still on its way through."""
    return session.exec(select(func.count()).select_from(Inbound).where(
        Inbound.processed_at.is_(None), Inbound.parked_at.is_(None))).one()


def stuck_count(session: Session) -> int:
    """Unhandled items that failed FAST_ATTEMPTS times or more (retried every SLOW_RETRY)."""
    return session.exec(select(func.count()).select_from(Inbound).where(
        Inbound.processed_at.is_(None), Inbound.parked_at.is_(None), Inbound.attempts >= FAST_ATTEMPTS)).one()


def parked(session: Session) -> dict[str, int]:
    """Items parked because they can never be handled, counted by reason (no text, no number in a reason)."""
    rows = session.exec(select(Inbound.error, func.count()).where(Inbound.parked_at.is_not(None))
                        .group_by(Inbound.error)).all()
    return {reason or "unknown": count for reason, count in rows}
