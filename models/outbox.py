"""The durable outbox: every message the service sends is a row first, then a send."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, inspect, or_, text
from sqlmodel import Field, Session, SQLModel, select

from models.crypto import EncryptedText
from models.db import prepared
from models.types import UTCDateTime

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


class Outbox(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # Makes enqueueing idempotent: re-handling the same inbound item queues nothing new.
    key: str = Field(unique=True)
    channel: str  # telegram | sms | call
    address: str  # telegram chat id or E.164 number
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    payload: str = Field(sa_type=EncryptedText)  # JSON: {"text":.., "buttons":.., "copy": {...}, "reply_to":..}
    # When this is a relay to a worker: the conversation a reply to it belongs to.
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id")
    message_id: int | None = Field(default=None, foreign_key="message.id")
    status: str = Field(default=PENDING, index=True)
    # Wake-ups go out in bursts (hundreds at 07:00); a bulk row yields to any other row that is due, so a
    # youth's message to a worker does not wait behind the burst.
    bulk: bool = False
    attempts: int = 0
    due_at: datetime = Field(sa_type=UTCDateTime, index=True)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The process that claimed it (bot.holder): a restarted process on the same machine sees that it died.
    holder: str | None = None
    # When a request for it last went out. Set before a Twilio request, so a retry after a kill or a timeout
    # first asks Twilio whether that request got through (Telegram cannot be asked, see bot/out/outbox.py).
    tried_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Lookups at the provider that failed for this row; past TETTPA_LOOKUP_ATTEMPTS it is sent without one.
    lookups_failed: int = 0
    created_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    external_id: str | None = Field(default=None, index=True)
    # What the provider reported after accepting it (Twilio: sent, delivered, undelivered, failed).
    delivery: str | None = None
    error: str | None = None


@prepared
def _by_key():
    return select(Outbox.id).where(Outbox.key == bindparam("key"))


@prepared
def _busy_besides():
    """Any row for the address pending or being sent, besides `ids` (claim_queued)."""
    return select(Outbox.id).where(
        Outbox.address == bindparam("address"), Outbox.id.not_in(bindparam("ids", expanding=True)),
        Outbox.status.in_([PENDING, SENDING]),
    ).limit(1)


def enqueue(session: Session, *, key: str, now: datetime, **fields) -> Outbox | None:
    """Queue one send; None if a row with this key exists already."""
    if session.exec(_by_key(), params={"key": key}).first() is not None:
        return None
    row = Outbox(key=key, due_at=fields.pop("due_at", now), created_at=now, **fields)
    session.add(row)
    session.flush()
    session.info.setdefault(QUEUED, []).append(row)
    return row


QUEUED = "tettpa_outbox_queued"  # session.info: the rows this transaction queued, in order


def queued_in(session: Session) -> list[Outbox]:
    """The rows queued in this transaction so far."""
    return session.info.get(QUEUED, [])


def claim_queued(session: Session, *, now: datetime, holder: str, lease_until: datetime) -> tuple[list[Outbox], bool]:
    """At the end of the transaction that queued them: claim its rows for `holder`, as `claim` would, so they
    can be sent without another transaction to claim them; and whether any were left pending.

    Only rows due now and not bulk (what a person waits for), and only where nothing else for that address is
    pending or being sent (by anyone, this process included): each address still gets its messages in order,
    and a row an address has waiting goes first, through `claim`. A row is claimed here after the caller is
    done with it (queueing may be followed by making it bulk or due later)."""
    # A row queued inside a savepoint that was rolled back is not in the transaction any more.
    rows = [row for row in session.info.pop(QUEUED, []) if inspect(row).persistent]
    by_address: dict[str, list[Outbox]] = {}
    for row in rows:
        by_address.setdefault(row.address, []).append(row)
    claimed, left = [], False
    if session.get_bind().dialect.name == "postgresql":
        # Two transactions queueing for one address at once would each miss the other's uncommitted row and
        # both claim theirs. The second waits here until the first commits, then finds its row SENDING.
        # (SQLite's writers take turns already.) Only addresses with a row to claim; in the order of their
        # keys, so two transactions sharing addresses cannot wait for each other; held until the commit.
        keys = sorted({_lock_key(address) for address, group in by_address.items()
                       if any(_claimable(row, now) for row in group)})
        for key in keys:  # one statement each: the order is then certain (mostly there is one)
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    for address, group in by_address.items():
        ids = [row.id for row in group]
        # Any row being sent counts, its lease run out or not: an orphan is sent again before what came
        # after it (the sender's claim takes it and the rest in order).
        busy = session.exec(_busy_besides(), params={"address": address, "ids": ids}).first() is not None
        for row in sorted(group, key=lambda r: r.id):
            if busy or not _claimable(row, now):
                busy = True  # this one waits, and so does everything after it for the address
                left = left or row.status == PENDING
                continue
            row.status, row.lease_until, row.holder = SENDING, lease_until, holder
            row.attempts += 1
            claimed.append(row)
    if claimed:
        session.flush()
    return claimed, left


def _claimable(row: Outbox, now: datetime) -> bool:
    return row.status == PENDING and not row.bulk and row.due_at <= now


def _lock_key(address: str) -> int:
    """A stable 64-bit advisory-lock key for an address (PostgreSQL's bigint)."""
    return int.from_bytes(hashlib.blake2b(address.encode(), digest_size=8, person=b"tettpa-outbox").digest(),
                          "big", signed=True)


def claim(session: Session, *, now: datetime, lease: timedelta, holder: str, limit: int = 20,
          skip_addresses: list[str] | None = None, skip_channels: list[str] | None = None,
          channels: list[str] | None = None, dead_holders: list[str] | None = None) -> list[Outbox]:
    """Take due rows for sending. A row whose sender died is taken again: when its lease ran out, or at once
    when its holder is among `dead_holders`. Rows for `skip_addresses` (a send to them is under way here)
    wait, so each address gets its messages in order; so do rows of `skip_channels`. With `channels`, only
    rows of those channels are taken."""
    orphaned = (Outbox.status == SENDING) & (Outbox.lease_until < now)
    if dead_holders:
        orphaned = orphaned | ((Outbox.status == SENDING) & Outbox.holder.in_(dead_holders))
    query = (
        select(Outbox)
        .where(Outbox.due_at <= now, or_(Outbox.status == PENDING, orphaned))
        .order_by(Outbox.bulk, Outbox.due_at, Outbox.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    # An address another live process is sending to waits for it: its messages stay in order, and a lookup
    # at Twilio cannot mistake that process's send, not yet recorded, for one of ours. So does one this
    # process holds a row for outside its lanes (claimed as it was queued, not yet handed to a lane): the
    # rows in its lanes are in `skip_addresses` already.
    busy_elsewhere = select(Outbox.address).where(Outbox.status == SENDING, Outbox.lease_until >= now)
    if dead_holders:
        busy_elsewhere = busy_elsewhere.where(Outbox.holder.not_in(dead_holders))
    query = query.where(Outbox.address.not_in(busy_elsewhere))
    if skip_addresses:
        query = query.where(Outbox.address.not_in(skip_addresses))
    if skip_channels:
        query = query.where(Outbox.channel.not_in(skip_channels))
    if channels:
        query = query.where(Outbox.channel.in_(channels))
    rows = list(session.exec(query))
    for row in rows:
        row.status = SENDING
        row.lease_until = now + lease
        row.holder = holder
        row.attempts += 1
    return rows


@prepared
def _might_claim():
    now = bindparam("now", type_=UTCDateTime())
    mine_and_live = (Outbox.holder == bindparam("holder")) & (Outbox.lease_until >= now)
    return select(Outbox.id).where(
        Outbox.due_at <= now,
        or_(Outbox.status == PENDING, (Outbox.status == SENDING) & ~mine_and_live),
    ).limit(1)


def might_claim(session: Session, *, now: datetime, holder: str) -> bool:
    """Whether `claim` could find anything for `holder` (a read, asked first: an idle sender takes no write
    lock). True for more than claim takes (a row another process holds may be its and alive), never less.
    Asked every second: its statement is built once."""
    return session.exec(_might_claim(), params={"now": now, "holder": holder}).first() is not None


def holders(session: Session) -> list[str]:
    """The processes holding rows being sent now."""
    return list(session.exec(select(Outbox.holder).where(Outbox.status == SENDING).distinct()).all())


def known_external_ids(session: Session, ids: list[str]) -> set[str]:
    """Which of these provider ids already belong to a row (so a lookup cannot claim another row's send)."""
    if not ids:
        return set()
    return set(session.exec(select(Outbox.external_id).where(Outbox.external_id.in_(ids))).all())


def backlog(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Outbox).where(Outbox.status.in_([PENDING, SENDING]))).one()


def outbox_gauges(session: Session, now: datetime) -> dict[str, float]:
    count, oldest = session.exec(
        select(func.count(), func.min(Outbox.created_at)).where(Outbox.status.in_([PENDING, SENDING]))
    ).one()
    age = (now - oldest.replace(tzinfo=now.tzinfo)).total_seconds() if oldest else 0.0
    return {"backlog": count, "oldest_age": max(0.0, age)}


def failed_since(session: Session, since: datetime) -> int:
    """Sends given up for good since then (shown in /healthz: someone should look)."""
    return session.exec(select(func.count()).select_from(Outbox).where(
        Outbox.status == FAILED, Outbox.created_at >= since)).one()
