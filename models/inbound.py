"""Everything that comes in from outside, stored before it is acknowledged and handled once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from models.crypto import EncryptedText
from models.types import UTCDateTime


class Inbound(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    source: str  # telegram | sms | voice | status
    key: str = Field(unique=True)  # tg:<update_id>, sms:<MessageSid>, ...
    payload: str = Field(sa_type=EncryptedText)  # raw JSON: it holds message texts
    received_at: datetime = Field(sa_type=UTCDateTime)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    attempts: int = 0
    error: str | None = None


def store(session: Session, *, source: str, key: str, payload: str, now: datetime) -> bool:
    """Store one inbound item; False when that key was stored before (a redelivery)."""
    if session.exec(select(Inbound.id).where(Inbound.key == key)).first() is not None:
        return False
    try:
        with session.begin_nested():
            session.add(Inbound(source=source, key=key, payload=payload, received_at=now))
    except IntegrityError:
        return False  # another process stored it between our check and insert
    return True


def pending(session: Session, *, limit: int = 50, max_attempts: int = 5, sources: list[str] | None = None,
            skip: list[int] | None = None) -> list[Inbound]:
    """Unhandled items, oldest first: only of `sources` (those this process can handle now), not `skip`."""
    query = (
        select(Inbound)
        .where(Inbound.processed_at.is_(None), Inbound.attempts < max_attempts)
        .order_by(Inbound.id)
        .limit(limit)
    )
    if sources is not None:
        query = query.where(Inbound.source.in_(sources))
    if skip:
        query = query.where(Inbound.id.not_in(skip))
    return list(session.exec(query))
