"""The funder's report: a period's figures for one unit or all, aggregates only (no names, no ids)."""

from __future__ import annotations

import csv
import io
import json
import statistics
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_
from sqlmodel import Session, select

from bot import status_codes, units
from bot.errors import InputError
from bot.i18n import Lang
from models.activities import SCHEDULED as ACTIVITY_ON
from models.activities import YES, Activity, ActivityInvite
from models.contact_log import ContactLog
from models.conversations import Conversation, Message
from models.people import Person, Role
from models.programme import FollowUp
from models.schedules import CONFIRMED, DONE, Meeting, Wakeup

CONTACT_KINDS = ("message", "call", "note")
CHANNELS = ("telegram", "sms", "call", "meeting", "manual")
IN_ACTIVITY = "I aktivitet"  # Udir's group the reports count as back in education or work
# The PDF goes to a funder: a count this small could point to a person, so it is shown as "under 5".
SMALL = 5


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz)


def youths_followed(session: Session, *, first: date, last: date, tz: ZoneInfo, unit_id: int | None) -> list[int]:
    """Youths whose follow-up period overlaps the range, or who were in contact in it; of the unit, if one."""
    start, end = _midnight(first, tz), _midnight(last + timedelta(days=1), tz)
    by_period = set(session.exec(select(FollowUp.youth_id).where(
        or_(FollowUp.start.is_(None), FollowUp.start <= last), or_(FollowUp.end.is_(None), FollowUp.end >= first))))
    by_contact = set(session.exec(select(ContactLog.youth_id).where(
        ContactLog.at >= start, ContactLog.at < end, ContactLog.youth_id.is_not(None)).distinct()))
    youths = set(session.exec(select(Person.id).where(Person.role == Role.youth)))
    chosen = (by_period | by_contact) & youths
    if unit_id is not None:
        chosen &= units.member_ids(session, unit_id)
    return sorted(chosen)


def figures(session: Session, *, first: date, last: date, tz: ZoneInfo, unit_id: int | None = None) -> dict:
    if last < first:
        raise InputError("until", "--until must not be before --from")
    if unit_id is not None:
        units.get_unit(session, unit_id)
    start, end = _midnight(first, tz), _midnight(last + timedelta(days=1), tz)
    ids = youths_followed(session, first=first, last=last, tz=tz, unit_id=unit_id)
    entries = list(session.exec(select(ContactLog.kind, ContactLog.channel, ContactLog.after_hours).where(
        ContactLog.at >= start, ContactLog.at < end, ContactLog.youth_id.in_(ids)))) if ids else []
    contacts = [e for e in entries if e[0] in CONTACT_KINDS]
    after = sum(1 for e in contacts if e[2])
    by_kind: dict[str, int] = {}
    for kind, _channel, _after in entries:
        by_kind[kind] = by_kind.get(kind, 0) + 1
    by_channel = {c: sum(1 for e in contacts if e[1] == c) for c in CHANNELS}
    waits = [(answered - created).total_seconds() for created, answered in session.exec(
        select(Message.created_at, Message.answered_at).join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.direction == "in", Message.answered_at.is_not(None), Message.created_at >= start,
               Message.created_at < end, Conversation.youth_id.in_(ids)))] if ids else []
    wakeups = list(session.exec(select(Wakeup.status, Wakeup.sent_at).where(
        Wakeup.day >= first, Wakeup.day <= last, Wakeup.youth_id.in_(ids)))) if ids else []
    held = len(session.exec(select(Meeting.id).where(Meeting.status == DONE, Meeting.at >= start, Meeting.at < end,
                                                     Meeting.youth_id.in_(ids))).all()) if ids else 0
    activities = _activities(session, start, end, ids)
    codes = status_codes.status_on(session, ids, last)
    status: dict[str, int] = {}
    for code in codes.values():
        status[code] = status.get(code, 0) + 1
    groups = {name: sum(status.get(c, 0) for c in members) for name, members in status_codes.GROUPS.items()}
    return {
        "from": first.isoformat(), "until": last.isoformat(), "unit": unit_id,
        "youths": len(ids),
        "contacts": len(contacts),
        "after_hours_share": round(after / len(contacts), 3) if contacts else 0.0,
        "by_channel": by_channel,
        "by_kind": dict(sorted(by_kind.items())),
        "median_first_answer_seconds": int(statistics.median(waits)) if waits else None,
        "wakeups": {"sent": sum(1 for _s, sent in wakeups if sent is not None),
                    "confirmed": sum(1 for s, _sent in wakeups if s == CONFIRMED)},
        "meetings_held": held,
        "activities": activities,
        "status": dict(sorted(status.items())),
        "status_groups": groups,
        "without_status": len(ids) - len(codes),
        "in_activity_share": round(groups[IN_ACTIVITY] / len(codes), 3) if codes else 0.0,
    }


def _activities(session: Session, start: datetime, end: datetime, ids: list[int]) -> dict:
    """Activities in the range (not cancelled) that invited any of the youths, and how many of them said yes."""
    if not ids:
        return {"held": 0, "invited": 0, "came": 0}
    rows = session.exec(select(ActivityInvite.activity_id, ActivityInvite.answer)
                        .join(Activity, Activity.id == ActivityInvite.activity_id)
                        .where(Activity.status == ACTIVITY_ON, Activity.at >= start, Activity.at < end,
                               ActivityInvite.youth_id.in_(ids))).all()
    return {"held": len({a for a, _ in rows}), "invited": len(rows), "came": sum(1 for _, said in rows if said == YES)}


def as_csv(data: dict) -> str:
    """One figure a row: `figure,value`, nested figures as `by_channel.sms`."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["figure", "value"])
    for key, value in data.items():
        if isinstance(value, dict):
            for inner, number in value.items():
                writer.writerow([f"{key}.{inner}", number])
        else:
            writer.writerow([key, "" if value is None else value])
    return buf.getvalue()


def as_json(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)


def shown(L: Lang, n: int) -> str:
    """A count as the PDF shows it: small ones as "under 5"."""
    return L._("under {n}", n=SMALL) if 0 < n < SMALL else str(n)


def labels(L: Lang) -> dict[str, str]:
    return {
        "youths": L._("Ungdommer fulgt opp"), "contacts": L._("Kontakter"),
        "after_hours_share": L._("Andel kveld og helg"), "median": L._("Median tid til første svar"),
        "wakeups_sent": L._("Vekkinger sendt"), "wakeups_confirmed": L._("Vekkinger bekreftet"),
        "meetings_held": L._("Møter holdt"), "activities_held": L._("Aktiviteter holdt"),
        "activities_came": L._("Ungdommer som kom på aktiviteter"), "in_activity_share": L._("Andel i aktivitet ved periodens slutt"),
        "without_status": L._("Uten statuskode"),
    }
