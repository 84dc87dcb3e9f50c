"""A send the provider took is never sent again, whatever happens after: its recording fails (a constraint,
a dropped connection) or its answer cannot be read. And what fails for good at a worker is reported.
Ola (youth) writes; Kari is his primary, Per his secondary."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select
from telegram.error import TelegramError

from bot.delivery import undeliverable
from bot.out.outbox import LEASE, Sender, queue
from bot.out.transports.base import Outgoing, Receipt, TransportError
from bot.out.transports.telegram import TelegramTransport
from models.contact_log import ContactLog
from models.conversations import RelayLink
from models.outbox import SENT, Outbox
from tests.conftest import eventually
from tests.fakes import RecordingTransport
from tests.personas import PRIMARY_TG, SECONDARY_TG, YOUTH_TG, cast, texts_to, tg, writes


def _rows(service, address) -> list[Outbox]:
    with service.tx() as session:
        rows = list(session.exec(select(Outbox).where(Outbox.address == str(address)).order_by(Outbox.id)))
        for row in rows:
            session.expunge(row)
        return rows


async def _rounds(service, clock, sender, n: int = 3) -> None:
    """Run the sender, then again after each lease has run out (when a lost recording would resend)."""
    for _ in range(n):
        await sender.run_once()
        clock.advance(LEASE * 2)


async def test_it_does_not_send_a_relay_again_whose_reply_link_could_not_be_stored(service, clock):
    people = cast(service)
    writes(service, tg(YOUTH_TG, "Kan du ringe meg?"))
    telegram = RecordingTransport()
    # An emulator that hands out message ids already used in Kari's chat: the link breaks a constraint.
    with service.tx() as session:
        row = session.exec(select(Outbox).where(Outbox.address == str(PRIMARY_TG))).one()
        session.add(RelayLink(worker_id=people.primary, channel="telegram", address=str(PRIMARY_TG),
                              external_id="100", conversation_id=row.conversation_id, created_at=service.now()))

    await _rounds(service, clock, Sender(service, {"telegram": telegram}))

    assert len(telegram.to(PRIMARY_TG)) == 1
    assert [r.status for r in _rows(service, PRIMARY_TG)] == [SENT]


async def test_it_records_later_a_send_whose_recording_lost_the_database(service, clock):
    with service.tx() as session:
        queue(session, key="welcome:1", channel="telegram", address="777", text="Velkommen", now=service.now())
    telegram = RecordingTransport()
    sender = Sender(service, {"telegram": telegram})
    real, failures = sender._sent, [ConnectionError("server closed the connection")] * 2

    def flaky(*args, **kwargs):
        if failures:
            raise failures.pop()
        return real(*args, **kwargs)

    sender._sent = flaky

    await _rounds(service, clock, sender)

    assert len(telegram.to("777")) == 1
    assert [r.status for r in _rows(service, "777")] == [SENT]


class GarblingBot:
    """A Telegram emulator that takes the message and answers with a body PTB cannot read."""

    def __init__(self, error: Exception):
        self.error = error
        self.calls = 0

    async def send_message(self, **kwargs):
        self.calls += 1
        raise self.error


@pytest.mark.parametrize("error", [TelegramError("Invalid server response"), KeyError("result")])
async def test_it_does_not_send_a_welcome_again_whose_answer_could_not_be_read(service, clock, error):
    with service.tx() as session:
        queue(session, key="welcome:2", channel="telegram", address="778", text="Velkommen", now=service.now())
    bot = GarblingBot(error)

    await _rounds(service, clock, Sender(service, {"telegram": TelegramTransport(bot)}))

    assert bot.calls == 1
    assert [r.status for r in _rows(service, "778")] == [SENT]


async def test_it_still_retries_a_telegram_send_that_failed_on_the_way(service, clock):
    """The other side of the above: a network error is not an answer, so the message is sent again."""
    with service.tx() as session:
        queue(session, key="welcome:3", channel="telegram", address="779", text="Velkommen", now=service.now())
    bot = GarblingBot(TelegramError("Timed out"))

    await _rounds(service, clock, Sender(service, {"telegram": TelegramTransport(bot)}), n=2)

    assert bot.calls == 2


class KariUnreachable(RecordingTransport):
    """Telegram refuses every send to Kari's chat for good (she blocked the bot)."""

    async def send(self, out: Outgoing) -> Receipt:
        if out.address == str(PRIMARY_TG):
            raise TransportError("telegram refused: bot was blocked by the user", permanent=True)
        return await super().send(out)


async def test_it_gives_the_secondary_a_relay_the_primary_could_never_get_and_logs_it(service, clock):
    people = cast(service)
    writes(service, tg(YOUTH_TG, "Jeg kommer ikke i dag"))
    telegram = KariUnreachable()

    await _rounds(service, clock, Sender(service, {"telegram": telegram}, on_permanent=undeliverable))

    to_per = texts_to(service, SECONDARY_TG)
    assert any("Kari Nordmann" in t and "Jeg kommer ikke i dag" in t for t in to_per), to_per
    assert len(telegram.to(SECONDARY_TG)) == 1
    with service.tx() as session:
        kinds = [e.kind for e in session.exec(select(ContactLog).where(ContactLog.youth_id == people.youth))]
    assert "undelivered" in kinds


async def test_it_says_in_healthz_when_telegram_start_up_fails_with_any_error(service, monkeypatch):
    from telegram.ext import Application

    from bot.run import app as app_module

    settings = service.settings.model_copy(update={"telegram_token": "123:abc",
                                                   "telegram_api_url": "http://127.0.0.1:9"})
    runtime = app_module.Runtime(service.__class__(settings=settings, engine=service.engine, clock=service.clock))
    attempts = []

    async def broken(self):
        attempts.append(1)
        raise ValueError("an answer PTB cannot read")

    monkeypatch.setattr(Application, "initialize", broken)
    telegram = runtime.loops["telegram"]
    telegram.backoff = telegram.max_backoff = 0.01
    task = asyncio.create_task(telegram.run())
    try:
        await eventually(lambda: len(attempts) >= 2, "a second try at recording")  # within milliseconds
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert len(attempts) >= 2  # it kept trying instead of dying
    assert (await runtime.status(database=False))["loops"]["telegram"]["restarts"] >= 1
    assert (await runtime.status(database=False))["telegram"].startswith("failing")


async def test_it_pauses_between_polls_that_come_back_empty_at_once(service, monkeypatch):
    from handlers import intake

    class EmptyBot:
        calls = 0

        async def do_api_request(self, *args, **kwargs):
            EmptyBot.calls += 1
            if EmptyBot.calls >= 50:  # today's loop never pauses: stop it here instead of hanging
                raise asyncio.CancelledError
            return []

    class App:
        bot = EmptyBot()

    pauses = []

    async def pause(seconds):
        pauses.append(seconds)
        if len(pauses) >= 3:
            raise asyncio.CancelledError

    monkeypatch.setattr(intake.asyncio, "sleep", pause)
    with pytest.raises(asyncio.CancelledError):
        await intake.poll_telegram(service, App(), lambda: None)

    assert EmptyBot.calls == 3 and all(p >= intake.EMPTY_POLL_PAUSE for p in pauses)


async def test_it_sends_a_welcome_once_to_a_telegram_that_answers_with_an_unreadable_body(service, clock):
    import telegram

    from standins.server import BackgroundServer
    from standins.telegram import TelegramStandIn

    standin = TelegramStandIn()
    standin.add_user(YOUTH_TG, "Ola")
    try:
        with BackgroundServer(standin.app) as server:
            bot = telegram.Bot(standin.token, base_url=f"{server.url}/bot", base_file_url=f"{server.url}/file/bot")
            with service.tx() as session:
                queue(session, key="welcome:4", channel="telegram", address=str(YOUTH_TG), text="Velkommen, Ola",
                      now=service.now())
            standin.garble_next("sendMessage")
            async with bot:
                await _rounds(service, clock, Sender(service, {"telegram": TelegramTransport(bot)}))
        assert [m["text"] for m in standin.sent_to(YOUTH_TG)] == ["Velkommen, Ola"]
        assert [r.status for r in _rows(service, YOUTH_TG)] == [SENT]
    finally:
        standin.close()


async def test_it_counts_an_edit_sent_again_after_a_kill_as_done(service, clock):
    """A wake-up's button is taken away by an edit. Killed after Telegram took the edit and before the outbox
    recorded it, the service sends it again, and Telegram answers "message is not modified": the message is
    as it should be, so the row is sent, not failed (and the worker is not told of a failure)."""
    import telegram

    from standins.server import BackgroundServer
    from standins.telegram import TelegramStandIn

    standin = TelegramStandIn()
    standin.add_user(YOUTH_TG, "Ola")
    try:
        with BackgroundServer(standin.app) as server:
            bot = telegram.Bot(standin.token, base_url=f"{server.url}/bot", base_file_url=f"{server.url}/file/bot")
            async with bot:
                shown = await bot.send_message(YOUTH_TG, "God morgen, Ola!")
                await bot.edit_message_text(chat_id=YOUTH_TG, message_id=shown.message_id, text="Oppe kl. 06:50")
                with service.tx() as session:  # the same edit again, as after the kill
                    queue(session, key="wakeedit:1", channel="telegram", address=str(YOUTH_TG),
                          text="Oppe kl. 06:50", now=service.now(), edit=str(shown.message_id))
                await _rounds(service, clock, Sender(service, {"telegram": TelegramTransport(bot)}))
        assert [r.status for r in _rows(service, YOUTH_TG)] == [SENT]
        assert [m["text"] for m in standin.sent_to(YOUTH_TG)] == ["Oppe kl. 06:50"]
        assert standin.violations == []
    finally:
        standin.close()
