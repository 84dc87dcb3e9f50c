"""Every word reaches the worker's phone: past a burst, what follows is combined into one relay at most
every few seconds, each text with its time, in order; the youth is never told to wait."""

from __future__ import annotations

from sqlmodel import select

from bot.relay import BURST_LIMIT, COMBINE_EVERY, relay_combined
from models.contact_log import ContactLog
from models.conversations import Message
from tests.fakes import deliver
from tests.personas import PRIMARY_TG, SECONDARY_TG, YOUTH_TG, cast, tg, writes


def _messages(service) -> list[Message]:
    with service.tx() as session:
        return list(session.exec(select(Message).where(Message.direction == "in").order_by(Message.id)))


async def test_it_relays_every_word_of_a_burst_combining_what_follows_it(service, clock):
    cast(service)
    for i in range(25):
        writes(service, tg(YOUTH_TG, f"ord {i:02d}"))
        clock.advance(seconds=0.2)
    sent = await deliver(service)
    assert len(sent.to(PRIMARY_TG)) == BURST_LIMIT  # the burst itself, one by one
    assert relay_combined(service) == 0  # the rest waits a few seconds for what else comes
    clock.advance(seconds=COMBINE_EVERY.total_seconds())
    assert relay_combined(service) == 1
    sent = await deliver(service, sent)
    *alone, combined = sent.to(PRIMARY_TG)
    assert combined.text.startswith("20 meldinger fra Ola Berg:")
    lines = combined.text.split("\n")[1:]
    assert [line.split("] ", 1)[1] for line in lines] == [f"ord {i:02d}" for i in range(5, 25)]
    assert lines[0].startswith("[10:00:01]")  # each text with the time it was written
    assert combined.buttons[0][0].data == f"take:{_messages(service)[5].id}"
    assert sent.to(YOUTH_TG) == [] and sent.to(SECONDARY_TG) == []  # nobody is told to wait
    carriers = {m.carried_by for m in _messages(service)[5:]}
    assert carriers == {_messages(service)[5].id} and all(m.carried_by is None for m in _messages(service)[:5])
    with service.tx() as session:
        (entry,) = session.exec(select(ContactLog).where(ContactLog.party == "system")).all()
    assert entry.text.startswith(f"Videresending {_messages(service)[5].id} til Kari Nordmann bar 20 meldinger, "
                                 "skrevet 10:00:01, ")
    assert entry.message_id == _messages(service)[5].id


async def test_it_sends_a_combined_relay_at_most_every_few_seconds(service, clock):
    cast(service)
    for i in range(BURST_LIMIT):
        writes(service, tg(YOUTH_TG, f"først {i}"))
    for second in range(12):
        writes(service, tg(YOUTH_TG, f"sekund {second}"))
        relay_combined(service)
        clock.advance(seconds=1)
    relay_combined(service)
    clock.advance(seconds=5)
    relay_combined(service)
    sent = await deliver(service)
    relays = sent.to(PRIMARY_TG)[BURST_LIMIT:]
    assert 2 <= len(relays) <= 3  # 12 messages over 12 seconds: one relay per five seconds, not twelve
    assert sum(t.text.count("sekund ") for t in relays) == 12


async def test_it_escalates_a_combined_relay_with_all_it_carries(service, clock):
    from bot import staff

    cast(service)
    for i in range(BURST_LIMIT + 3):
        writes(service, tg(YOUTH_TG, f"hei {i}"))
    clock.advance(seconds=5)
    relay_combined(service)
    await deliver(service)
    clock.advance(minutes=16)
    staff.escalate_due(service)
    sent = await deliver(service)
    escalated = [o.text for o in sent.to(SECONDARY_TG) if "hei 5" in o.text]
    assert len(escalated) == 1 and "hei 6" in escalated[0] and "hei 7" in escalated[0]


async def test_it_counts_what_a_combined_relay_carried_when_another_worker_takes_it(service, clock):
    from bot import staff
    from models.people import Person

    c = cast(service)
    for i in range(BURST_LIMIT + 3):
        writes(service, tg(YOUTH_TG, f"hei {i}"))
    clock.advance(seconds=5)
    relay_combined(service)
    sent = await deliver(service)
    first = _messages(service)[0].id
    with service.tx() as session:
        staff.take_message(service, session, session.get(Person, c.secondary), first)
    sent = await deliver(service, sent)
    assert [o.text for o in sent.to(PRIMARY_TG) if "har tatt" in o.text] == ["Per har tatt 8 meldinger fra Ola Berg."]
