"""A shared phone number is normal: Lise is the mother of Ola (worker Kari) and of Emma (worker Nina), with
one phone. Her SMS goes to the conversation her number last had a message in within a day; otherwise she is
asked which child it is about, and it is relayed once she answers. Never to one worker on a guess."""

from __future__ import annotations

import itertools
from datetime import timedelta

from bot import roster
from bot.calls import Ring, dial_result, incoming_call, whisper
from bot.events import Incoming
from bot.sms import receive_sms
from models.people import Person, by_phone
from tests.personas import PRIMARY_TG, cast, texts_to

LISE_PHONE = "+4792222222"
NINA_TG = 5003
PER_PHONE, NINA_PHONE = "+4791111111", "+4793333333"
_sids = itertools.count(1)


def _family(service) -> None:
    """Ola's cast, and Emma with her own worker Nina; Lise is the parent of both, on one number."""
    cast(service)
    kw = {"now": service.now(), "secret_key": service.settings.secret_key}
    with service.tx() as session:
        nina = roster.add_worker(session, name="Nina Dahl", phone=NINA_PHONE, **kw).person
        nina.telegram_user_id = nina.telegram_chat_id = NINA_TG
        emma = roster.add_youth(session, name="Emma Berg", primary=nina.id, **kw).person
        roster.add_parent(session, youth=emma.id, name="Lise Berg", phone=LISE_PHONE, **kw)


def _sms(service, text: str) -> None:
    inc = Incoming(source_key=f"sms:SM{next(_sids):032d}", channel="sms", address=LISE_PHONE, text=text)
    with service.tx() as session:
        receive_sms(service, session, inc)


def _relayed(service, address, text: str) -> bool:
    return any(text in t for t in texts_to(service, address))


def test_it_lets_a_mother_of_two_be_added_with_one_number(service):
    _family(service)

    with service.tx() as session:
        assert [p.youth_id is not None for p in by_phone(session, phone=LISE_PHONE)] == [True, True]


def test_it_asks_lise_which_child_and_relays_to_nina_once_she_answers(service):
    _family(service)

    _sms(service, "Emma er syk i dag")

    assert texts_to(service, LISE_PHONE) == ["Gjelder det Ola eller Emma? Svar 1 eller 2."]
    assert not _relayed(service, PRIMARY_TG, "Emma er syk") and not _relayed(service, NINA_TG, "Emma er syk")

    _sms(service, "2")

    assert _relayed(service, NINA_TG, "Emma er syk i dag")
    assert not _relayed(service, PRIMARY_TG, "Emma er syk")
    assert not _relayed(service, NINA_TG, "\n2")


def test_it_holds_every_message_written_before_the_answer(service):
    _family(service)

    _sms(service, "Emma er syk i dag")
    _sms(service, "Hun kommer i morgen")
    _sms(service, "1.")

    assert _relayed(service, PRIMARY_TG, "Emma er syk i dag") and _relayed(service, PRIMARY_TG, "Hun kommer i morgen")
    assert len(texts_to(service, LISE_PHONE)) == 1  # asked once


def test_it_sends_to_the_conversation_the_number_last_had_within_a_day(service, clock):
    _family(service)
    _sms(service, "Emma er syk i dag")
    _sms(service, "2")

    _sms(service, "Hun er bedre nå")
    assert _relayed(service, NINA_TG, "Hun er bedre nå")
    assert len(texts_to(service, LISE_PHONE)) == 1  # not asked again

    clock.advance(timedelta(days=1, minutes=1))
    _sms(service, "Ola har mistet bussen")
    assert not _relayed(service, NINA_TG, "Ola har mistet bussen")
    assert texts_to(service, LISE_PHONE)[-1] == "Gjelder det Ola eller Emma? Svar 1 eller 2."


def test_it_relays_an_acute_message_to_both_workers_at_once(service):
    _family(service)

    _sms(service, "Han snakker om selvmord")

    assert _relayed(service, PRIMARY_TG, "selvmord") and _relayed(service, NINA_TG, "selvmord")


def _call(service, sid: str):
    with service.tx() as session:
        return incoming_call(service, session, sid=sid, caller=LISE_PHONE)


def _whisper(service, ring: Ring) -> str:
    with service.tx() as session:
        return whisper(service, session, call_id=ring.call_id, step=ring.step).text


def test_it_rings_the_workers_of_both_children_when_a_call_could_be_about_either(service):
    _family(service)

    first = _call(service, "CA" + "1" * 32)
    assert first.phone == PER_PHONE and "forelder til Ola" in _whisper(service, first)
    with service.tx() as session:
        second = dial_result(service, session, call_id=first.call_id, step=0, status="no-answer", duration=None)

    assert isinstance(second, Ring) and second.phone == NINA_PHONE
    assert "forelder til Emma" in _whisper(service, second)


def test_it_rings_only_emmas_worker_when_the_number_last_wrote_about_emma(service):
    _family(service)
    _sms(service, "Emma er syk i dag")
    _sms(service, "2")

    ring = _call(service, "CA" + "2" * 32)

    assert ring.phone == NINA_PHONE
    with service.tx() as session:
        after = dial_result(service, session, call_id=ring.call_id, step=0, status="no-answer", duration=None)
    assert not isinstance(after, Ring)  # nobody of Ola's is rung


def test_it_does_not_ask_ola_on_his_mothers_phone_which_youth_it_is(service):
    people = cast(service)
    with service.tx() as session:
        ola = session.get(Person, people.youth)
        ola.phone, ola.telegram_user_id, ola.telegram_chat_id = LISE_PHONE, None, None

    _sms(service, "Jeg er syk i dag")

    assert texts_to(service, LISE_PHONE) == []
    assert _relayed(service, PRIMARY_TG, "Jeg er syk i dag")


def test_it_sends_what_lise_wrote_to_both_workers_when_she_never_says_which_child(service, clock):
    from bot.shared_phone import HOLD_AT_MOST, release_unanswered

    _family(service)
    _sms(service, "Kan dere ringe meg i kveld?")
    clock.advance(HOLD_AT_MOST - timedelta(seconds=1))
    assert release_unanswered(service) == 0 and not _relayed(service, PRIMARY_TG, "ringe meg")

    clock.advance(timedelta(seconds=1))
    assert release_unanswered(service) == 1
    assert _relayed(service, PRIMARY_TG, "Kan dere ringe meg i kveld?")  # Ola's worker
    assert _relayed(service, NINA_TG, "Kan dere ringe meg i kveld?")  # Emma's worker
    assert release_unanswered(service) == 0, "released once"
    _sms(service, "1")  # a late answer is an ordinary message now, nothing is sent twice
    assert sum("ringe meg" in t for t in texts_to(service, PRIMARY_TG)) == 1
