"""The bot cannot go deaf: every background loop is supervised (started again with back-off when it fails,
its state in /healthz), the Telegram poll survives database errors, and a failing deleteWebhook/setWebhook
is tried again instead of ending Telegram for good."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from sqlalchemy.exc import OperationalError
from telegram import User
from telegram.error import NetworkError
from telegram.ext import Application, ExtBot

from bot.loops import LoopLag, Supervised
from bot.run import app as app_module
from bot.run.app import Runtime
from handlers import intake as intake_module
from handlers.intake import poll_telegram
from models import kv
from models.inbound import Inbound
from tests.conftest import eventually, make_settings


async def test_it_restarts_a_failing_loop_with_back_off_and_shows_its_state(caplog):
    runs, started = [], asyncio.Event()

    async def body():
        runs.append(asyncio.get_running_loop().time())
        if len(runs) <= 3:
            raise RuntimeError("secret text +4791234567")  # what a careless error might carry
        started.set()
        await asyncio.Event().wait()  # runs until cancelled

    loop = Supervised("outbox", body, backoff=0.05, max_backoff=0.1)
    task = asyncio.create_task(loop.run())
    await asyncio.wait_for(started.wait(), 5)
    assert loop.status() == {"state": "running", "restarts": 3} and loop.last_error == "RuntimeError"
    gaps = [b - a for a, b in zip(runs, runs[1:], strict=False)]
    assert gaps[0] >= 0.04 and gaps[1] >= 0.09 and gaps[2] >= 0.09  # 0.05, then doubled, capped at 0.1
    assert "secret text" not in caplog.text and "+4791234567" not in caplog.text
    assert "outbox loop failed (RuntimeError)" in caplog.text
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert loop.state == "stopped"


async def test_it_says_done_for_a_loop_that_ended_on_its_own():
    async def body():
        return None

    loop = Supervised("telegram", body)
    await loop.run()
    assert loop.status() == {"state": "done", "restarts": 0}


async def test_it_keeps_polling_when_storing_a_batch_fails_and_stores_it_from_telegram_again(service, monkeypatch):
    """The database refuses the first batch (locked by another process): the poll does not die, the offset
    does not move, Telegram gives the same batch again, and it is stored once."""
    update = {"update_id": 7, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}}}
    asked: list[int] = []

    class Bot:
        async def do_api_request(self, method, api_kwargs, read_timeout):
            asked.append(api_kwargs["offset"])
            await asyncio.sleep(0)
            return [update] if api_kwargs["offset"] <= 7 else []

    real, failures = intake_module.store_telegram, []

    def store(service, updates, intake=None):
        if not failures:
            failures.append(1)
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
        return real(service, updates, intake)

    monkeypatch.setattr(intake_module, "store_telegram", store)
    monkeypatch.setattr(intake_module.asyncio, "sleep", _fast_sleep)
    states: list[str] = []
    stored = asyncio.Event()
    intake = intake_module.Intake(service)
    intake.hand = lambda items: stored.set()
    task = asyncio.create_task(poll_telegram(service, SimpleNamespace(bot=Bot()), intake, report=states.append))
    await asyncio.wait_for(stored.wait(), 5)
    await eventually(lambda: len(asked) >= 3, "Telegram asked for the batch a third time")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert asked[:3] == [0, 0, 8]  # the same batch again after the failure, then past it
    assert "polling (retrying: OperationalError)" in states and states[-1] == "polling"
    with service.reading() as session:
        assert session.query(Inbound).count() == 1
        assert kv.get(session, "telegram_offset", "0") == "8"


_real_sleep = asyncio.sleep


async def _fast_sleep(delay, *args):
    await _real_sleep(min(delay, 0.01), *args)


async def test_it_tries_again_when_telegram_refuses_delete_webhook_and_shows_it_in_healthz(database_url, clock,
                                                                                        monkeypatch):
    from bot.service import Service
    from models.db import make_engine
    from models.migrate import upgrade

    settings = make_settings(database_url, telegram_token="123456:TEST", telegram_api_url="http://127.0.0.1:9")
    engine = make_engine(database_url)
    upgrade(engine)
    service = Service(settings=settings, engine=engine, clock=clock)
    runtime = Runtime(service)
    runtime.application.bot._bot_user = User(id=123456, is_bot=True, first_name="Tett på", username="TettPaBot")

    async def initialize(self):
        self._initialized = True

    refusals = []

    async def delete_webhook(self, *args, **kwargs):
        if len(refusals) < 2:
            refusals.append(1)
            raise NetworkError("connection reset")
        return True

    polling = asyncio.Event()

    async def poll(service, application, on_stored, report):
        report("polling")
        polling.set()
        await asyncio.Event().wait()  # runs until cancelled

    monkeypatch.setattr(Application, "initialize", initialize)
    monkeypatch.setattr(ExtBot, "delete_webhook", delete_webhook)
    monkeypatch.setattr(app_module, "poll_telegram", poll)
    telegram = runtime.loops["telegram"]
    telegram.backoff = telegram.max_backoff = 0.01
    task = asyncio.create_task(telegram.run())
    try:
        await asyncio.wait_for(polling.wait(), 10)
        status = await runtime.status()
        assert status["telegram"] == "polling"
        assert status["loops"]["telegram"] == {"state": "running", "restarts": 2}
        assert set(status["loops"]) == {"outbox", "intake", "lease", "telegram"}
        assert "event_loop_lag_seconds" in status
        metrics = await runtime.metrics()
        assert metrics["loop_restarts_total"][2] == 2
        assert metrics["event_loop_lag_seconds"][0] == "gauge"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        engine.dispose()


async def test_it_measures_how_long_something_held_the_event_loop():
    lag = LoopLag(every=0.01, window=60)
    task = asyncio.create_task(lag.run())
    await eventually(lambda: lag.samples, "the first sample")
    import time

    before = len(lag.samples)
    time.sleep(0.3)  # something synchronous on the loop
    await eventually(lambda: len(lag.samples) > before, "the sample after it")
    task.cancel()
    assert 0.25 <= lag.worst() < 1.0


async def test_it_stops_a_resting_loop_even_when_it_is_woken_as_it_is_cancelled():
    """Python 3.11's asyncio.wait_for loses a cancellation that comes as the event is set: the outbox loop
    went on, and stopping the service waited for it for ever (found by tests/test_service.py)."""
    from bot.idle import idle

    wake = asyncio.Event()
    rounds = 0

    async def loop_() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            await idle(wake, timeout=30)

    task = asyncio.create_task(loop_())
    await eventually(lambda: rounds == 1, "the loop resting in idle()")
    wake.set()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert rounds == 1
