"""One reading of dates for the CLI, the chat commands and the dashboard (bot.timespec.parse_date): the same
text is the same day wherever it is typed. "01.12.26" is 1 December 2026 in /borte, /vekking pause,
/mote, `tettpa holiday add` and the dashboard's filters alike."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.i18n import Lang
from bot.timespec import SpecError, parse_date, parse_date_words, parse_instant
from bot.worker_settings import parse_absence
from handlers.telegram.schedules import _day_words
from handlers.web.dashboard_base import BadQuery
from handlers.web.dashboard_base import parse_date as dashboard_date
from scheduling.school_holidays import parse_day

OSLO = ZoneInfo("Europe/Oslo")
TODAY = date(2026, 12, 2)
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


@pytest.mark.parametrize("text", ["01.12.26", "1.12.2026", "2026-12-01", "01.12.2026."])
def test_it_reads_a_day_with_its_year_the_same_everywhere(text):
    assert parse_date(text) == parse_date(text, TODAY) == date(2026, 12, 1)
    assert parse_day(text, "from") == date(2026, 12, 1)  # the CLI and the school-holiday import
    assert _day_words([text], TODAY) == (date(2026, 12, 1), 1)  # /vekking pause and /mote
    assert dashboard_date(Lang("nb"), text, "Fra") == date(2026, 12, 1)
    start, end = parse_absence([text, text], NOW, OSLO)  # /borte
    assert start == NOW and end == datetime(2026, 12, 2, tzinfo=OSLO)


def test_it_reads_a_day_without_a_year_as_the_next_one_not_before_yesterday():
    assert parse_date("01.12", TODAY) == date(2026, 12, 1)  # yesterday: still this year
    assert parse_date("30.11", TODAY) == date(2027, 11, 30)
    assert parse_date("24.12", TODAY) == date(2026, 12, 24)
    assert parse_date("29.02", TODAY) == date(2028, 2, 29)  # the next leap year
    assert _day_words(["01.12"], TODAY) == (date(2026, 12, 1), 1)
    assert parse_absence(["01.12", "05.12"], NOW, OSLO)[1] == datetime(2026, 12, 6, tzinfo=OSLO)


def test_it_reads_today_and_tomorrow_in_chat_only():
    assert parse_date_words(["i", "morgen", "14:00"], TODAY) == (TODAY + timedelta(days=1), 2)
    assert parse_date_words(["imorgen"], TODAY) == (TODAY + timedelta(days=1), 1)
    assert parse_date_words(["today"], TODAY) == (TODAY, 1)
    with pytest.raises(SpecError):
        parse_date("i morgen")  # the CLI has no "today" to count from: it wants a date


@pytest.mark.parametrize("text", ["", "5", "1.2.3", "31.02.2026", "2026-13-01", "yesterday", "01/12/2026",
                                  "2026-1-1", "01.12.123"])
def test_it_refuses_what_is_not_a_day(text):
    with pytest.raises(SpecError):
        parse_date(text, TODAY)
    with pytest.raises(BadQuery):
        dashboard_date(Lang("nb"), text or " ", "Fra")


def test_it_reads_an_instant_in_local_time_unless_it_has_an_offset():
    assert parse_instant("2026-11-25T14:00", OSLO) == datetime(2026, 11, 25, 14, 0, tzinfo=OSLO)
    assert parse_instant("2026-11-25 14:00", OSLO) == datetime(2026, 11, 25, 14, 0, tzinfo=OSLO)
    assert parse_instant("2026-11-25T14:00+00:00", OSLO) == datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    assert parse_instant("2026-11-25", OSLO) == datetime(2026, 11, 25, tzinfo=OSLO)
    assert parse_instant("25.11.26", OSLO, end_of_day=True) == datetime(2026, 11, 26, tzinfo=OSLO)
    for bad in ("soon", "2026-11-25T25:00", "25.11 14:00"):
        with pytest.raises(SpecError):
            parse_instant(bad, OSLO)


@given(days)
def test_it_reads_every_way_of_writing_a_day_as_that_day(day):
    written = (day.isoformat(), f"{day:%d.%m.%Y}", f"{day:%d.%m.%y}", f"{day.day}.{day.month}.{day.year}")
    assert {parse_date(text) for text in written} == {day}
    assert parse_day(f"{day:%d.%m.%y}", "from") == day


@given(days, st.integers(1, 12), st.integers(1, 31))
def test_it_puts_a_day_without_a_year_within_the_year_from_yesterday(today, month, day):
    try:
        found = parse_date(f"{day:02d}.{month:02d}", today)
    except SpecError:
        assert not any(_valid(y, month, day) for y in range(today.year, today.year + 9))
        return
    assert (found.month, found.day) == (month, day)
    assert today - timedelta(days=1) <= found
    assert found - (today - timedelta(days=1)) < timedelta(days=366 * 4 + 1)  # 29.02: up to four years
    if (month, day) != (2, 29):
        assert found - (today - timedelta(days=1)) < timedelta(days=366)


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def test_it_reads_a_period_of_whole_days_with_its_last_day_included():
    from bot.timespec import day_span

    assert day_span(date(2026, 3, 28), date(2026, 3, 29), OSLO) == (
        datetime(2026, 3, 28, tzinfo=OSLO), datetime(2026, 3, 30, tzinfo=OSLO))  # over the spring DST change
    assert day_span(TODAY, TODAY, OSLO)[1] - day_span(TODAY, TODAY, OSLO)[0] == timedelta(days=1)
    with pytest.raises(SpecError):
        day_span(date(2026, 12, 5), date(2026, 12, 1), OSLO)
    with pytest.raises(ValueError):
        parse_absence(["05.12", "01.12"], NOW, OSLO)  # /borte answers with an example
