"""Every text in the person's own language: chosen at /start, with /sprak, or by their worker."""

from __future__ import annotations

import pytest

from bot import actions, language, linking, roster
from bot.i18n import Lang
from models.people import Person
from tests.fakes import deliver
from tests.personas import PRIMARY_TG, YOUTH_TG, cast, queued, tg, writes


def _evening(service, clock, c):
    """Both workers work 15-23 on weekdays; it is Monday 23:40, so the auto answer names Tuesday 15:00."""
    with service.tx() as session:
        roster.set_hours(session, worker_id=c.primary, spec="mon-fri 15:00-23:00")
        roster.set_hours(session, worker_id=c.secondary, spec="mon-fri 15:00-23:00")
    clock.advance(hours=13, minutes=40)


@pytest.mark.parametrize(("code", "expected"), [
    ("nb", "Kari svarer fra i morgen kl. 15:00"),
    ("nn", "i morgon kl. 15:00"),
    ("en", "tomorrow at 15:00"),
    ("uk", "завтра о 15:00"),
])
async def test_it_answers_after_hours_in_the_youths_language(service, clock, code, expected):
    c = cast(service, youth_language=code)
    _evening(service, clock, c)
    writes(service, tg(YOUTH_TG, "hei"))
    sent = await deliver(service)
    (auto,) = sent.to(YOUTH_TG)
    assert expected in auto.text and "113" in auto.text and "116 123" in auto.text


async def test_it_offers_the_phones_language_at_start(service):
    with service.tx() as session:
        kari = roster.add_worker(session, name="Kari", now=service.now(), secret_key=service.settings.secret_key)
        invited = roster.add_youth(session, name="Ola", primary=kari.person.id, now=service.now(),
                                   secret_key=service.settings.secret_key)
    inc = tg(777, f"/start {invited.code}", language_code="en-US")
    with service.tx() as session:
        linking.start(service, session, inc, invited.code)
    offer = queued(service, 777)[-1]
    assert [b[1] for b in offer["buttons"][0]] == ["lang:en", "lang:nb"]
    with service.tx() as session:
        ola = session.get(Person, invited.person.id)
        assert actions.perform(service, session, ola, "lang:en") == "I'll write in English now."
        assert ola.language == "en"


async def test_it_takes_norwegian_no_as_bokmal(service):
    from bot.i18n import normalize_language
    assert normalize_language("no") == "nb" and normalize_language("nb-NO") == "nb"
    assert normalize_language("xx") is None


async def test_it_shows_language_buttons_on_sprak(service):
    c = cast(service)
    with service.tx() as session:
        language.command(service, session, session.get(Person, c.youth), tg(YOUTH_TG, "/sprak"), "")
    (choice,) = queued(service, YOUTH_TG)
    labels = [b[0] for row in choice["buttons"] for b in row]
    assert "Українська" in labels and "English" in labels and "Norsk nynorsk" in labels


async def test_it_lets_the_primary_set_the_youths_language(service):
    c = cast(service)
    writes(service, tg(YOUTH_TG, "hei"))
    await deliver(service)
    link = queued(service, PRIMARY_TG)[0]["row"].external_id
    with service.tx() as session:
        language.command(service, session, session.get(Person, c.primary), tg(PRIMARY_TG, "/sprak uk",
                         reply_to=link), "uk")
    with service.tx() as session:
        assert session.get(Person, c.youth).language == "uk"
        assert actions.perform(service, session, session.get(Person, c.parent), f"setlang:{c.youth}:en") == "Denne knappen gjelder ikke lenger, eller ikke for deg."


def test_it_formats_local_times_per_language():
    from datetime import UTC, datetime
    at = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)  # 15:00 in Oslo
    assert Lang("en").time(at) == "15:00"
    assert Lang("uk").date(at) != Lang("nb").date(at)


def test_it_writes_a_day_and_a_time_as_babel_does_with_the_whole_pattern():
    """Lang.day_and_time formats the day once per day (an export's thousands of rows): the same text."""
    from datetime import UTC, datetime, timedelta

    from bot.i18n import Lang

    moments = [datetime(2026, 3, 29, 0, 30, tzinfo=UTC) + timedelta(hours=7 * n, minutes=13 * n) for n in range(40)]
    for code in ("nb", "nn", "en", "uk", "ar", "so", "pl"):
        L = Lang(code, "Europe/Oslo")
        for at in moments:  # across the change to summer time, twice per day and hour
            assert L.day_and_time(at, "EEE d. MMM y", " kl. ", "HH.mm") == L.datetime(at, "EEE d. MMM y 'kl.' HH.mm")
            assert L.day_and_time(at, "EEE d. MMM y", ", ", "HH:mm") == L.datetime(at, "EEE d. MMM y, HH:mm")
