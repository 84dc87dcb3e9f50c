"""Conversations (one per youth or parent), the messages in them, and where each relay copy went."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, UniqueConstraint, and_, bindparam, func
from sqlmodel import Field, Session, SQLModel, select

from models.crypto import EncryptedText
from models.db import prepared
from models.types import UTCDateTime


class Conversation(SQLModel, table=True):
    """The thread between one youth or parent and the service; its id is the SMS tag (#7)."""

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", unique=True)
    youth_id: int = Field(foreign_key="person.id", index=True)
    # Set while a worker other than the responsible one has taken it after an escalation.
    taken_by: int | None = Field(default=None, foreign_key="person.id")


class Message(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    direction: str  # in | out
    worker_id: int | None = Field(default=None, foreign_key="person.id")
    channel: str  # telegram | sms | call
    # Where it came from (tg:<update_id>, sms:<MessageSid>): the idempotency key of intake.
    source_key: str | None = Field(default=None, unique=True)
    text: str | None = Field(default=None, sa_type=EncryptedText)
    # Telegram media to copy: {"kind": "photo", "chat_id": .., "message_id": ..}
    media: str | None = Field(default=None, sa_type=EncryptedText)
    acute: bool = False
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answered_by: int | None = Field(default=None, foreign_key="person.id")
    escalate_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Held for this worker (the primary), because nobody was available when it came in: relayed to them
    # when they are back. Whether a message waits for a worker at all is `awaiting_answer()`.
    waiting_for: int | None = Field(default=None, foreign_key="person.id", index=True)
    # Past a burst, a message is not relayed alone: at combine_at the messages waiting in its conversation go
    # out as one relay, carried by the first of them (carried_by: that message's id, also on itself).
    combine_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    carried_by: int | None = None
    # An acute message nobody took: at acute_repeat_at the next step (1: ring the workers, 2: tell the
    # coordinators); acute_step says how many steps are done.
    acute_repeat_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    acute_step: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class RelayLink(SQLModel, table=True):
    """A copy of a message shown to a worker: replying to it answers that conversation."""

    __table_args__ = (UniqueConstraint("channel", "address", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    worker_id: int = Field(foreign_key="person.id", index=True)
    channel: str
    address: str  # telegram chat id or phone number
    external_id: str  # telegram message_id in the worker's chat
    conversation_id: int = Field(foreign_key="conversation.id")
    message_id: int | None = Field(default=None, foreign_key="message.id")
    created_at: datetime = Field(sa_type=UTCDateTime)


def awaiting_answer() -> ColumnElement[bool]:
    """The one definition of a message waiting for a worker: it came in, and no worker has answered it or
    taken it ("Jeg tar den") yet. The dashboard's open conversations, the escalation and the digest of a
    worker coming back all ask this."""
    return and_(Message.direction == "in", Message.answered_at.is_(None))


@prepared
def _conversation_of():
    return select(Conversation).where(Conversation.person_id == bindparam("person_id"))


@prepared
def _message_by_source():
    return select(Message).where(Message.source_key == bindparam("source_key"))


@prepared
def _link_for():
    return select(RelayLink).where(RelayLink.channel == bindparam("channel"), RelayLink.address == bindparam("address"),
                                   RelayLink.external_id == bindparam("external_id"))


def conversation_for(session: Session, *, person_id: int, youth_id: int) -> Conversation:
    conv = session.exec(_conversation_of(), params={"person_id": person_id}).first()
    if conv is None:
        conv = Conversation(person_id=person_id, youth_id=youth_id)
        session.add(conv)
        session.flush()
    return conv


def message_by_source(session: Session, *, source_key: str) -> Message | None:
    return session.exec(_message_by_source(), params={"source_key": source_key}).first()


def link_for(session: Session, *, channel: str, address: str, external_id: str) -> RelayLink | None:
    params = {"channel": channel, "address": address, "external_id": external_id}
    return session.exec(_link_for(), params=params).first()


def unanswered(session: Session, *, conversation_id: int) -> list[Message]:
    query = select(Message).where(Message.conversation_id == conversation_id, awaiting_answer())
    return list(session.exec(query.order_by(Message.id)))


def escalation_count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Message).where(Message.escalated_at.is_not(None))).one()
