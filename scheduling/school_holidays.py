"""School holidays: added one by one, or imported from an ICS or CSV file (the county's school calendar).

Norwegian public holidays come from `bot.office_hours`; together they say on which days there are no
wake-ups.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from bot.errors import InputError
from bot.timespec import SpecError, parse_date
from models.schedules import SchoolHoliday

MAX_LENGTH = timedelta(days=120)  # a summer holiday is the longest; more is a typing error


@dataclass
class Imported:
    added: list[int] = field(default_factory=list)
    existing: list[int] = field(default_factory=list)


def parse_day(value: str, field_name: str) -> date:
    """A day with its year, as bot.timespec.parse_date reads it: 2026-10-05, 05.10.2026 or 05.10.26."""
    try:
        return parse_date(value)
    except SpecError:
        raise InputError(field_name, f"{value!r} is not a date (YYYY-MM-DD or DD.MM.YYYY)") from None


def add_holiday(
    session: Session, *, start: date, end: date, name: str, now: datetime, source: str = "cli"
) -> tuple[SchoolHoliday, bool]:
    """Add a school holiday; (holiday, False) when the same one was there already."""
    name = " ".join((name or "").split())
    if not name or len(name) > 100:
        raise InputError("name", "give a name of 1 to 100 characters")
    if end < start:
        raise InputError("until", "--until must not be before --from")
    if end - start > MAX_LENGTH:
        raise InputError("until", f"a school holiday of {(end - start).days + 1} days is too long (at most 121)")
    same = session.exec(
        select(SchoolHoliday).where(SchoolHoliday.start == start, SchoolHoliday.end == end,
                                    SchoolHoliday.name == name)
    ).first()
    if same is not None:
        return same, False
    holiday = SchoolHoliday(name=name, start=start, end=end, source=source, created_at=now)
    session.add(holiday)
    session.flush()
    return holiday, True


# -- import ---------------------------------------------------------------------------------------


def import_file(session: Session, *, data: bytes, filename: str, now: datetime, tz: ZoneInfo) -> Imported:
    """Import school holidays from an ICS (VEVENTs) or CSV (name, from, until) file; idempotent."""
    text = _decode(data)
    is_ics = filename.lower().endswith((".ics", ".ical", ".ifb")) or text.lstrip().upper().startswith(
        "BEGIN:VCALENDAR")
    rows = _from_ics(text, tz) if is_ics else _from_csv(text)
    if not rows:
        raise InputError("file", "found no holidays in the file")
    result = Imported()
    for start, end, name in rows:
        holiday, new = add_holiday(session, start=start, end=end, name=name, now=now,
                                   source="ics" if is_ics else "csv")
        (result.added if new else result.existing).append(holiday.id)
    return result


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):  # Excel in Norway saves CSV as Windows-1252
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError("file", "the file is neither UTF-8 nor Windows-1252 text")


def _from_ics(text: str, tz: ZoneInfo) -> list[tuple[date, date, str]]:
    import icalendar

    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise InputError("file", f"not a readable ICS calendar: {exc}") from None
    rows = []
    for index, event in enumerate(calendar.walk("VEVENT"), start=1):
        name = str(event.get("SUMMARY") or "").strip()
        if event.get("DTSTART") is None:
            raise InputError("file", f"event {index} ({name or 'no name'}) has no DTSTART")
        try:
            start = event.decoded("DTSTART")
            end = event.decoded("DTEND") if event.get("DTEND") is not None else None
            if end is None and event.get("DURATION") is not None:
                end = start + event.decoded("DURATION")
            # icalendar hands back the raw text of a value it cannot read ("DTSTART:abc").
            if not isinstance(start, date) or not isinstance(end, date | None):
                raise TypeError("not a date")
            first, last = _event_days(start, end, tz)
        except (TypeError, ValueError, AttributeError, OverflowError):
            raise InputError("file", f"event {index} ({name or 'no name'}) has a date that cannot be read") from None
        rows.append((first, last, name or "Skoleferie"))
    return rows


def _event_days(start, end, tz: ZoneInfo) -> tuple[date, date]:
    """The days an event covers: an all-day DTEND is exclusive, and so is a DTEND at midnight."""
    if isinstance(start, datetime):
        local_start = start.astimezone(tz) if start.tzinfo else start
        first = local_start.date()
        if end is None:
            return first, first
        local_end = end.astimezone(tz) if end.tzinfo else end
        last = (local_end - timedelta(microseconds=1)).date() if local_end > local_start else first
        return first, max(first, last)
    if end is None:
        return start, start
    end_day = end.date() if isinstance(end, datetime) else end
    return start, max(start, end_day - timedelta(days=1))


_NAME = ("name", "navn", "summary", "ferie", "holiday", "beskrivelse")
_FROM = ("from", "fra", "start", "fom", "fra og med", "startdato")
_UNTIL = ("until", "til", "end", "tom", "til og med", "slutt", "sluttdato", "to")


def _from_csv(text: str) -> list[tuple[date, date, str]]:
    sample = text[:2048]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    try:
        # newline="": a lone CR (old Mac or pasted text) ends a line instead of failing the reader.
        lines = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
                 if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise InputError("file", f"not a readable CSV file: {exc}") from None
    if not lines:
        return []
    header = [c.strip().lower() for c in lines[0]]
    columns = _columns(header)
    if columns is None:
        columns = (2, 0, 1)  # no header: from, until, name
        body = list(enumerate(lines, start=1))
    else:
        body = list(enumerate(lines[1:], start=2))
    name_col, from_col, until_col = columns
    rows = []
    for number, row in body:
        if len(row) <= max(columns):
            raise InputError("file", f"line {number} has {len(row)} columns; expected name, from and until")
        try:
            start = parse_day(row[from_col], "from")
            end = parse_day(row[until_col], "until")
        except InputError as exc:
            raise InputError("file", f"line {number}: {exc.message}") from None
        rows.append((start, end, row[name_col].strip() or "Skoleferie"))
    return rows


def _columns(header: list[str]) -> tuple[int, int, int] | None:
    def find(names: tuple[str, ...]) -> int | None:
        return next((i for i, h in enumerate(header) if h in names), None)

    found = (find(_NAME), find(_FROM), find(_UNTIL))
    if all(i is not None for i in found):
        return found  # type: ignore[return-value]
    return None
