"""Group activities, each youth's invitation and answer, and one-way notices to many."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.crypto import EncryptedText
from models.types import UTCDateTime

# Activity states; an invitation's answer is None until the youth answers.
SCHEDULED, CANCELLED = "scheduled", "cancelled"
YES, NO, MAYBE = "yes", "no", "maybe"
ANSWERS = (YES, NO, MAYBE)


class Activity(SQLModel, table=True):
    """A group activity (lunch, bowling, a trip): the reminder and the nudge are due times on this row."""

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(sa_type=EncryptedText)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    place: str = Field(sa_type=EncryptedText)
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    created_by: int | None = Field(default=None, foreign_key="person.id")
    respond_by: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(default=SCHEDULED, index=True)
    # Due times the sweep looks at; each is cleared (set to None) once done, so nothing is sent twice.
    remind_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    nudge_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    # Answers not yet told to the workers are told together at this time (one message, not one each).
    digest_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class ActivityInvite(SQLModel, table=True):
    """One youth invited to one activity, and what they answered."""

    __tablename__ = "activity_invite"
    __table_args__ = (UniqueConstraint("activity_id", "youth_id"),)
    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id", index=True)
    youth_id: int = Field(foreign_key="person.id", index=True)
    answer: str | None = None  # yes | no | maybe
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The inbound message that answered: the same message seen again changes nothing.
    answer_source: str | None = Field(default=None, index=True)
    # False: the answer waits for the next digest to the worker.
    told: bool = True


class Notice(SQLModel, table=True):
    """A one-way message to many youths; replies come back as ordinary messages. Its text is kept only in the
    contact log and the outbox, so TETTPA_RETENTION deletes it like any message text."""

    id: int | None = Field(default=None, primary_key=True)
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(sa_type=UTCDateTime)
    sent_to: int = 0
