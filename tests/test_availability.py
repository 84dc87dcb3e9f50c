from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.availability import Absence, is_available, next_available
from bot.timespec import WeeklyHours, format_days

OSLO = ZoneInfo("Europe/Oslo")
EVENINGS = WeeklyHours.parse("mon-fri 15:00-23:00")
ALWAYS = WeeklyHours.parse("always")


def oslo(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=OSLO, fold=fold)


def find(
    at: datetime, hours: WeeklyHours = EVENINGS, absences=(), off: bool = False, **kwargs
) -> datetime | None:
    return next_available(at, hours=hours, absences=list(absences), off=off, tz=OSLO, **kwargs)


def available(at: datetime, hours: WeeklyHours = EVENINGS, absences=(), off: bool = False) -> bool:
    return is_available(at, hours=hours, absences=list(absences), off=off, tz=OSLO)


def test_it_finds_a_primary_who_works_evenings_available_in_the_evening():
    assert available(oslo(2025, 6, 3, 18))
    assert not available(oslo(2025, 6, 3, 12))
    assert not available(oslo(2025, 6, 7, 18))


def test_it_finds_nobody_available_who_is_switched_off():
    assert not available(oslo(2025, 6, 3, 18), off=True)
    assert find(oslo(2025, 6, 3, 18), off=True) is None


def test_it_finds_nobody_available_during_an_absence():
    absence = Absence(oslo(2025, 6, 3, 17), oslo(2025, 6, 3, 19))
    assert available(oslo(2025, 6, 3, 16, 59), absences=[absence])
    assert not available(oslo(2025, 6, 3, 17), absences=[absence])
    assert available(oslo(2025, 6, 3, 19), absences=[absence])


def test_it_finds_a_primary_who_works_weekday_evenings_available_monday_15_when_asked_saturday_23_40():
    result = find(oslo(2025, 6, 7, 23, 40))
    assert result == oslo(2025, 6, 9, 15)
    assert result.tzinfo is OSLO


def test_it_answers_now_when_available_now():
    at = oslo(2025, 6, 3, 18, 12, 5)
    assert find(at) == at


def test_it_answers_in_the_given_timezone_for_a_utc_question():
    result = find(datetime(2025, 6, 3, 10, tzinfo=UTC))
    assert result == oslo(2025, 6, 3, 15)
    assert result.utcoffset() == timedelta(hours=2)


def test_it_finds_the_end_of_an_absence_that_ends_inside_working_hours():
    absence = Absence(oslo(2025, 6, 2, 9), oslo(2025, 6, 4, 17, 30))
    assert find(oslo(2025, 6, 2, 16), absences=[absence]) == oslo(2025, 6, 4, 17, 30)


def test_it_finds_the_next_shift_after_an_absence_that_ends_outside_working_hours():
    absence = Absence(oslo(2025, 6, 2, 9), oslo(2025, 6, 4, 23, 30))
    assert find(oslo(2025, 6, 2, 16), absences=[absence]) == oslo(2025, 6, 5, 15)


def test_it_skips_a_shift_that_starts_inside_an_absence():
    absence = Absence(oslo(2025, 6, 3, 14), oslo(2025, 6, 3, 16))
    assert find(oslo(2025, 6, 3, 12), absences=[absence]) == oslo(2025, 6, 3, 16)


def test_it_follows_overlapping_and_back_to_back_absences():
    absences = [
        Absence(oslo(2025, 6, 3, 14), oslo(2025, 6, 3, 16)),
        Absence(oslo(2025, 6, 3, 15), oslo(2025, 6, 3, 18)),
        Absence(oslo(2025, 6, 3, 18), oslo(2025, 6, 3, 19)),
    ]
    assert find(oslo(2025, 6, 3, 12), absences=absences) == oslo(2025, 6, 3, 19)


def test_it_finds_a_night_worker_available_after_midnight():
    nights = WeeklyHours.parse("fri 22:00-02:00")
    assert available(oslo(2025, 6, 7, 1, 30), hours=nights)
    assert find(oslo(2025, 6, 7, 1, 30), hours=nights) == oslo(2025, 6, 7, 1, 30)
    assert find(oslo(2025, 6, 7, 2), hours=nights) == oslo(2025, 6, 13, 22)


def test_it_finds_a_night_worker_back_from_an_absence_in_the_middle_of_the_night():
    nights = WeeklyHours.parse("fri 22:00-02:00")
    absence = Absence(oslo(2025, 6, 6, 12), oslo(2025, 6, 7, 0, 45))
    assert find(oslo(2025, 6, 6, 12), hours=nights, absences=[absence]) == oslo(2025, 6, 7, 0, 45)


def test_it_gives_up_after_the_horizon():
    absence = Absence(oslo(2025, 6, 1), oslo(2025, 9, 1))
    assert find(oslo(2025, 6, 2), absences=[absence]) is None
    assert find(oslo(2025, 6, 2), absences=[absence], horizon=timedelta(days=120)) == oslo(2025, 9, 1, 15)


def test_it_finds_nobody_whose_hours_are_never():
    assert find(oslo(2025, 6, 2), hours=WeeklyHours.parse("never")) is None


def test_it_opens_a_shift_that_starts_in_the_spring_forward_gap_when_clocks_reach_it():
    # Oslo clocks jump from 02:00 to 03:00 on Sunday 30 March 2025.
    hours = WeeklyHours.parse("sun 02:30-04:00")
    result = find(oslo(2025, 3, 30, 1), hours=hours)
    assert result == oslo(2025, 3, 30, 3)
    assert result.utcoffset() == timedelta(hours=2)


def test_it_skips_a_shift_that_lies_wholly_in_the_spring_forward_gap():
    hours = WeeklyHours.parse("sun 02:00-02:45")
    assert find(oslo(2025, 3, 30, 1), hours=hours) == oslo(2025, 4, 6, 2)


def test_it_finds_a_shift_in_the_repeated_hour_when_clocks_fall_back():
    # Oslo clocks go back from 03:00 to 02:00 on Sunday 26 October 2025, so 02:00-02:59 happens twice.
    hours = WeeklyHours.parse("sun 02:00-02:40")
    first_pass = oslo(2025, 10, 26, 2, 45, fold=0)
    assert first_pass.utcoffset() == timedelta(hours=2)
    result = find(first_pass, hours=hours)
    # An instant in the repeated hour never compares equal to another zone's (PEP 495), so compare in UTC.
    assert result.astimezone(UTC) == datetime(2025, 10, 26, 1, tzinfo=UTC)
    assert (result.hour, result.minute, result.fold) == (2, 0, 1)
    assert result.utcoffset() == timedelta(hours=1)


def test_it_keeps_elapsed_time_straight_across_a_dst_change():
    result = find(oslo(2025, 10, 24, 23, 30))
    assert result == oslo(2025, 10, 27, 15)
    assert result.utcoffset() == timedelta(hours=1)


def test_it_refuses_naive_datetimes():
    with pytest.raises(ValueError):
        find(datetime(2025, 6, 3, 18))
    with pytest.raises(ValueError):
        available(datetime(2025, 6, 3, 18))
    with pytest.raises(ValueError):
        Absence(datetime(2025, 6, 3), oslo(2025, 6, 4))


def test_it_refuses_an_absence_that_ends_before_it_starts():
    with pytest.raises(ValueError):
        Absence(oslo(2025, 6, 4), oslo(2025, 6, 3))


minutes_of_day = st.integers(0, 24 * 60 - 1)


@st.composite
def weekly_hours(draw):
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        days = draw(st.frozensets(st.integers(0, 6), min_size=1))
        start = draw(minutes_of_day)
        end = draw(minutes_of_day.filter(lambda m, start=start: m != start))
        parts.append(f"{format_days(days)} {start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}")
    return WeeklyHours.parse("; ".join(parts))


dst_changes = [datetime(2025, 3, 30, 1, tzinfo=UTC), datetime(2025, 10, 26, 1, tzinfo=UTC)]
moments = st.one_of(
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 1, 1)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
    st.builds(
        lambda change, seconds: change + timedelta(seconds=seconds),
        st.sampled_from(dst_changes),
        st.integers(-8 * 86_400, 2 * 86_400),
    ),
)


@st.composite
def absences_near(draw, at):
    result = []
    for _ in range(draw(st.integers(0, 4))):
        start = at + timedelta(seconds=draw(st.integers(-3 * 86_400, 10 * 86_400)))
        result.append(Absence(start, start + timedelta(seconds=draw(st.integers(0, 5 * 86_400)))))
    return result


@given(weekly_hours(), moments, st.data(), st.randoms(use_true_random=False))
def test_it_finds_the_earliest_available_moment(hours, at, data, random):
    absences = data.draw(absences_near(at))
    result = next_available(at, hours=hours, absences=absences, off=False, tz=OSLO)
    assert result is not None
    assert result.tzinfo is OSLO
    assert at <= result <= at + timedelta(days=60)
    assert is_available(result, hours=hours, absences=absences, off=False, tz=OSLO)
    if result > at:
        # Step back in UTC: arithmetic on an Oslo wall-clock time drops the fold of the repeated hour.
        just_before = result.astimezone(UTC) - timedelta(seconds=1)
        assert not is_available(just_before, hours=hours, absences=absences, off=False, tz=OSLO)
    steps = int((result - at) / timedelta(minutes=1))
    sample = range(steps) if steps <= 2000 else sorted(random.sample(range(steps), 2000))
    for step in sample:
        moment = at + timedelta(minutes=step)
        assert not is_available(moment, hours=hours, absences=absences, off=False, tz=OSLO), moment
