"""The durable outbox: every message the service sends is a row first, then a send."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_
from sqlmodel import Field, Session, SQLModel, select

from models.crypto import EncryptedText
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
    attempts: int = 0
    due_at: datetime = Field(sa_type=UTCDateTime, index=True)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    external_id: str | None = Field(default=None, index=True)
    # What the provider reported after accepting it (Twilio: sent, delivered, undelivered, failed).
    delivery: str | None = None
    error: str | None = None


def enqueue(session: Session, *, key: str, now: datetime, **fields) -> Outbox | None:
    """Queue one send; None if a row with this key exists already."""
    if session.exec(select(Outbox.id).where(Outbox.key == key)).first() is not None:
        return None
    row = Outbox(key=key, due_at=fields.pop("due_at", now), created_at=now, **fields)
    session.add(row)
    session.flush()
    return row


def claim(session: Session, *, now: datetime, lease: timedelta, limit: int = 20,
          skip_addresses: list[str] | None = None) -> list[Outbox]:
    """Take due rows for sending; a row whose lease ran out (its sender died) is taken again. Rows for
    `skip_addresses` (a send to them is under way here) wait, so each address gets its messages in order."""
    query = (
        select(Outbox)
        .where(
            Outbox.due_at <= now,
            or_(Outbox.status == PENDING, (Outbox.status == SENDING) & (Outbox.lease_until < now)),
        )
        .order_by(Outbox.due_at, Outbox.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if skip_addresses:
        query = query.where(Outbox.address.not_in(skip_addresses))
    rows = list(session.exec(query))
    for row in rows:
        row.status = SENDING
        row.lease_until = now + lease
        row.attempts += 1
    return rows


def backlog(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Outbox).where(Outbox.status.in_([PENDING, SENDING]))).one()


def outbox_gauges(session: Session, now: datetime) -> dict[str, float]:
    count, oldest = session.exec(
        select(func.count(), func.min(Outbox.created_at)).where(Outbox.status.in_([PENDING, SENDING]))
    ).one()
    age = (now - oldest.replace(tzinfo=now.tzinfo)).total_seconds() if oldest else 0.0
    return {"backlog": count, "oldest_age": max(0.0, age)}
