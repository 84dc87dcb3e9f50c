"""The audit trail: who viewed which youth's contacts, and who exported what, and when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer
from sqlmodel import Field, Session, SQLModel, select

from models.types import UTCDateTime

VIEW_YOUTH = "view_youth"
VIEW_ENTRIES = "view_entries"
EXPORT_CSV = "export_csv"
EXPORT_PDF = "export_pdf"


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor_id: int = Field(sa_column=Column(Integer, ForeignKey("person.id"), nullable=False, index=True))
    action: str
    youth_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("person.id"), index=True))
    # What was looked at: the filters or the exported period, as "key=value" pairs; never message texts.
    detail: str = ""


def record(
    session: Session, *, at: datetime, actor_id: int, action: str, youth_id: int | None = None, detail: str = ""
) -> AuditEvent:
    event = AuditEvent(at=at, actor_id=actor_id, action=action, youth_id=youth_id, detail=detail[:500])
    session.add(event)
    return event


def events(
    session: Session, *, limit: int, before_id: int | None = None, youth_id: int | None = None,
    actor_id: int | None = None,
) -> list[AuditEvent]:
    """Newest first; `before_id` pages back."""
    query = select(AuditEvent)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    if youth_id is not None:
        query = query.where(AuditEvent.youth_id == youth_id)
    if actor_id is not None:
        query = query.where(AuditEvent.actor_id == actor_id)
    return list(session.exec(query.order_by(AuditEvent.id.desc()).limit(limit)))
