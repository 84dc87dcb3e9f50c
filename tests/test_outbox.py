"""The outbox after a crash: a restarted sender takes a dead sender's rows at once, finds at Twilio what the
dead one had sent already instead of sending it twice, and sends Telegram messages at most TELEGRAM_WINDOW at
a time so a kill can repeat at most that many of them. Twilio is the stand-in over real HTTP, driven by the real twilio library."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot.holder import _machine
from bot.out.outbox import LEASE, TELEGRAM_WINDOW, Sender, backoff, queue
from bot.out.transports.base import Outgoing, Receipt, TransportError
from bot.out.transports.twilio import SmsTransport, VoiceTransport, make_client
from models import outbox as store
from models.outbox import PENDING, SENDING, SENT, Outbox
from standins.server import BackgroundServer
from standins.twilio import TwilioStandIn
from tests.conftest import MIN_WAIT, live_process, make_settings, write_locked_elsewhere
from tests.fakes import RecordingTransport

SERVICE_NUMBER = "+4790000000"
OLA_PHONE, SIRI_PHONE = "+4741234567", "+4745678901"
DEAD = f"{_machine()}:999999999:dead"  # a sender on this machine whose process is gone


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


async def test_it_takes_the_rows_of_a_sender_that_died_on_this_machine_at_once(service, transports):
    row_id = _queue(service, "k1", "sms", OLA_PHONE, "Hei Ola")
    _claimed_by(service, DEAD)

    await Sender(service, transports).run_once()

    assert _row(service, row_id).status == SENT  # not after the 60 s lease


async def test_it_leaves_a_live_senders_rows_until_their_lease_runs_out(service, transports, clock):
    row_id = _queue(service, "k1", "sms", OLA_PHONE, "Hei Ola")
    with live_process() as alive:
        _claimed_by(service, f"{_machine()}:{alive.pid}:alive")
        sender = Sender(service, transports)
        assert await sender.run_once() is False
        clock.advance(LEASE + timedelta(seconds=1))
        await sender.run_once()
    assert _row(service, row_id).status == SENT


async def test_it_records_an_sms_the_dead_sender_got_through_instead_of_sending_it_again(
        service, transports, twilio):
    standin, _ = twilio
    row_id = _queue(service, "k1", "sms", OLA_PHONE, "Husk møtet kl. 14")
    _claimed_by(service, DEAD, tried=True)
    # The dead sender's request reached Twilio; the process died before it could record that.
    earlier = await transports["sms"].send(Outgoing(channel="sms", address=OLA_PHONE, text="Husk møtet kl. 14"))
    sender = Sender(service, transports)

    await sender.run_once()

    assert standin.sms_to(OLA_PHONE) == ["Husk møtet kl. 14"]
    assert _row(service, row_id).external_id == earlier.external_id
    assert sender.found == 1


async def test_it_sends_an_sms_again_that_never_reached_twilio(service, transports, twilio):
    standin, _ = twilio
    _queue(service, "k1", "sms", OLA_PHONE, "Husk møtet kl. 14")
    _claimed_by(service, DEAD, tried=True)
    sender = Sender(service, transports)

    await sender.run_once()

    assert standin.sms_to(OLA_PHONE) == ["Husk møtet kl. 14"]
    assert sender.found == 0


async def test_it_does_not_mistake_an_earlier_identical_sms_for_the_lost_one(service, transports, twilio):
    standin, _ = twilio
    _queue(service, "k1", "sms", OLA_PHONE, "ok")
    await Sender(service, transports).run_once()  # sent and recorded
    second = _queue(service, "k2", "sms", OLA_PHONE, "ok")
    _claimed_by(service, DEAD, tried=True)

    await Sender(service, transports).run_once()

    assert standin.sms_to(OLA_PHONE) == ["ok", "ok"]
    assert _row(service, second).status == SENT


async def test_it_records_a_call_the_dead_sender_got_through(service, transports, twilio):
    standin, _ = twilio
    row_id = _queue(service, "wake:1:2026-11-23", "call", SIRI_PHONE, "God morgen, Siri")
    _claimed_by(service, DEAD, tried=True)
    earlier = await transports["call"].send(Outgoing(channel="call", address=SIRI_PHONE, text="God morgen, Siri"))

    await Sender(service, transports).run_once()

    assert len(standin.calls) == 1
    assert _row(service, row_id).external_id == earlier.external_id


async def test_it_does_not_send_blind_when_twilio_cannot_say_what_it_has(service, transports, twilio):
    standin, _ = twilio
    row_id = _queue(service, "k1", "sms", OLA_PHONE, "Hei Ola")
    _claimed_by(service, DEAD, tried=True)
    standin.fail_next("Messages", status=500)  # the lookup fails: try again later, do not send now

    await Sender(service, transports).run_once()

    assert standin.sms_to(OLA_PHONE) == []
    assert _row(service, row_id).status == PENDING


class SlowTelegram(RecordingTransport):
    """Records how many sends were under way at once."""

    def __init__(self):
        super().__init__()
        self.now = self.most = 0

    async def send(self, out: Outgoing) -> Receipt:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(0.02)
            return await super().send(out)
        finally:
            self.now -= 1


async def test_it_sends_telegram_messages_at_most_telegram_window_at_a_time_and_sms_side_by_side(
        service, transports):
    telegram = SlowTelegram()
    transports = {**transports, "telegram": telegram}
    for chat in range(12):
        _queue(service, f"t{chat}", "telegram", str(700 + chat), "Hei")
    await Sender(service, transports).run_once()
    assert (len(telegram.sent), telegram.most) == (12, TELEGRAM_WINDOW)

    sms = SlowTelegram()
    for number in range(5):
        _queue(service, f"s{number}", "sms", f"+474100000{number}", "Hei")
    await Sender(service, {**transports, "sms": sms}).run_once()
    assert len(sms.sent) == 5 and sms.most > 1


async def test_it_holds_back_only_the_later_messages_of_a_chat_whose_send_failed(service, transports):
    telegram = RecordingTransport()
    telegram.failures.append(TransportError("telegram: TimedOut"))
    first_ola = _queue(service, "a1", "telegram", "701", "første til Ola")
    _queue(service, "b1", "telegram", "702", "til Siri")
    second_ola = _queue(service, "a2", "telegram", "701", "andre til Ola")

    await Sender(service, {**transports, "telegram": telegram}).run_once()

    assert [o.text for o in telegram.sent] == ["til Siri"]
    assert {_row(service, first_ola).status, _row(service, second_ola).status} == {PENDING}
    assert _row(service, second_ola).due_at >= _row(service, first_ola).due_at


def test_it_waits_twice_as_long_after_each_failed_try_up_to_ten_minutes():
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert backoff(40) == timedelta(minutes=10)
    assert [backoff(n, timedelta(seconds=0.5)).total_seconds() for n in (1, 2, 3)] == [0.5, 1, 2]


async def test_it_tries_a_failed_send_again_after_the_configured_backoff(service, transports, clock):
    """TETTPA_OUTBOX_BACKOFF sets the first wait (production: 2 s); the tests of faults shorten it."""
    quick = dataclasses.replace(service, settings=service.settings.model_copy(
        update={"outbox_backoff": timedelta(seconds=0.5)}))
    telegram = RecordingTransport()
    telegram.failures.append(TransportError("telegram: 502 Bad Gateway"))
    row_id = _queue(quick, "b1", "telegram", "701", "til Ola")

    await Sender(quick, {**transports, "telegram": telegram}).run_once()

    row = _row(quick, row_id)
    assert (row.status, row.attempts) == (PENDING, 1)
    assert row.due_at.replace(tzinfo=UTC) - clock() == timedelta(seconds=0.5)


async def test_it_keeps_a_slow_batch_its_own_so_no_other_sender_takes_and_repeats_it(
        service, transports, clock, monkeypatch):
    import bot.out.outbox
    monkeypatch.setattr(bot.out.outbox, "RENEW_EVERY", 0.0)
    for number in range(3):
        _queue(service, f"m{number}", "telegram", "700", f"melding {number}")
    other = Sender(service, transports)  # another process's sender, looking for rows to take
    stolen = []

    class SlowTelegram(RecordingTransport):
        async def send(self, out: Outgoing) -> Receipt:
            clock.advance(seconds=40)  # each send takes 40 s: the batch outlives its first lease
            with service.tx() as session:
                stolen.extend(r.key for r in store.claim(session, now=service.now(), lease=LEASE,
                                                         holder=other.holder, limit=10))
            return await super().send(out)

    telegram = SlowTelegram()
    await Sender(service, {**transports, "telegram": telegram}).run_once()

    assert [o.text for o in telegram.sent] == ["melding 0", "melding 1", "melding 2"]
    assert stolen == []


async def test_it_takes_no_write_lock_while_there_is_nothing_to_send(service, transports, database_url):
    """An idle sender looks every second: with nothing due it only reads, so it never stands in the way of a
    relay's write (on SQLite, one writer at a time) and costs a county's idle machine next to nothing."""
    later = _queue(service, "later", "telegram", "701", "om en time")
    with service.tx() as session:
        session.get(Outbox, later).due_at = service.now() + timedelta(hours=1)  # a retry not yet due
    telegram = RecordingTransport()
    with write_locked_elsewhere(service) as impatient:
        assert await Sender(impatient, {**transports, "telegram": telegram}).run_once() is False  # no write tried
    sender = Sender(service, {**transports, "telegram": telegram})
    _queue(service, "now", "telegram", "702", "nå")
    while await sender.run_once():
        pass
    assert [o.text for o in telegram.sent] == ["nå"]


def _claim_in_another_transaction(service, holder: str) -> list[str]:
    """Another process's sender claiming, in a transaction of its own (another connection), as it would."""
    taken: list[str] = []

    def claim() -> None:
        with service.tx() as session:
            taken.extend(r.key for r in store.claim(session, now=service.now(), lease=LEASE, holder=holder))

    thread = threading.Thread(target=claim)
    thread.start()
    thread.join(MIN_WAIT)  # SKIP LOCKED: a claim never waits for a row another transaction holds
    assert not thread.is_alive()
    return taken


def _ours_run_out(service, clock, sender: Sender) -> int:
    """A row this sender claimed whose lease ran out (a slow send): another sender may now take it."""
    row_id = _queue(service, "k1", "telegram", "701", "til Ola")
    _claimed_by(service, sender.holder)
    clock.advance(LEASE + timedelta(seconds=1))
    return row_id


def _claims_between_read_and_write(service, transports, sender: Sender, monkeypatch) -> tuple[Sender, list[str]]:
    """Another sender, and what it claims the moment `sender` has read a row and asks whether it is still
    its own (Sender._mine), before it writes the row back."""
    other, taken = Sender(service, transports), []
    mine = sender._mine

    def claim_first(row) -> bool:
        taken.extend(_claim_in_another_transaction(service, other.holder))
        return mine(row)

    monkeypatch.setattr(sender, "_mine", claim_first)
    return other, taken


ONLY_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)


@ONLY_POSTGRES
def test_it_never_overwrites_a_claim_made_between_reading_its_row_and_recording_a_failure(
        service, transports, clock, monkeypatch):
    """PostgreSQL (read committed): a sender recording a failed try reads its row, then writes it back as
    pending. Another sender claiming it in between must either wait out or skip that row, never have its
    claim overwritten, or both would send it. (SQLite's writers take turns: nothing can come in between.)"""
    sender = Sender(service, transports)
    row_id = _ours_run_out(service, clock, sender)
    other, taken = _claims_between_read_and_write(service, transports, sender, monkeypatch)

    sender._failed(row_id, TransportError("telegram: TimedOut"), attempts=1)

    row = _row(service, row_id)
    assert (row.status, row.holder) == ((SENDING, other.holder) if taken else (PENDING, sender.holder))
    assert taken == []  # the row is locked while its failure is recorded: the other claim passed it by


@ONLY_POSTGRES
def test_it_never_sends_a_row_another_sender_claimed_while_it_noted_its_try(service, transports, clock,
                                                                              monkeypatch):
    """PostgreSQL: noting a try (before an SMS or call goes out) keeps the row only if it is still ours;
    a claim made in between must not leave both senders believing it theirs."""
    sender = Sender(service, transports)
    row_id = _ours_run_out(service, clock, sender)
    other, taken = _claims_between_read_and_write(service, transports, sender, monkeypatch)

    kept = sender._tried(row_id)

    assert not (kept and taken), "both senders hold the row: it would go out twice"
    assert kept and _row(service, row_id).holder == sender.holder


@ONLY_POSTGRES
def test_it_never_puts_back_a_later_row_of_a_failed_chat_that_another_sender_claimed_meanwhile(
        service, transports, clock, monkeypatch):
    """PostgreSQL: after a failed send, the later rows of its chat go back to wait for it, but only those
    still this sender's; one another sender claimed in between stays theirs."""
    sender = Sender(service, transports)
    first = _queue(service, "k0", "telegram", "701", "først")
    later = _ours_run_out(service, clock, sender)
    with service.tx() as session:  # the first failed and waits for its retry; the later one is claimed
        session.get(Outbox, first).status = PENDING
    other, taken = _claims_between_read_and_write(service, transports, sender, monkeypatch)

    sender._hold_back(first, [later])

    row = _row(service, later)
    assert (row.status, row.holder) == ((SENDING, other.holder) if "k1" in taken else (PENDING, sender.holder))
