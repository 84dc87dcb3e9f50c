"""Parsing and formatting of dates, instants, durations, weekdays, times of day and weekly opening hours:
the one reading of each for the CLI, the chat commands and the dashboard (see `parse_date`)."""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal

DAY = 86_400
WEEK = 7 * DAY

_DURATION_HELP = "use e.g. 90s, 15m, 2h, 1d or 1h30m"
_DAYS_HELP = "use mon, tue, wed, thu, fri, sat, sun"
_HOURS_HELP = "use e.g. mon-fri 08:00-16:00; sat 10:00-14:00"

_UNIT_SECONDS = {"d": DAY, "h": 3600, "m": 60, "s": 1}
_AMOUNT = r"([0-9]+(?:\.[0-9]+)?)"
_NUMBER = re.compile(_AMOUNT)
_DURATION = re.compile("".join(f"(?:{_AMOUNT}{unit})?" for unit in _UNIT_SECONDS))

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_WORDS = {
    word: day
    for names in (
        DAY_NAMES,
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
        ("man", "tir", "ons", "tor", "fre", "lør", "søn"),
        ("mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag"),
    )
    for day, word in enumerate(names)
} | {"lor": 5, "lordag": 5, "son": 6, "sondag": 6}
_EVERY_DAY_WORDS = {"daily", "all", "daglig", "alle"}

_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?")

# The days any date may fall on: beyond them, turning a local time into UTC (or taking its next day) overflows.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)


class SpecError(ValueError):
    """A date, duration, day, time or opening-hours text that cannot be understood."""


# -- dates and instants -----------------------------------------------------------------------------

_DATE_HELP = "use e.g. 2026-12-01, 01.12.2026, 01.12.26 or 01.12"
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DOTTED = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})(?:\.([0-9]{2}|[0-9]{4}))?\.?")
DAY_WORDS = {"i dag": 0, "idag": 0, "today": 0, "i morgen": 1, "imorgen": 1, "tomorrow": 1}


def parse_date(text: str, today: date | None = None) -> date:
    """A day, read the same way everywhere:

    - `2026-12-01` (ISO), `01.12.2026` and `1.12.26` (a two-digit year is 20YY: "01.12.26" is 2026);
    - with `today` (chat commands): `01.12` without a year is this year's, or next year's if this year's
      was before yesterday (so "/borte 01.12" on 2 December still means this week), and `i dag`,
      `i morgen`, `today`, `tomorrow`.
    """
    shown = (text or "").strip()
    word = shown.lower()
    if today is not None and word in DAY_WORDS:
        return today + timedelta(days=DAY_WORDS[word])
    try:
        if _ISO_DATE.fullmatch(word):
            return date.fromisoformat(word)
        dotted = _DOTTED.fullmatch(word)
        if dotted:
            day, month, year = int(dotted[1]), int(dotted[2]), dotted[3]
            if year is not None:
                return date(int(year) + (2000 if len(year) == 2 else 0), month, day)
            if today is not None:
                for candidate_year in range(today.year, today.year + 9):  # 29.02: up to the next leap year
                    try:
                        candidate = date(candidate_year, month, day)
                    except ValueError:
                        continue
                    if candidate >= today - timedelta(days=1):
                        return candidate
                raise ValueError(shown)
    except ValueError:
        raise SpecError(f"{shown!r} is not a date") from None
    raise SpecError(f"{shown!r} is not a date ({_DATE_HELP})")


def parse_date_words(words: list[str], today: date) -> tuple[date, int] | None:
    """A day at the start of a chat command's words, and how many words it took ("i morgen": two)."""
    if not words:
        return None
    two = " ".join(words[:2]).lower()
    if len(words) >= 2 and two in DAY_WORDS:
        return today + timedelta(days=DAY_WORDS[two]), 2
    try:
        return parse_date(words[0], today), 1
    except SpecError:
        return None


def start_of_day(day: date, tz: tzinfo) -> datetime:
    """The local midnight a day starts at."""
    return datetime.combine(day, time(), tzinfo=tz)


def day_span(first: date, last: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """A period of whole local days with its last day included, as every period here is read (/borte,
    `--from`/`--until`, the dashboard's filters): from the first day's midnight to the midnight after the
    last."""
    if last < first:
        raise SpecError(f"{last.isoformat()} is before {first.isoformat()}")
    return start_of_day(first, tz), start_of_day(last + timedelta(days=1), tz)


def parse_instant(text: str, tz: tzinfo, *, end_of_day: bool = False) -> datetime:
    """An instant from the CLI or a form: an ISO date-time (`2026-11-25T14:00`, `2026-11-25 14:00`, with or
    without an offset) in local time `tz` unless it carries an offset, or a day as `parse_date` reads it
    without `today`, meaning its start (with `end_of_day`: the next day's start, so a last day counts)."""
    shown = (text or "").strip()
    try:
        day, moment = parse_date(shown), None
    except SpecError:
        try:
            moment = datetime.fromisoformat(shown) if any(c in shown for c in "T :") else None
        except ValueError:
            moment = None
        if moment is None:
            raise SpecError(f"{shown!r} is not a date or date-time (2026-11-23 or 2026-11-23T08:00)") from None
        day = moment.date()
    if not FIRST_DAY <= day <= LAST_DAY:
        # Year 1 or 9999 overflows when turned into UTC for the database (or given its next day).
        raise SpecError(f"{shown!r} is outside the years {FIRST_DAY.year}–{LAST_DAY.year}")
    if moment is not None:
        return moment if moment.tzinfo else moment.replace(tzinfo=tz)
    return start_of_day(day + timedelta(days=1) if end_of_day else day, tz)


def parse_duration(value: str | int | float) -> timedelta:
    """Parse a non-negative duration such as 90 (seconds), "90s", "15m", "2h", "1d" or "1h30m"."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(f"a duration must be text or a number of seconds, not {type(value).__name__}")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(f"{value} is not a duration ({_DURATION_HELP})")
        if value < 0:
            raise SpecError(f"{value} is negative (a duration must be zero or more)")
        try:
            return timedelta(seconds=value)
        except OverflowError:
            raise SpecError(f"{value} seconds is too long a duration") from None

    compact = re.sub(r"\s+", "", value).lower()
    shown = value.strip()
    if not compact:
        raise SpecError(f"no duration given ({_DURATION_HELP})")
    if compact.startswith("-"):
        raise SpecError(f"'{shown}' is negative (a duration must be zero or more)")
    if _NUMBER.fullmatch(compact):
        seconds = Decimal(compact)
    else:
        match = _DURATION.fullmatch(compact)
        if not match:
            raise SpecError(f"'{shown}' is not a duration ({_DURATION_HELP})")
        seconds = sum(
            (
                Decimal(amount) * _UNIT_SECONDS[unit]
                for amount, unit in zip(match.groups(), _UNIT_SECONDS, strict=True)
                if amount
            ),
            Decimal(0),
        )
    try:
        return timedelta(microseconds=int((seconds * 1_000_000).to_integral_value()))
    except OverflowError:
        raise SpecError(f"'{shown}' is too long a duration") from None


def format_duration(td: timedelta) -> str:
    """Format a non-negative duration in the short form parse_duration reads back, e.g. "1h30m"."""
    if td < timedelta(0):
        raise ValueError(f"{td} is negative (a duration must be zero or more)")
    micro = td // timedelta(microseconds=1)
    whole, fraction = divmod(micro, 1_000_000)
    days, rest = divmod(whole, DAY)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    if fraction:
        parts.append(f"{seconds}.{fraction:06d}".rstrip("0") + "s")
    elif seconds or not parts:
        parts.append(f"{seconds}s")
    return "".join(parts)


def _day(word: str) -> int:
    """Return the weekday number (0=Monday) named by one word."""
    found = _DAY_WORDS.get(word.strip().lower())
    if found is None:
        raise SpecError(f"'{word.strip()}' is not a day ({_DAYS_HELP})")
    return found


def parse_days(text: str) -> frozenset[int]:
    """Parse weekdays such as "mon-fri", "sat,sun", "mon,wed-fri", "fri-mon", "daily" or "man-fre" (0=Monday)."""
    cleaned = text.strip().replace("–", "-").replace("—", "-")
    if not cleaned:
        raise SpecError(f"no days given ({_DAYS_HELP}, ranges like mon-fri, or daily)")
    if cleaned.lower() in _EVERY_DAY_WORDS:
        return frozenset(range(7))
    days: set[int] = set()
    for item in cleaned.split(","):
        item = item.strip()
        if not item:
            raise SpecError(f"'{cleaned}' has an empty day between commas ({_DAYS_HELP})")
        if "-" not in item:
            days.add(_day(item))
            continue
        first, _, last = item.partition("-")
        if not first.strip() or not last.strip() or "-" in last:
            raise SpecError(f"'{item}' is not a range of days (use e.g. mon-fri)")
        day, end = _day(first), _day(last)
        days.add(day)
        while day != end:
            day = (day + 1) % 7
            days.add(day)
    return frozenset(days)


def format_days(days: Iterable[int]) -> str:
    """Format weekdays (0=Monday) canonically, e.g. "mon-fri", "sat,sun", "mon,wed-fri" or "daily"."""
    chosen = set(days)
    if not chosen:
        raise ValueError("no days given")
    if not chosen <= set(range(7)):
        raise ValueError(
            f"weekdays are numbered 0 (Monday) to 6 (Sunday), not {sorted(chosen - set(range(7)))}"
        )
    if len(chosen) == 7:
        return "daily"
    runs: list[list[int]] = []
    for day in sorted(chosen):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}")
        else:
            parts.extend(DAY_NAMES[day] for day in run)
    return ",".join(parts)


def parse_time(text: str, allow_24: bool = False) -> time:
    """Parse a 24-hour "HH:MM" or "HH:MM:SS"; with allow_24, "24:00" (end of day) is returned as time.max."""
    shown = text.strip()
    span = "00:00-24:00" if allow_24 else "00:00-23:59"
    if not shown:
        raise SpecError(f"no time given (use HH:MM, {span})")
    match = _TIME.fullmatch(shown)
    if not match:
        raise SpecError(f"'{shown}' is not a time of day (use HH:MM, {span})")
    hour, minute, second = (int(part or 0) for part in match.groups())
    if (hour, minute, second) == (24, 0, 0):
        if allow_24:
            return time.max
        raise SpecError(f"{shown} is only allowed as an end time (use HH:MM, {span})")
    if hour > 23 or minute > 59 or second > 59:
        raise SpecError(f"{shown} is not a time of day (use HH:MM, {span})")
    return time(hour, minute, second)


def _seconds_of_day(t: time) -> int:
    """Return whole seconds since midnight, with time.max standing for 24:00."""
    if t == time.max:
        return DAY
    return t.hour * 3600 + t.minute * 60 + t.second


def _format_seconds_of_day(seconds: int) -> str:
    """Format seconds since midnight as HH:MM, or HH:MM:SS when seconds are not whole minutes."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}" if secs else f"{hours:02d}:{minutes:02d}"


def _parse_period(text: str, part: str) -> tuple[int, int]:
    """Parse "HH:MM-HH:MM" into (start second of day, length in seconds); an end at or before the start runs past midnight."""
    period = text.strip()
    if not period:
        raise SpecError(f"'{part}' has an empty period between commas ({_HOURS_HELP})")
    pieces = period.split("-")
    if len(pieces) != 2 or not pieces[0].strip() or not pieces[1].strip():
        raise SpecError(f"'{period}' is not a period (use HH:MM-HH:MM, e.g. 08:00-16:00)")
    start = _seconds_of_day(parse_time(pieces[0], allow_24=False))
    end = _seconds_of_day(parse_time(pieces[1], allow_24=True))
    if start == end:
        raise SpecError(f"'{period}' is an empty period (the end must differ from the start)")
    return start, (end - start) % DAY or DAY


def _normalise(spans: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Fold spans into sorted, merged, non-touching spans within one week."""
    pieces: list[tuple[int, int]] = []
    for start, end in spans:
        if end < start:
            raise ValueError(f"span ({start}, {end}) ends before it starts")
        if end - start >= WEEK:
            return ((0, WEEK),)
        if end == start:
            continue
        offset = start % WEEK
        stop = offset + (end - start)
        if stop > WEEK:
            pieces += [(offset, WEEK), (0, stop - WEEK)]
        else:
            pieces.append((offset, stop))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(pieces):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _week_position(dt: datetime) -> int:
    """Return whole seconds since Monday 00:00 of dt's wall-clock week."""
    return dt.weekday() * DAY + dt.hour * 3600 + dt.minute * 60 + dt.second


class WeeklyHours:
    """Opening hours that repeat every week, in local wall-clock time."""

    __slots__ = ("_spans", "_starts")

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        """Open during each [start, end) span of seconds after Monday 00:00 (spans may run past Sunday midnight)."""
        self._spans = _normalise(spans)
        self._starts = [start for start, _ in self._spans]

    @classmethod
    def parse(cls, text: str) -> WeeklyHours:
        """Parse e.g. "mon-fri 15:00-23:00; sat,sun 10:00-22:00"; "" or "always" is always open, "never" never."""
        cleaned = text.strip().replace("–", "-").replace("—", "-")
        if not cleaned or cleaned.lower() == "always":
            return cls([(0, WEEK)])
        if cleaned.lower() == "never":
            return cls([])
        spans: list[tuple[int, int]] = []
        for part in (part.strip() for part in cleaned.split(";")):
            if not part:
                continue
            days_text = re.match(r"[^0-9]*", part).group()
            times_text = part[len(days_text) :]
            days_text = days_text.strip().removesuffix(":").strip()
            if not times_text.strip():
                raise SpecError(f"'{part}' has no times ({_HOURS_HELP})")
            days = parse_days(days_text) if days_text else frozenset(range(7))
            for period in times_text.split(","):
                start, length = _parse_period(period, part)
                spans += [(day * DAY + start, day * DAY + start + length) for day in days]
        if not spans:
            raise SpecError(f"'{cleaned}' gives no opening hours ({_HOURS_HELP})")
        return cls(spans)

    @property
    def always(self) -> bool:
        """Whether these hours are open around the clock."""
        return self._spans == ((0, WEEK),)

    @property
    def spans(self) -> tuple[tuple[int, int], ...]:
        """The merged [start, end) spans in seconds after Monday 00:00."""
        return self._spans

    def _span_at(self, position: int) -> int | None:
        """Return the index of the span containing a week position, if any."""
        index = bisect_right(self._starts, position) - 1
        if index >= 0 and position < self._spans[index][1]:
            return index
        return None

    def contains(self, local_dt: datetime) -> bool:
        """Whether the wall-clock time of local_dt falls within these hours."""
        return self._span_at(_week_position(local_dt)) is not None

    def next_start(self, local_dt: datetime) -> datetime | None:
        """The first wall-clock moment >= local_dt that is open (local_dt itself if open now); None if never open."""
        if not self._spans:
            return None
        position = _week_position(local_dt)
        if self._span_at(position) is not None:
            return local_dt
        index = bisect_right(self._starts, position)
        start = self._starts[index] if index < len(self._starts) else self._starts[0] + WEEK
        return local_dt.replace(microsecond=0) + timedelta(seconds=start - position)

    def next_end(self, local_dt: datetime) -> datetime | None:
        """The first wall-clock moment >= local_dt that is closed (local_dt itself if closed now); None if always open."""
        if self.always:
            return None
        position = _week_position(local_dt)
        index = self._span_at(position)
        if index is None:
            return local_dt
        end = self._spans[index][1]
        if end == WEEK and self._starts[0] == 0:
            end += self._spans[0][1]
        return local_dt.replace(microsecond=0) + timedelta(seconds=end - position)

    def _day_chunks(self) -> dict[int, list[tuple[int, int]]]:
        """Split the spans into (start second of day, length) periods keyed by the weekday they start on."""
        spans = list(self._spans)
        if len(spans) > 1 and spans[0][0] == 0 and spans[-1][1] == WEEK:
            spans = spans[1:-1] + [(spans[-1][0], WEEK + spans[0][1])]
        chunks: dict[int, list[tuple[int, int]]] = {}
        for start, end in spans:
            while start < end:
                day, second = divmod(start, DAY)
                midnight = (day + 1) * DAY
                # Run past midnight as one overnight period only while it still ends before its start time.
                if end <= midnight or (second and end - midnight < second):
                    stop = end
                else:
                    stop = midnight
                chunks.setdefault(day % 7, []).append((second, stop - start))
                start = stop
        return chunks

    def __str__(self) -> str:
        if self.always:
            return "always"
        if not self._spans:
            return "never"
        groups: dict[tuple[tuple[int, int], ...], list[int]] = {}
        for day, periods in sorted(self._day_chunks().items()):
            groups.setdefault(tuple(sorted(periods)), []).append(day)
        parts = []
        for periods, days in sorted(groups.items(), key=lambda item: item[1][0]):
            times = ", ".join(
                f"{_format_seconds_of_day(start)}-{_format_seconds_of_day((start + length - 1) % DAY + 1)}"
                for start, length in periods
            )
            parts.append(f"{format_days(days)} {times}")
        return "; ".join(parts)

    def __repr__(self) -> str:
        return f"WeeklyHours.parse({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WeeklyHours):
            return NotImplemented
        return self._spans == other._spans

    def __hash__(self) -> int:
        return hash(self._spans)
