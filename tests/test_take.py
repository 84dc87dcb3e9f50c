"""Taking a message: only the youth's own workers may, and the other worker hears it once, saying which."""

from __future__ import annotations

import logging

from bot import roster, staff
from models.conversations import Message
from models.people import Person
from tests.fakes import deliver
from tests.personas import PRIMARY_TG, SECONDARY_TG, YOUTH_TG, cast, queued, tg, writes


def _other_worker(service) -> int:
    with service.tx() as session:
        eva = roster.add_worker(session, name="Eva Lund", now=service.now(),
                                secret_key=service.settings.secret_key).person
        eva.telegram_user_id = eva.telegram_chat_id = 5003
        return eva.id


def _take(service, worker_id: int, message_id: int) -> str:
    with service.tx() as session:
        return staff.take_message(service, session, session.get(Person, worker_id), message_id)


async def test_it_refuses_a_forged_take_from_a_worker_who_is_not_the_youths_and_logs_it(service, caplog):
    cast(service)
    eva = _other_worker(service)
    writes(service, tg(YOUTH_TG, "hei"))
    await deliver(service)
    msg_id = int(queued(service, PRIMARY_TG)[0]["buttons"][0][0][1].split(":")[1])
    with caplog.at_level(logging.WARNING, logger="bot.staff"):
        answer = _take(service, eva, msg_id)  # Eva forged "take:<id>" for a youth who is not hers
    assert answer == "Du er ikke kontaktperson for denne ungdommen."
    with service.tx() as session:
        assert session.get(Message, msg_id).answered_by is None
    assert any("take refused" in r.getMessage() for r in caplog.records)
    assert "hei" not in caplog.text


async def test_it_tells_the_other_worker_once_which_messages_were_taken(service, clock):
    c = cast(service)
    for i in range(9):
        writes(service, tg(YOUTH_TG, f"melding {i}"))
        clock.advance(seconds=20)  # not a burst: each is relayed on its own
    sent = await deliver(service)
    clock.advance(minutes=16)
    staff.escalate_due(service)  # all nine go to Per as well
    sent = await deliver(service, sent)
    assert sum("melding" in (o.text or "") for o in sent.to(SECONDARY_TG)) == 9
    first = int(queued(service, SECONDARY_TG)[0]["buttons"][0][0][1].split(":")[1])
    assert _take(service, c.primary, first) == "Du har tatt denne."
    sent = await deliver(service, sent)
    notes = [o for o in sent.to(SECONDARY_TG) if "har tatt" in (o.text or "")]
    assert [o.text for o in notes] == ["Kari har tatt 9 meldinger fra Ola Berg."]
    assert notes[0].reply_to is not None  # on Per's copy of the last of them
