"""Phone calls to the service number: who called, whom we rang, and how it ended."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, Session, SQLModel, select

from models.types import UTCDateTime


class Call(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    sid: str = Field(unique=True)  # Twilio CallSid: a redelivered webhook finds the same call
    person_id: int = Field(foreign_key="person.id", index=True)
    youth_id: int = Field(foreign_key="person.id", index=True)
    # Worker ids to ring, in order, as decided when the call came in ("12,7").
    plan: str = ""
    step: int = 0
    answered_by: int | None = Field(default=None, foreign_key="person.id")
    outcome: str | None = None  # answered | missed
    duration: int | None = None  # seconds, from Twilio
    started_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def workers(self) -> list[int]:
        return [int(w) for w in self.plan.split(",") if w]


def by_sid(session: Session, *, sid: str) -> Call | None:
    return session.exec(select(Call).where(Call.sid == sid)).first()
