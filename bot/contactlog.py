"""Writing and exporting the contact log."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from sqlmodel import Session

from bot.office_hours import is_after_hours
from bot.settings import Settings
from models.contact_log import ContactLog, add_entry, entries

# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

FIELDS = ("at", "youth_id", "party", "worker_id", "channel", "direction", "kind", "after_hours", "text")


def record(
    session: Session, settings: Settings, *, at: datetime, youth_id: int | None, party: str, channel: str,
    direction: str, kind: str, text: str, worker_id: int | None = None, message_id: int | None = None,
) -> ContactLog:
    """One contact-log entry; after_hours from TETTPA_OFFICE_HOURS and Norwegian public holidays."""
    return add_entry(
        session, at=at, youth_id=youth_id, party=party, worker_id=worker_id, channel=channel,
        direction=direction, kind=kind, after_hours=is_after_hours(at, settings.office, settings.tz),
        text=text, message_id=message_id,
    )


def as_dict(entry: ContactLog, settings: Settings) -> dict:
    return {
        "at": entry.at.astimezone(settings.tz).isoformat(timespec="seconds"),
        "youth_id": entry.youth_id,
        "party": entry.party,
        "worker_id": entry.worker_id,
        "channel": entry.channel,
        "direction": entry.direction,
        "kind": entry.kind,
        "after_hours": entry.after_hours,
        "text": entry.text,
    }


def export(
    session: Session, settings: Settings, *, fmt: str, youth_id: int | None = None,
    start: datetime | None = None, end: datetime | None = None,
) -> str:
    rows = [as_dict(e, settings) for e in entries(session, youth_id=youth_id, start=start, end=end)]
    if fmt == "json":
        return json.dumps({"entries": rows}, ensure_ascii=False)
    buf = io.StringIO()
    # CRLF as RFC 4180 has it: the writer then quotes a text holding a bare CR too (with "\n" it would not,
    # and the file would not read back).
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(safe_row({**row, "after_hours": "true" if row["after_hours"] else "false"}))
    return buf.getvalue()


def safe_cell(value):
    """A text cell a spreadsheet shows as text: a leading formula character gets a ' before it."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(row: dict) -> dict:
    """Every cell of a CSV row through safe_cell (every CSV the service writes goes through here)."""
    return {key: safe_cell(value) for key, value in row.items()}
