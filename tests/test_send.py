"""One value says what a send is (`outbox.Send`); the keyword form `outbox.queue` makes one and queues it."""

from __future__ import annotations

from bot.out import outbox
from bot.out.transports.base import Button
from models.db import transaction


def test_it_queues_a_send_exactly_as_the_keyword_form_does(service):
    send = outbox.Send(key="k1", channel="telegram", address="42", text="Hei", person_id=None,
                       buttons=((Button("Jeg tar den", "take:1"),),), reply_to="7")
    with transaction(service.engine) as session:
        a = outbox.queue_send(session, send, service.now())
        b = outbox.queue(session, key="k2", channel="telegram", address="42", text="Hei",
                         buttons=((Button("Jeg tar den", "take:1"),),), reply_to="7", now=service.now())
        again = outbox.queue_send(session, send, service.now())
        assert (a.channel, a.address, a.payload) == (b.channel, b.address, b.payload)
        assert again is None  # the key is the send's identity: queued once
