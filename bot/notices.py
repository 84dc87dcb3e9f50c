"""Notices: one-way messages to many youths (a unit, a worker's youths, or chosen ones) in the bulk lane.

A reply is an ordinary message: it reaches the youth's worker like any other, so nothing here listens.
"""

from __future__ import annotations

from sqlmodel import Session

from bot.activities import bulk, chosen_youths
from bot.contactlog import record
from bot.errors import InputError
from bot.out.outbox import send_text
from bot.service import Service
from models.activities import Notice

MAX_TEXT = 1000


def send_notice(session: Session, service: Service, *, text: str, unit_id: int | None = None,
                worker_id: int | None = None, youths: str | None = None, created_by: int | None = None) -> Notice:
    """Queue the notice to each chosen youth (whose period runs) and log it for each; the Notice row."""
    text = (text or "").strip()
    if not text or len(text) > MAX_TEXT:
        raise InputError("text", f"give a text of 1 to {MAX_TEXT} characters")
    if unit_id is None and worker_id is None and not youths:
        raise InputError("unit", "say whom to send to: --unit, --worker or --youths")
    people = chosen_youths(session, service, unit_id=unit_id, worker_id=worker_id, youths=youths)
    if not people:
        raise InputError("youths", "nobody to send to (no youth whose follow-up period is running)")
    now = service.now()
    notice = Notice(created_by=created_by, created_at=now)
    session.add(notice)
    session.flush()
    for youth in people:
        row = send_text(session, key=f"notice:{notice.id}:{youth.id}", person=youth, text=text, now=now)
        bulk(session, row, now)
        record(session, service.settings, at=now, youth_id=youth.id, party="worker" if created_by else "system",
               worker_id=created_by or youth.primary_id, channel=row.channel if row else "none",
               direction="out" if row else "none", kind="activity", text=text)
        notice.sent_to += 1 if row else 0
    service.kick_outbox()
    return notice
