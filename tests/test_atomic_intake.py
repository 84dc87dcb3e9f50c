"""Handling is atomic: an inbound item's effects and its "handled" mark are one transaction. A crash at any
step of the inbound path (storing the batch, after taking the item, in the middle of its handler's
transaction, right after that transaction committed) loses nothing and doubles nothing: after the restart
there is one relay per message, one wake-up plan per /vekking, one meeting per /mote, one note per /notat.

A crash here is a BaseException that nothing in the service catches (as a SIGKILL leaves nothing to catch);
the restart is a new Intake (a new holder) once the dead one's lease has run out.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import func, select
from telegram import User

from bot.run.app import build_application
from handlers import intake as intake_module
from handlers.intake import LEASE, Intake, store_telegram, telegram_dispatcher
from handlers.telegram import commands as telegram_handlers
from models import inbound, kv
from models.contact_log import ContactLog
from models.inbound import Inbound
from models.schedules import Meeting, WakeupPlan
from tests.personas import PRIMARY_TG, YOUTH_TG, cast, queued

OLA_TEXT = "Hei Kari, kan vi snakke i morgen?"


class Crash(BaseException):
    """The process dies here."""


def _update(update_id: int, user_id: int, text: str) -> dict:
    message = {"message_id": update_id, "date": 1795424400, "text": text,
               "chat": {"id": user_id, "type": "private"},
               "from": {"id": user_id, "is_bot": False, "first_name": "X", "language_code": "nb"}}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}


BATCH = [
    _update(101, YOUTH_TG, OLA_TEXT),
    _update(102, PRIMARY_TG, "/vekking Ola 06:45 man-fre"),
    _update(103, PRIMARY_TG, "/mote Ola 25.11 14:00 Kafé Sentrum"),
    _update(104, PRIMARY_TG, "/notat Ola Ringte fra egen telefon"),
]


async def _application(service):
    application = build_application("123456:TEST", "http://127.0.0.1:9")  # never asked: no request goes out
    application.bot._bot_user = User(id=123456, is_bot=True, first_name="Tett på", username="TettPaBot")
    application.bot._bot_initialized = application.bot._requests_initialized = True
    await application.initialize()
    telegram_handlers.register(application, service)
    return application


def _intake(service, application) -> Intake:
    intake = Intake(service)
    intake.dispatchers["telegram"] = telegram_dispatcher(application)
    return intake


class Crasher:
    """Raises Crash at one step, once for each item that reaches it."""

    def __init__(self):
        self.crashed: set = set()

    def once(self, key) -> None:
        if key not in self.crashed:
            self.crashed.add(key)
            raise Crash(key)


def _install(step: str, monkeypatch, service, crasher: Crasher) -> None:
    if step == "after taking it":
        real = Intake._handle

        async def handle(self, item_id, *args):
            crasher.once(item_id)
            return await real(self, item_id, *args)

        monkeypatch.setattr(Intake, "_handle", handle)
    elif step == "inside its transaction":
        real_mark = inbound.mark_handled

        def mark(session, state, *, now):
            session.flush()  # the handler's effects are written, not yet committed
            crasher.once(state.item_id)
            return real_mark(session, state, now=now)

        monkeypatch.setattr(inbound, "mark_handled", mark)
    elif step == "right after its commit":
        def kick():
            state = inbound.current_handling()
            if state is not None and state.marked:
                crasher.once(state.item_id)

        service.kick_outbox = kick
    else:
        raise AssertionError(step)


def _counts(service) -> dict:
    with service.reading() as session:
        return {
            "plans": session.exec(select(func.count()).select_from(WakeupPlan)).one(),
            "meetings": session.exec(select(func.count()).select_from(Meeting)).one(),
            "notes": session.exec(select(func.count()).select_from(ContactLog).where(ContactLog.kind == "note")).one(),
            "unhandled": session.exec(select(func.count()).select_from(Inbound)
                                      .where(Inbound.processed_at.is_(None))).one(),
            "failed": session.exec(select(func.count()).select_from(Inbound).where(Inbound.attempts > 0)).one(),
        }


async def _until_done(service, application, clock, crasher: Crasher) -> int:
    """Run intakes as restarted processes until every item is handled; how many crashes there were."""
    crashes = 0
    for _ in range(20):
        intake = _intake(service, application)
        try:
            while await intake.run_once():
                pass
        except Crash:
            crashes += 1
            clock.advance(LEASE + timedelta(seconds=1))  # the dead process's lease runs out
            continue
        if _counts(service)["unhandled"] == 0:
            return crashes
    raise AssertionError("items still unhandled after 20 restarts")


@pytest.mark.parametrize("step", ["after taking it", "inside its transaction", "right after its commit"])
async def test_it_loses_and_doubles_nothing_when_the_process_dies_while_handling(service, clock, monkeypatch,
                                                                               step):
    cast(service)
    application = await _application(service)
    try:
        store_telegram(service, BATCH)
        crasher = Crasher()
        _install(step, monkeypatch, service, crasher)
        crashes = await _until_done(service, application, clock, crasher)
        monkeypatch.undo()
    finally:
        await application.shutdown()
    assert crashes == len(BATCH)  # every item died once at that step
    counts = _counts(service)
    assert counts == {"plans": 1, "meetings": 1, "notes": 1, "unhandled": 0, "failed": 0}, step
    to_kari = queued(service, PRIMARY_TG)
    assert [m["text"] for m in to_kari].count(OLA_TEXT) <= 1
    assert sum(OLA_TEXT in m["text"] for m in to_kari) == 1  # Ola's message relayed once
    # Kari got one answer per command (the plan, the meeting, the note), not one per attempt.
    assert len(to_kari) == 4, [m["text"][:40] for m in to_kari]


async def test_it_stores_a_batch_whole_or_not_at_all_when_the_process_dies_while_storing(service, monkeypatch):
    real = inbound.store
    calls = []

    def store(session, **kw):
        calls.append(kw["key"])
        if len(calls) == 3:
            raise Crash("storing")
        return real(session, **kw)

    monkeypatch.setattr(intake_module.inbound, "store", store)
    with pytest.raises(Crash):
        store_telegram(service, BATCH)
    with service.reading() as session:
        assert session.exec(select(func.count()).select_from(Inbound)).one() == 0
        assert kv.get(session, "telegram_offset", "0") == "0"  # Telegram sends the batch again
    assert len(store_telegram(service, BATCH)) == len(BATCH)
    assert store_telegram(service, BATCH) == []  # and once more, as a redelivery: nothing new
    with service.reading() as session:
        assert session.exec(select(func.count()).select_from(Inbound)).one() == len(BATCH)
        assert kv.get(session, "telegram_offset", "0") == "105"


async def test_it_rolls_back_a_handlers_effects_when_the_item_is_no_longer_its_own(service, clock):
    """The lease ran out while a handler was slow and another process handled the item: the slow one's
    effects roll back instead of doubling it."""
    cast(service)
    application = await _application(service)
    try:
        store_telegram(service, [BATCH[1]])  # /vekking
        slow = _intake(service, application)
        with service.tx() as session:
            (item,) = inbound.pending(session, now=service.now())
            assert inbound.take(session, item_id=item.id, holder=slow.holder, now=service.now(), lease=LEASE)
        clock.advance(LEASE + timedelta(seconds=1))
        other = _intake(service, application)
        assert await other.run_once()
        await slow._handle(item.id, "telegram", item.payload, 0)  # its lease gone: the mark fails, all rolls back
    finally:
        await application.shutdown()
    assert _counts(service)["plans"] == 1
