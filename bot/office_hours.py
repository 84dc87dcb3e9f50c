"""Norwegian public holidays and office-hours checks."""

from __future__ import annotations

from collections.abc import Container
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from bot.timespec import WeeklyHours


@lru_cache(maxsize=64)
def _norwegian_holidays(year: int) -> holidays.HolidayBase:
    """Return the Norwegian public holidays of one year, with Norwegian names and without ordinary Sundays."""
    # holidays.Norway counts every Sunday as a holiday unless told otherwise.
    return holidays.Norway(years=year, include_sundays=False, language="no")


def _as_date(d: date) -> date:
    """Return the calendar date of a date or datetime."""
    return d.date() if isinstance(d, datetime) else d


def public_holiday_name(d: date) -> str | None:
    """Return the Norwegian name of the public holiday on d, or None on other days."""
    day = _as_date(d)
    return _norwegian_holidays(day.year).get(day)


def is_public_holiday(d: date) -> bool:
    """Whether d is a Norwegian public holiday (ordinary Sundays are not)."""
    return public_holiday_name(d) is not None


def is_after_hours(
    at: datetime,
    office: WeeklyHours,
    tz: ZoneInfo,
    extra_closed_days: Container[date] = (),
) -> bool:
    """Whether the office is closed at an aware moment: outside office hours in tz, on a public holiday or an extra closed day."""
    if at.utcoffset() is None:
        raise ValueError("is_after_hours needs a timezone-aware datetime")
    local = at.astimezone(tz)
    day = local.date()
    return day in extra_closed_days or is_public_holiday(day) or not office.contains(local)
