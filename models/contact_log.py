"""The contact log: one entry per contact, what coordinators review and export for the case record."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, select

from models.crypto import EncryptedText
from models.types import UTCDateTime


class ContactLogBase(SQLModel):
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    youth_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    party: str  # youth | parent | worker | system
    worker_id: int | None = Field(default=None, foreign_key="person.id")
    channel: str  # telegram | sms | call | meeting | manual
    direction: str  # in | out | none
    kind: str
    after_hours: bool = False
    text: str = Field(default="", sa_type=EncryptedText)


class ContactLog(ContactLogBase, table=True):
    __tablename__ = "contact_log"
    id: int | None = Field(default=None, primary_key=True)
    message_id: int | None = Field(default=None, foreign_key="message.id")
    # Set when the retention purge replaced the text: the text itself is ciphertext, no query can compare it.
    text_purged: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


def add_entry(session: Session, **fields) -> ContactLog:
    entry = ContactLog(**fields)
    session.add(entry)
    return entry


def entries(
    session: Session, *, youth_id: int | None = None, start: datetime | None = None, end: datetime | None = None
) -> list[ContactLog]:
    query = select(ContactLog)
    if youth_id is not None:
        query = query.where(ContactLog.youth_id == youth_id)
    if start is not None:
        query = query.where(ContactLog.at >= start)
    if end is not None:
        query = query.where(ContactLog.at < end)
    return list(session.exec(query.order_by(ContactLog.at, ContactLog.id)))
