"""The programme's tables: units, who belongs to which, the follow-up period, OT status codes, consent."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class Unit(SQLModel, table=True):
    """A project or OT unit of a county; its OT contact is who youths are sent to after hand-over."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    ot_contact: str = ""
    created_at: datetime = Field(sa_type=UTCDateTime)


class Membership(SQLModel, table=True):
    """Which unit a worker, coordinator or youth belongs to (a parent belongs to their youth's)."""

    person_id: int = Field(sa_column=Column(Integer, ForeignKey("person.id"), primary_key=True))
    unit_id: int = Field(sa_column=Column(Integer, ForeignKey("unit.id"), index=True, nullable=False))


class FollowUp(SQLModel, table=True):
    """A youth's follow-up period; the notice dates say for which end a notice was already sent."""

    __tablename__ = "follow_up"
    youth_id: int = Field(sa_column=Column(Integer, ForeignKey("person.id"), primary_key=True))
    start: date | None = None
    end: date | None = None
    notice_14_for: date | None = None
    notice_2_for: date | None = None


class StatusChange(SQLModel, table=True):
    """One OT status code from a day on; the latest start (then id) is the youth's status."""

    __tablename__ = "status_change"
    id: int | None = Field(default=None, primary_key=True)
    youth_id: int = Field(sa_column=Column(Integer, ForeignKey("person.id"), index=True, nullable=False))
    code: str
    start: date
    recorded_at: datetime = Field(sa_type=UTCDateTime)


class Consent(SQLModel, table=True):
    """A consent given or withdrawn for one scope; the latest per scope counts."""

    id: int | None = Field(default=None, primary_key=True)
    youth_id: int = Field(sa_column=Column(Integer, ForeignKey("person.id"), index=True, nullable=False))
    scope: str
    granted: bool
    given_by: str | None = None  # youth | guardian
    parent_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("person.id")))
    how: str | None = None  # signed | digital | verbal
    on: date
    recorded_at: datetime = Field(sa_type=UTCDateTime)


class Deactivation(SQLModel, table=True):
    """A person who no longer takes part: kept for the log, but no relays, wake-ups or login."""

    person_id: int = Field(sa_column=Column(Integer, ForeignKey("person.id"), primary_key=True))
    at: datetime = Field(sa_type=UTCDateTime)
