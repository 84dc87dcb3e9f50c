"""When a send cannot get through: retried, switched to another channel, and the worker told."""

from __future__ import annotations

from datetime import timedelta

from bot.delivery import delivery_status, undeliverable
from bot.out.outbox import Sender
from bot.out.transports.base import TransportError
from models.outbox import Outbox
from models.people import Person
from tests.fakes import RecordingTransport, deliver
from tests.personas import PRIMARY_TG, YOUTH_TG, cast, queued, tg, writes

OLA_PHONE = "+4741234567"


def _answer_to_ola_by_sms(service, c):
    with service.tx() as session:
        ola = session.get(Person, c.youth)
        ola.phone, ola.last_channel = OLA_PHONE, "sms"


async def test_it_retries_a_passing_error_and_keeps_the_message(service, clock):
    cast(service)
    transport = RecordingTransport()
    transport.failures = [TransportError("telegram: TimedOut"), TransportError("flood", retry_after=3)]
    writes(service, tg(YOUTH_TG, "hei"))
    sender = Sender(service, {"telegram": transport})
    await sender.run_once()
    assert transport.to(PRIMARY_TG) == [] and sender.retried == 1
    clock.advance(seconds=5)
    await sender.run_once()
    clock.advance(seconds=4)
    await sender.run_once()
    assert len(transport.to(PRIMARY_TG)) == 1 and sender.failed == 0


async def test_it_stops_on_a_permanent_error_and_tells_the_worker(service):
    c = cast(service)
    _answer_to_ola_by_sms(service, c)
    writes(service, tg(YOUTH_TG, "hei"))  # Ola now last used Telegram
    sent = await deliver(service)
    link = queued(service, PRIMARY_TG)[0]["row"].external_id
    transport = RecordingTransport()
    transport.failures = [TransportError("blocked", permanent=True)]
    writes(service, tg(PRIMARY_TG, "svar", reply_to=link))
    sender = Sender(service, {"telegram": transport, "sms": transport}, on_permanent=undeliverable)
    while await sender.run_once():
        pass
    assert [o.text for o in transport.to(OLA_PHONE)] == ["Kari: svar"]  # switched to SMS
    assert any("kom ikke fram" in o.text for o in transport.to(PRIMARY_TG))
    assert sent


async def test_it_redelivers_an_sms_after_a_passing_delivery_failure(service, clock):
    c = cast(service)
    _answer_to_ola_by_sms(service, c)
    with service.tx() as session:
        session.get(Person, c.youth).telegram_chat_id = None
    link_row = None
    writes(service, tg(PRIMARY_TG, "/noop"))
    sent = await deliver(service)
    with service.tx() as session:
        from bot.out.outbox import send_text
        ola = session.get(Person, c.youth)
        link_row = send_text(session, key="test:sms", person=ola, text="vekking", now=clock())
    sent = await deliver(service, sent)
    with service.tx() as session:
        row = session.get(Outbox, link_row.id)
        delivery_status(service, session, sid=row.external_id, status="undelivered", error_code="30003")
    sent = await deliver(service, sent)
    assert len(sent.to(OLA_PHONE)) == 1
    clock.advance(timedelta(minutes=6))
    sent = await deliver(service, sent)
    assert [o.text for o in sent.to(OLA_PHONE)] == ["vekking", "vekking"]
