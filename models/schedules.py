"""Wake-up plans and their occurrences, pauses, school holidays, meetings and their reminders.

The scheduler only decides when to look; what was planned, sent, confirmed or missed is a row here,
so a restart neither forgets a wake-up nor sends it twice.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, Session, SQLModel, select

from models.crypto import EncryptedText
from models.types import UTCDateTime

# Wake-up occurrence states. planned -> sent -> (followed ->) confirmed | unconfirmed;
# planned -> skipped (holiday, pause, plan stopped) | missed (too late to send) | unreachable.
PLANNED, SENT, FOLLOWED, CONFIRMED, UNCONFIRMED = "planned", "sent", "followed", "confirmed", "unconfirmed"
SKIPPED, MISSED, UNREACHABLE = "skipped", "missed", "unreachable"

# Meeting states and reminder states.
SCHEDULED, CANCELLED, DONE, NO_SHOW = "scheduled", "cancelled", "done", "no_show"
PENDING, REMINDED = "pending", "sent"


class WakeupPlan(SQLModel, table=True):
    """A youth's wake-up: a local time on some weekdays, between optional dates, on one channel."""

    __tablename__ = "wakeup_plan"
    id: int | None = Field(default=None, primary_key=True)
    youth_id: int = Field(foreign_key="person.id", index=True)
    time_of_day: str  # "06:45:00", local time (TETTPA_TIMEZONE)
    days: str  # canonical weekdays, "mon-fri"
    channel: str  # telegram | sms | call
    start_date: date | None = None
    end_date: date | None = None  # included
    active: bool = Field(default=True, index=True)
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    # Occurrences exist up to and including this day.
    planned_through: date | None = None


class Wakeup(SQLModel, table=True):
    """One day's wake-up of a plan: what happened to it is a fact here, not in the scheduler."""

    __tablename__ = "wakeup"
    __table_args__ = (UniqueConstraint("plan_id", "day"),)
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="wakeup_plan.id", index=True)
    youth_id: int = Field(foreign_key="person.id", index=True)
    day: date
    due_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default=PLANNED, index=True)
    # When the next step is due (the send, the follow-up, telling the worker); None when finished.
    next_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    channel: str | None = None
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    followup_channel: str | None = None
    followup_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    worker_told_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    confirmed_channel: str | None = None
    # The inbound message that confirmed it: the same message seen again after a crash changes nothing.
    confirmed_source: str | None = Field(default=None, index=True)
    skip_reason: str | None = None


class WakeupPause(SQLModel, table=True):
    """No wake-ups for this youth on this day (sick, a school trip): set by the worker."""

    __tablename__ = "wakeup_pause"
    __table_args__ = (UniqueConstraint("youth_id", "day"),)
    id: int | None = Field(default=None, primary_key=True)
    youth_id: int = Field(foreign_key="person.id", index=True)
    day: date
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(sa_type=UTCDateTime)


class SchoolHoliday(SQLModel, table=True):
    """A school holiday (høstferie, juleferie ...): no wake-ups from start to end, both included."""

    __tablename__ = "school_holiday"
    __table_args__ = (UniqueConstraint("start", "end", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str
    start: date = Field(index=True)
    end: date = Field(index=True)
    source: str = "cli"  # cli | ics | csv
    created_at: datetime = Field(sa_type=UTCDateTime)


class Meeting(SQLModel, table=True):
    """A meeting between a youth and a worker, with reminders before it and an outcome after it."""

    id: int | None = Field(default=None, primary_key=True)
    youth_id: int = Field(foreign_key="person.id", index=True)
    worker_id: int = Field(foreign_key="person.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    place: str = Field(sa_type=EncryptedText)
    remind: str  # offsets before the meeting in seconds, "86400,7200"
    include_parent: bool = False
    status: str = Field(default=SCHEDULED, index=True)
    # The latest answer to a reminder: yes | no | move, by whom, and the message it came in.
    answer: str | None = None
    answered_by: int | None = Field(default=None, foreign_key="person.id")
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answer_source: str | None = None
    # When the worker is asked whether it took place, and when they were.
    ask_at: datetime = Field(sa_type=UTCDateTime, index=True)
    asked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome_by: int | None = Field(default=None, foreign_key="person.id")
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class MeetingReminder(SQLModel, table=True):
    """One reminder of a meeting, at one offset before it."""

    __tablename__ = "meeting_reminder"
    __table_args__ = (UniqueConstraint("meeting_id", "offset_seconds"),)
    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    offset_seconds: int
    due_at: datetime = Field(sa_type=UTCDateTime, index=True)
    status: str = Field(default=PENDING, index=True)  # pending | sent | missed | skipped
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def holidays_between(session: Session, start: date, end: date) -> list[SchoolHoliday]:
    """School holidays that touch the days from start to end (both included)."""
    query = select(SchoolHoliday).where(SchoolHoliday.start <= end, SchoolHoliday.end >= start)
    return list(session.exec(query.order_by(SchoolHoliday.start, SchoolHoliday.id)))


def paused_days(session: Session, *, youth_ids: list[int], days: list[date]) -> set[tuple[int, date]]:
    if not youth_ids or not days:
        return set()
    rows = session.exec(
        select(WakeupPause.youth_id, WakeupPause.day).where(
            WakeupPause.youth_id.in_(youth_ids), WakeupPause.day.in_(days)
        )
    ).all()
    return {(youth_id, day) for youth_id, day in rows}


def plans_of(session: Session, *, youth_ids: list[int] | None = None, active: bool = True) -> list[WakeupPlan]:
    query = select(WakeupPlan).where(WakeupPlan.active == active)
    if youth_ids is not None:
        query = query.where(WakeupPlan.youth_id.in_(youth_ids))
    return list(session.exec(query.order_by(WakeupPlan.youth_id, WakeupPlan.time_of_day, WakeupPlan.id)))
