"""Availability of a worker from weekly hours, absences and a manual off switch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.timespec import WeeklyHours

_SECOND = timedelta(seconds=1)
# Looking at most a day ahead per step keeps every step inside at most one UTC offset change.
_MAX_STEP = timedelta(days=1)


def _require_aware(name: str, value: datetime) -> None:
    """Raise ValueError unless value is a timezone-aware datetime."""
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not {value!r}")


@dataclass(frozen=True)
class Absence:
    """A stretch of time when a worker is away, from start up to but not including end."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _require_aware("Absence.start", self.start)
        _require_aware("Absence.end", self.end)
        if self.end < self.start:
            raise ValueError(f"absence ends ({self.end}) before it starts ({self.start})")

    def covers(self, at: datetime) -> bool:
        """Whether the aware moment at falls inside this absence."""
        return self.start <= at < self.end


def is_available(
    at: datetime,
    *,
    hours: WeeklyHours,
    absences: Sequence[Absence],
    off: bool,
    tz: ZoneInfo,
) -> bool:
    """Whether a worker is available at an aware moment: not off, not absent and within hours on the tz wall clock."""
    _require_aware("at", at)
    if off or any(absence.covers(at) for absence in absences):
        return False
    return hours.contains(at.astimezone(tz))


def _first_offset_change(after: datetime, before: datetime, tz: ZoneInfo) -> datetime:
    """Return the first whole UTC second in (after, before] whose UTC offset in tz differs from that at after."""
    offset = after.astimezone(tz).utcoffset()
    low = after.replace(microsecond=0)
    high = before.replace(microsecond=0) + (_SECOND if before.microsecond else timedelta(0))
    while high - low > _SECOND:
        middle = low + (high - low) // 2 // _SECOND * _SECOND
        if middle.astimezone(tz).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return high


def _next_hours_candidate(t: datetime, hours: WeeklyHours, tz: ZoneInfo) -> datetime | None:
    """Return a UTC moment after t, closed to hours until then, at which hours may open; None if hours never open."""
    local = t.astimezone(tz)
    start = hours.next_start(local.replace(tzinfo=None))
    if start is None:
        return None
    offset = local.utcoffset()
    candidate = min((start - offset).replace(tzinfo=UTC), t + _MAX_STEP)
    # The wall clock only runs evenly between offset changes; re-check hours where the offset changes.
    if candidate.astimezone(tz).utcoffset() != offset:
        return _first_offset_change(t, candidate, tz)
    return candidate


def next_available(
    at: datetime,
    *,
    hours: WeeklyHours,
    absences: Sequence[Absence],
    off: bool,
    tz: ZoneInfo,
    horizon: timedelta = timedelta(days=60),
) -> datetime | None:
    """The earliest moment >= at (aware, in tz) when the worker is available; None if off or not within the horizon."""
    _require_aware("at", at)
    if off:
        return None
    t = at.astimezone(UTC)
    deadline = t + horizon
    while t <= deadline:
        ends = [absence.end for absence in absences if absence.covers(t)]
        if ends:
            t = max(ends).astimezone(UTC)
            continue
        local = t.astimezone(tz)
        if hours.contains(local):
            return local
        candidate = _next_hours_candidate(t, hours, tz)
        if candidate is None:
            return None
        t = candidate
    return None
