from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.office_hours import is_after_hours, is_public_holiday, public_holiday_name
from bot.timespec import WeeklyHours

OSLO = ZoneInfo("Europe/Oslo")
OFFICE = WeeklyHours.parse("mon-fri 08:00-16:00")


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2025, 5, 17), "Grunnlovsdag"),
        (date(2025, 12, 25), "Første juledag"),
        (date(2025, 1, 1), "Første nyttårsdag"),
        (date(2025, 4, 18), "Langfredag"),
        (date(2025, 4, 20), "Første påskedag"),
        (date(2030, 5, 17), "Grunnlovsdag"),
    ],
)
def test_it_knows_norwegian_public_holidays_by_norwegian_name(day, name):
    assert is_public_holiday(day)
    assert public_holiday_name(day) == name


def test_it_does_not_count_an_ordinary_sunday_as_a_public_holiday():
    sunday = date(2025, 6, 1)
    assert sunday.weekday() == 6
    assert not is_public_holiday(sunday)
    assert public_holiday_name(sunday) is None


def test_it_does_not_count_an_ordinary_weekday_as_a_public_holiday():
    assert not is_public_holiday(date(2025, 6, 3))


def test_it_accepts_a_datetime_for_a_date():
    assert is_public_holiday(datetime(2025, 5, 17, 12, tzinfo=OSLO))


def test_it_is_not_after_hours_on_an_ordinary_weekday_in_office_hours():
    assert not is_after_hours(datetime(2025, 6, 3, 10, tzinfo=OSLO), OFFICE, OSLO)


def test_it_is_after_hours_in_the_evening():
    assert is_after_hours(datetime(2025, 6, 3, 16, tzinfo=OSLO), OFFICE, OSLO)


def test_it_is_after_hours_on_an_ordinary_sunday():
    assert is_after_hours(datetime(2025, 6, 1, 10, tzinfo=OSLO), OFFICE, OSLO)


def test_it_is_after_hours_on_a_weekday_public_holiday():
    # 17 May 2024 is a Friday.
    assert is_after_hours(datetime(2024, 5, 17, 10, tzinfo=OSLO), OFFICE, OSLO)


def test_it_is_after_hours_on_an_extra_closed_day():
    closed = {date(2025, 6, 4)}
    assert is_after_hours(datetime(2025, 6, 4, 10, tzinfo=OSLO), OFFICE, OSLO, closed)
    assert not is_after_hours(datetime(2025, 6, 5, 10, tzinfo=OSLO), OFFICE, OSLO, closed)


def test_it_uses_the_oslo_wall_clock_for_a_utc_moment():
    utc = ZoneInfo("UTC")
    # 07:30 UTC is 09:30 in Oslo in summer, and 15:30 UTC is 17:30.
    assert not is_after_hours(datetime(2025, 6, 3, 7, 30, tzinfo=utc), OFFICE, OSLO)
    assert is_after_hours(datetime(2025, 6, 3, 15, 30, tzinfo=utc), OFFICE, OSLO)


def test_it_uses_the_oslo_date_for_holidays_near_midnight():
    always = WeeklyHours.parse("always")
    # 23:30 UTC on 16 May is already 17 May in Oslo.
    assert is_after_hours(datetime(2025, 5, 16, 23, 30, tzinfo=ZoneInfo("UTC")), always, OSLO)


def test_it_refuses_naive_datetimes():
    with pytest.raises(ValueError):
        is_after_hours(datetime(2025, 6, 3, 10), OFFICE, OSLO)
