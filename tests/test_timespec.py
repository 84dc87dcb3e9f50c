from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.timespec import (
    DAY,
    WEEK,
    SpecError,
    WeeklyHours,
    format_days,
    format_duration,
    parse_days,
    parse_duration,
    parse_time,
)

OSLO = ZoneInfo("Europe/Oslo")
# 2025-06-02 is a Monday.
MONDAY = datetime(2025, 6, 2)


def on(day: int, hour: int, minute: int = 0) -> datetime:
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


# Durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90", timedelta(seconds=90)),
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        (" 1h 30m ", timedelta(hours=1, minutes=30)),
        ("1D2H", timedelta(days=1, hours=2)),
        ("0", timedelta(0)),
        ("0.5s", timedelta(milliseconds=500)),
    ],
)
def test_it_reads_durations_in_short_form(text, expected):
    assert parse_duration(text) == expected


def test_it_reads_numbers_as_seconds():
    assert parse_duration(90) == timedelta(seconds=90)
    assert parse_duration(1.5) == timedelta(seconds=1.5)


@pytest.mark.parametrize("text", ["", "   ", "-5", "-1h", "5x", "h", "1h30", "30m1h", "1h1h", "1.h", "½h"])
def test_it_rejects_durations_it_cannot_read(text):
    with pytest.raises(SpecError):
        parse_duration(text)


def test_it_says_an_empty_duration_is_missing():
    with pytest.raises(SpecError, match="no duration given"):
        parse_duration("")


def test_it_says_which_duration_is_negative():
    with pytest.raises(SpecError, match="'-5' is negative"):
        parse_duration("-5")


@pytest.mark.parametrize("value", [-1, -0.5, float("nan"), float("inf")])
def test_it_rejects_negative_or_unbounded_numbers_of_seconds(value):
    with pytest.raises(SpecError):
        parse_duration(value)


def test_it_rejects_durations_too_long_for_timedelta():
    with pytest.raises(SpecError, match="too long"):
        parse_duration("9999999999d")


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (timedelta(minutes=15), "15m"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(days=1, seconds=5), "1d5s"),
        (timedelta(0), "0s"),
        (timedelta(milliseconds=250), "0.25s"),
    ],
)
def test_it_formats_durations_canonically(td, text):
    assert format_duration(td) == text


def test_it_refuses_to_format_negative_durations():
    with pytest.raises(ValueError):
        format_duration(timedelta(seconds=-1))


@given(st.timedeltas(min_value=timedelta(0)))
def test_it_reads_back_every_formatted_duration(td):
    assert parse_duration(format_duration(td)) == td


@given(st.text())
def test_it_never_fails_on_arbitrary_duration_text_except_with_value_error(text):
    try:
        parse_duration(text)
    except ValueError:
        pass


# Days


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("sat,sun", {5, 6}),
        ("mon,wed-fri", {0, 2, 3, 4}),
        ("Mon, Wed - Fri", {0, 2, 3, 4}),
        ("daily", set(range(7))),
        ("all", set(range(7))),
        ("man-fre", {0, 1, 2, 3, 4}),
        ("lør,søn", {5, 6}),
        ("lor,son", {5, 6}),
        ("fri-mon", {4, 5, 6, 0}),
        ("wed-wed", {2}),
        ("tirsdag", {1}),
    ],
)
def test_it_reads_days_in_english_and_norwegian(text, expected):
    assert parse_days(text) == frozenset(expected)


def test_it_names_the_bad_day_in_a_range():
    with pytest.raises(SpecError) as raised:
        parse_days("mon-xyz")
    assert str(raised.value) == "'xyz' is not a day (use mon, tue, wed, thu, fri, sat, sun)"


@pytest.mark.parametrize("text", ["", "mon-", "-fri", "mon-wed-fri", "mon,,tue", "mon fri", "weekday"])
def test_it_rejects_day_lists_it_cannot_read(text):
    with pytest.raises(SpecError):
        parse_days(text)


@pytest.mark.parametrize(
    ("days", "text"),
    [
        ({0, 1, 2, 3, 4}, "mon-fri"),
        ({5, 6}, "sat,sun"),
        ({0, 2, 3, 4}, "mon,wed-fri"),
        (set(range(7)), "daily"),
        ({4, 5, 6, 0}, "mon,fri-sun"),
        ({3}, "thu"),
    ],
)
def test_it_formats_days_canonically(days, text):
    assert format_days(days) == text


def test_it_refuses_to_format_no_days_or_unknown_day_numbers():
    with pytest.raises(ValueError):
        format_days(set())
    with pytest.raises(ValueError):
        format_days({7})


@given(st.frozensets(st.integers(0, 6), min_size=1))
def test_it_reads_back_every_formatted_set_of_days(days):
    assert parse_days(format_days(days)) == days


@given(st.text())
def test_it_never_fails_on_arbitrary_day_text_except_with_value_error(text):
    try:
        parse_days(text)
    except ValueError:
        pass


# Times of day


def test_it_reads_times_of_day():
    assert parse_time("08:30") == time(8, 30)
    assert parse_time("8:30") == time(8, 30)
    assert parse_time("23:59:59") == time(23, 59, 59)
    assert parse_time(" 00:00 ") == time(0, 0)


def test_it_reads_24_00_as_time_max_only_where_an_end_time_is_allowed():
    assert parse_time("24:00", allow_24=True) == time.max
    assert parse_time("24:00:00", allow_24=True) == time.max
    with pytest.raises(SpecError, match="only allowed as an end time"):
        parse_time("24:00")


def test_it_explains_that_25_00_is_not_a_time_of_day():
    with pytest.raises(SpecError) as raised:
        parse_time("25:00", allow_24=True)
    assert str(raised.value) == "25:00 is not a time of day (use HH:MM, 00:00-24:00)"


@pytest.mark.parametrize(
    "text", ["", "25:00", "12:60", "12:00:60", "24:01", "noon", "1200", "12:0", "12:00pm"]
)
def test_it_rejects_times_it_cannot_read(text):
    with pytest.raises(SpecError):
        parse_time(text, allow_24=True)


@given(st.text(), st.booleans())
def test_it_never_fails_on_arbitrary_time_text_except_with_value_error(text, allow_24):
    try:
        parse_time(text, allow_24=allow_24)
    except ValueError:
        pass


# Weekly hours


def test_it_keeps_a_primary_who_works_evenings_open_only_in_the_evening():
    hours = WeeklyHours.parse("mon-fri 15:00-23:00; sat,sun 10:00-22:00")
    assert hours.contains(on(0, 15))
    assert hours.contains(on(4, 22, 59))
    assert not hours.contains(on(4, 23))
    assert not hours.contains(on(2, 14, 59))
    assert hours.contains(on(5, 10))
    assert not hours.contains(on(6, 22))


def test_it_allows_several_periods_per_day():
    with_comma = WeeklyHours.parse("mon-fri 08:00-11:00, 12:00-16:00")
    with_semicolon = WeeklyHours.parse("mon-fri 08:00-11:00; mon-fri 12:00-16:00")
    assert with_comma == with_semicolon
    assert with_comma.contains(on(1, 10, 59))
    assert not with_comma.contains(on(1, 11, 30))
    assert with_comma.contains(on(1, 12))


def test_it_lets_a_friday_night_shift_run_into_saturday():
    hours = WeeklyHours.parse("fri 22:00-02:00")
    assert hours.contains(on(4, 23))
    assert hours.contains(on(5, 1, 59))
    assert not hours.contains(on(5, 2))
    assert not hours.contains(on(4, 1))


def test_it_lets_a_sunday_night_shift_run_into_monday():
    hours = WeeklyHours.parse("sun 22:00-02:00")
    assert hours.contains(on(0, 1))
    assert hours.contains(on(6, 23))
    assert str(hours) == "sun 22:00-02:00"


def test_it_treats_empty_and_always_as_always_open():
    assert WeeklyHours.parse("").always
    assert WeeklyHours.parse("always").always
    assert WeeklyHours.parse("daily 00:00-24:00") == WeeklyHours.parse("always")
    assert WeeklyHours.parse("").contains(on(3, 3))
    assert not WeeklyHours.parse("mon 08:00-09:00").always


def test_it_merges_overlapping_periods():
    hours = WeeklyHours.parse("mon 10:00-12:00; mon 11:00-13:00, 13:00-14:00")
    assert hours == WeeklyHours.parse("mon 10:00-14:00")
    assert str(hours) == "mon 10:00-14:00"


def test_it_reads_norwegian_days_in_hours():
    assert WeeklyHours.parse("man-fre 08:00-16:00") == WeeklyHours.parse("mon-fri 08:00-16:00")


def test_it_treats_hours_without_days_as_daily():
    assert WeeklyHours.parse("08:00-16:00") == WeeklyHours.parse("daily 08:00-16:00")


@pytest.mark.parametrize(
    "text",
    [
        "mon-fri 15:00-23:00; sat,sun 10:00-22:00",
        "mon-fri 08:00-11:00, 12:00-16:00",
        "fri 22:00-02:00",
        "daily 22:00-06:00",
        "mon,wed-fri 09:00:30-10:00",
        "sat 00:00-24:00",
        "always",
        "never",
    ],
)
def test_it_writes_canonical_hours_unchanged(text):
    assert str(WeeklyHours.parse(text)) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mon 10:00-25:00", "25:00 is not a time of day (use HH:MM, 00:00-24:00)"),
        ("mon-xyz 10:00-12:00", "'xyz' is not a day (use mon, tue, wed, thu, fri, sat, sun)"),
        ("mon-fri", "'mon-fri' has no times"),
        ("mon 8-16", "'8' is not a time of day"),
        ("mon 10:00-10:00", "'10:00-10:00' is an empty period"),
        ("mon 10:00", "'10:00' is not a period"),
        ("mon 08:00-11:00 12:00-16:00", "is not a period"),
        ("mon 08:00-11:00,", "has an empty period"),
        (";", "gives no opening hours"),
    ],
)
def test_it_names_the_bad_part_of_hours(text, message):
    with pytest.raises(SpecError) as raised:
        WeeklyHours.parse(text)
    assert message in str(raised.value)


def test_it_finds_the_next_start_for_a_primary_who_works_evenings():
    hours = WeeklyHours.parse("mon-fri 15:00-23:00")
    assert hours.next_start(on(5, 23, 40)) == on(7, 15)
    assert hours.next_start(on(0, 16)) == on(0, 16)
    assert hours.next_start(on(4, 23)) == on(7, 15)


def test_it_finds_the_next_start_with_seconds_dropped_only_when_closed():
    hours = WeeklyHours.parse("mon 15:00-16:00")
    assert hours.next_start(on(0, 14).replace(second=5, microsecond=7)) == on(0, 15)
    open_now = on(0, 15).replace(microsecond=7)
    assert hours.next_start(open_now) == open_now


def test_it_has_no_next_start_when_never_open():
    assert WeeklyHours.parse("never").next_start(on(0, 0)) is None
    assert WeeklyHours([]).next_start(on(0, 0)) is None


def test_it_finds_when_the_current_stretch_ends():
    hours = WeeklyHours.parse("fri 22:00-02:00")
    assert hours.next_end(on(4, 23)) == on(5, 2)
    assert hours.next_end(on(3, 12)) == on(3, 12)
    assert WeeklyHours.parse("always").next_end(on(3, 12)) is None


def test_it_finds_the_end_of_a_stretch_across_the_week_boundary():
    hours = WeeklyHours.parse("sun 20:00-24:00; mon 00:00-03:00")
    assert hours.next_end(on(6, 21)) == on(7, 3)


def test_it_uses_only_the_wall_clock_of_aware_times():
    hours = WeeklyHours.parse("mon-fri 08:00-16:00")
    assert hours.contains(on(0, 9).replace(tzinfo=OSLO))
    assert not hours.contains(on(0, 17).replace(tzinfo=OSLO))


def test_it_compares_and_hashes_by_the_open_moments():
    a = WeeklyHours.parse("sat,sun 10:00-22:00")
    b = WeeklyHours.parse("lør 10:00-22:00; søn 10:00-22:00")
    assert a == b
    assert hash(a) == hash(b)
    assert a != WeeklyHours.parse("sat 10:00-22:00")
    assert a != "sat,sun 10:00-22:00"


def test_it_builds_hours_from_spans_that_run_past_the_week():
    hours = WeeklyHours([(6 * DAY + 22 * 3600, WEEK + 2 * 3600)])
    assert hours == WeeklyHours.parse("sun 22:00-02:00")
    assert WeeklyHours([(0, 2 * WEEK)]).always


minutes_of_day = st.integers(0, 24 * 60 - 1)


@st.composite
def hours_texts(draw):
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        days = draw(st.frozensets(st.integers(0, 6), min_size=1))
        periods = []
        for _ in range(draw(st.integers(1, 3))):
            start = draw(minutes_of_day)
            end = draw(minutes_of_day.filter(lambda m, start=start: m != start) | st.just(24 * 60))
            periods.append(f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}")
        parts.append(f"{format_days(days)} {', '.join(periods)}")
    return "; ".join(parts)


@given(hours_texts())
def test_it_reads_back_every_written_weekly_hours(text):
    hours = WeeklyHours.parse(text)
    assert WeeklyHours.parse(str(hours)) == hours


@given(st.lists(st.tuples(st.integers(0, 2 * WEEK), st.integers(0, 2 * DAY)), max_size=8))
def test_it_reads_back_hours_built_from_arbitrary_spans(spans):
    hours = WeeklyHours([(start, start + length) for start, length in spans])
    assert WeeklyHours.parse(str(hours)) == hours


@given(hours_texts(), st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_it_agrees_with_itself_about_starts_and_ends(text, moment):
    hours = WeeklyHours.parse(text)
    start = hours.next_start(moment)
    assert start is not None and start >= moment and hours.contains(start)
    if start > moment:
        assert not hours.contains(start - timedelta(seconds=1))
        assert not hours.contains(moment)
    end = hours.next_end(start)
    if end is not None:
        assert end > start and not hours.contains(end)
        assert hours.contains(end - timedelta(seconds=1))


@given(st.text())
def test_it_never_fails_on_arbitrary_hours_text_except_with_value_error(text):
    try:
        WeeklyHours.parse(text)
    except ValueError:
        pass


@given(st.text(alphabet="monfriatsuwedh0123456789:-,; ", max_size=40))
def test_it_never_fails_on_hours_like_text_except_with_value_error(text):
    try:
        hours = WeeklyHours.parse(text)
    except ValueError:
        return
    assert WeeklyHours.parse(str(hours)) == hours
