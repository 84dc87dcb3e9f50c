"""/start CODE: a person links their Telegram account with the code from their invite."""

from __future__ import annotations

from sqlmodel import select

from bot import linking, roster
from models.auth import LoginAttempt
from models.people import Person
from tests.fakes import deliver
from tests.personas import tg


def _invite(service, **kw):
    with service.tx() as session:
        kari = roster.add_worker(session, name="Kari Nordmann", now=service.now(),
                                 secret_key=service.settings.secret_key).person
        invited = roster.add_youth(session, name="Ola Berg", primary=kari.id, now=service.now(),
                                   secret_key=service.settings.secret_key, **kw)
        return invited.person.id, invited.code


def _start(service, user_id, code, language_code="nb"):
    inc = tg(user_id, f"/start {code}", language_code=language_code)
    with service.tx() as session:
        linking.start(service, session, inc, code)


async def test_it_links_a_youth_and_greets_her_in_her_language(service):
    youth_id, code = _invite(service, language="en")
    _start(service, 777, code.lower())
    sent = await deliver(service)
    with service.tx() as session:
        assert session.get(Person, youth_id).telegram_user_id == 777
    assert "Ola" in sent.to(777)[0].text


async def test_it_refuses_a_wrong_code_and_links_nothing(service):
    youth_id, _ = _invite(service)
    _start(service, 777, "WRONG123")
    sent = await deliver(service)
    with service.tx() as session:
        assert session.get(Person, youth_id).telegram_user_id is None
    assert "kode" in sent.to(777)[0].text.lower()


async def test_it_refuses_a_code_that_is_already_used(service):
    youth_id, code = _invite(service)
    _start(service, 777, code)
    _start(service, 888, code)
    sent = await deliver(service)
    with service.tx() as session:
        assert session.get(Person, youth_id).telegram_user_id == 777
    assert "allerede brukt" in sent.to(888)[0].text


async def test_it_greets_again_when_the_same_person_repeats_the_code(service):
    youth_id, code = _invite(service)
    _start(service, 777, code)
    _start(service, 777, code)
    sent = await deliver(service)
    assert len(sent.to(777)) == 2 and all("Ola" in o.text for o in sent.to(777))


async def test_it_refuses_even_the_right_code_after_five_wrong_ones_within_an_hour(service):
    youth_id, code = _invite(service)
    for wrong in ("WRONG123", "WRONG234", "WRONG345", "WRONG456", "WRONG567"):
        service.clock.advance(minutes=5)
        _start(service, 777, wrong)
    _start(service, 777, code)
    sent = await deliver(service)
    with service.tx() as session:
        assert session.get(Person, youth_id).telegram_user_id is None
        assert session.get(Person, youth_id).invite_used_at is None
    replies = [o.text for o in sent.to(777)]
    assert len(replies) == 6 and all("kjenner jeg ikke igjen" in text for text in replies[:5])
    assert replies[5] == "For mange forsøk med feil kode. Prøv igjen om en time."


async def test_it_counts_wrong_codes_per_telegram_account(service):
    youth_id, code = _invite(service)
    for _ in range(5):
        _start(service, 777, "WRONG123")
    _start(service, 888, code)
    sent = await deliver(service)
    with service.tx() as session:
        assert session.get(Person, youth_id).telegram_user_id == 888
    assert "Ola" in sent.to(888)[0].text


async def test_it_counts_a_used_code_as_a_wrong_one(service):
    youth_id, code = _invite(service)
    other_id, other_code = _invite(service)
    _start(service, 888, code)
    for _ in range(5):
        _start(service, 777, code)
    _start(service, 777, other_code)
    sent = await deliver(service)
    with service.tx() as session:
        assert session.get(Person, other_id).telegram_user_id is None
    assert "For mange forsøk" in sent.to(777)[-1].text


async def test_it_lets_the_account_try_again_an_hour_after_its_last_wrong_code(service):
    youth_id, code = _invite(service)
    for _ in range(5):
        _start(service, 777, "WRONG123")
    service.clock.advance(minutes=59)
    _start(service, 777, code)  # still refused, and that refusal does not count
    service.clock.advance(minutes=1)
    _start(service, 777, code)
    sent = await deliver(service)
    with service.tx() as session:
        assert session.get(Person, youth_id).telegram_user_id == 777
    replies = [o.text for o in sent.to(777)]
    assert "For mange forsøk" in replies[5] and "Ola" in replies[6]


async def test_it_keeps_the_count_in_the_database_without_the_account_or_the_codes(service):
    _invite(service)
    for _ in range(5):
        _start(service, 777, "WRONG123")
    with service.tx() as session:
        rows = session.exec(select(LoginAttempt)).all()
    # A restart forgets nothing: the count is in the database, the account only as a keyed hash.
    assert len(rows) == 5 and len({row.email for row in rows}) == 1
    assert rows[0].email.startswith("Telegram /start ") and len(rows[0].email.split()[-1]) == 32
    assert "WRONG" not in rows[0].email and rows[0].email.split()[-1] != "777"
    _start(service, 777, "WRONG123")
    sent = await deliver(service)
    assert "For mange forsøk" in sent.to(777)[-1].text


async def test_it_refuses_in_the_senders_language(service):
    _invite(service)
    for _ in range(6):
        _start(service, 777, "WRONG123", language_code="en")
    sent = await deliver(service)
    assert sent.to(777)[-1].text == "Too many tries with a wrong code. Try again in an hour."
