"""The lookup before a Twilio retry, against a Twilio that misbehaves like the emulators seen in the wild:
lists that ignore their filters, records without dates, a list endpoint that keeps failing, an answer that
cannot be read, and delivery reports about another number. Siri (a youth) has a wake-up call; Ola gets SMS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.holder import _machine
from bot.out.outbox import LEASE, Sender, queue
from bot.out.transports.base import Outgoing
from bot.out.transports.twilio import SmsTransport, VoiceTransport, make_client
from handlers.twilio.webhooks import status_dispatcher
from models import outbox as store
from models.outbox import PENDING, SENT, Outbox
from standins.server import BackgroundServer
from standins.twilio import TwilioStandIn
from tests.conftest import make_settings
from tests.fakes import RecordingTransport

SERVICE_NUMBER = "+4790000000"
OLA_PHONE, SIRI_PHONE, OTHER_PHONE = "+4741234567", "+4745678901", "+4747777777"
DEAD = f"{_machine()}:999999999:dead"  # a sender on this machine whose process is gone


def _queue(service, key: str, channel: str, address: str, text: str) -> int:
    with service.tx() as session:
        return queue(session, key=key, channel=channel, address=address, text=text, now=service.now()).id


def _claimed_by(service, holder: str, *, tried: bool = False) -> None:
    """What a sender that then died left behind: its rows claimed (and, with `tried`, a request made)."""
    with service.tx() as session:
        for row in store.claim(session, now=service.now(), lease=LEASE, holder=holder, limit=100):
            if tried:
                row.tried_at = datetime.now(UTC)


def _row(service, row_id: int) -> Outbox:
    with service.tx() as session:
        row = session.get(Outbox, row_id)
        session.expunge(row)
        return row


@pytest.fixture
def twilio():
    standin = TwilioStandIn(numbers=(SERVICE_NUMBER,))
    with BackgroundServer(standin.app) as server:
        yield standin, server.url


@pytest.fixture
def transports(twilio, database_url):
    standin, url = twilio
    settings = make_settings(database_url, twilio_account_sid=standin.account_sid,
                             twilio_auth_token=standin.auth_token, twilio_number=SERVICE_NUMBER,
                             twilio_api_url=url, public_url="https://tettpa.example")
    client = make_client(settings)
    return {"sms": SmsTransport(client, settings), "call": VoiceTransport(client, settings),
            "telegram": RecordingTransport()}


async def test_it_places_a_wakeup_call_when_the_list_shows_only_a_failed_call_to_another_number(
        service, transports, twilio):
    standin, _ = twilio
    other = await transports["call"].send(Outgoing(channel="call", address=OTHER_PHONE, text="Hei"))
    standin.set_status("Calls", other.external_id, "failed")
    standin.misbehave(ignore_filters=True)
    row_id = _queue(service, "wake:7:2026-11-23", "call", SIRI_PHONE, "God morgen, Siri")
    _claimed_by(service, DEAD, tried=True)

    await Sender(service, transports).run_once()

    assert [c["to"] for c in standin.calls] == [OTHER_PHONE, SIRI_PHONE]
    assert _row(service, row_id).external_id != other.external_id


async def test_it_does_not_take_a_failed_call_to_the_same_number_as_proof(service, transports, twilio):
    standin, _ = twilio
    row_id = _queue(service, "wake:7:2026-11-24", "call", SIRI_PHONE, "God morgen, Siri")
    _claimed_by(service, DEAD, tried=True)
    failed = await transports["call"].send(Outgoing(channel="call", address=SIRI_PHONE, text="God morgen, Siri"))
    standin.set_status("Calls", failed.external_id, "failed")

    await Sender(service, transports).run_once()

    assert len(standin.calls) == 2
    assert _row(service, row_id).external_id != failed.external_id


async def test_it_does_not_count_an_sms_without_a_date_as_recent(service, transports, twilio):
    standin, _ = twilio
    # An identical reminder sent earlier by hand: with no date, nothing says it was the lost send.
    await transports["sms"].send(Outgoing(channel="sms", address=OLA_PHONE, text="Husk møtet kl. 14"))
    standin.misbehave(omit_dates=True)
    row_id = _queue(service, "remind:1", "sms", OLA_PHONE, "Husk møtet kl. 14")
    _claimed_by(service, DEAD, tried=True)

    await Sender(service, transports).run_once()

    assert standin.sms_to(OLA_PHONE) == ["Husk møtet kl. 14", "Husk møtet kl. 14"]
    assert _row(service, row_id).status == SENT


async def test_it_sends_after_a_bounded_number_of_failed_lookups_and_counts_it(service, transports, twilio, clock):
    standin, _ = twilio
    limit = service.settings.lookup_attempts
    row_id = _queue(service, "wake-sms:1", "sms", OLA_PHONE, "God morgen, Ola")
    _claimed_by(service, DEAD, tried=True)
    standin.fail_next("Messages", status=500, times=limit)  # only the lookups: the list endpoint is down
    sender = Sender(service, transports)

    for _ in range(limit):
        await sender.run_once()
        clock.advance(timedelta(minutes=11))

    assert standin.sms_to(OLA_PHONE) == ["God morgen, Ola"]
    assert _row(service, row_id).status == SENT
    assert sender.unverified == 1


async def test_it_waits_for_the_lookup_below_the_bound(service, transports, twilio):
    standin, _ = twilio
    row_id = _queue(service, "wake-sms:2", "sms", OLA_PHONE, "God morgen, Ola")
    _claimed_by(service, DEAD, tried=True)
    standin.fail_next("Messages", status=500)

    await Sender(service, transports).run_once()

    assert standin.sms_to(OLA_PHONE) == []
    assert _row(service, row_id).status == PENDING


async def test_it_does_not_send_an_sms_again_whose_answer_could_not_be_read(service, transports, twilio, clock):
    standin, _ = twilio
    standin.garble_next("Messages")
    row_id = _queue(service, "k-garbled", "sms", OLA_PHONE, "Hei Ola")
    sender = Sender(service, transports)

    for _ in range(3):
        await sender.run_once()
        clock.advance(timedelta(minutes=11))

    assert standin.sms_to(OLA_PHONE) == ["Hei Ola"]
    assert _row(service, row_id).status == SENT


async def test_it_ignores_a_delivery_report_whose_number_is_not_the_one_sent_to(service, transports, twilio):
    row_id = _queue(service, "k-report", "sms", OLA_PHONE, "Hei Ola")
    await Sender(service, transports).run_once()
    sid = _row(service, row_id).external_id
    report = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30006", "To": OTHER_PHONE,
              "From": SERVICE_NUMBER}

    await status_dispatcher(service)(report)

    row = _row(service, row_id)
    assert row.delivery is None and row.error is None
    await status_dispatcher(service)({**report, "To": OLA_PHONE, "MessageStatus": "delivered"})
    assert _row(service, row_id).delivery == "delivered"


def test_it_lets_the_stand_in_list_what_emulators_list(twilio):
    standin, url = twilio
    settings = make_settings("sqlite://", twilio_account_sid=standin.account_sid,
                             twilio_auth_token=standin.auth_token, twilio_number=SERVICE_NUMBER,
                             twilio_api_url=url)
    client = make_client(settings)
    client.messages.create(to=OLA_PHONE, from_=SERVICE_NUMBER, body="a")
    client.messages.create(to=OTHER_PHONE, from_=SERVICE_NUMBER, body="b")
    standin.misbehave(ignore_filters=True, omit_dates=True)

    listed = client.messages.list(to=OLA_PHONE, from_=SERVICE_NUMBER)

    assert {m.to for m in listed} == {OLA_PHONE, OTHER_PHONE}
    assert all(m.date_created is None for m in listed)
    assert json.dumps(standin.violations) == "[]"
