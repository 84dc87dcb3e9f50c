"""/start CODE: a person links their Telegram account with the code from their invite."""

from __future__ import annotations

from bot import linking, roster
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
