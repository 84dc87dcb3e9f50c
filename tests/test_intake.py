"""The intake: a stored inbound message is handled once, and one whose handling keeps failing is never
given up. After five failures it is "stuck": tried every ten minutes (also after a restart), counted in
/healthz and /metrics, and relayed as soon as the fault is gone."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from bot.run.app import Runtime
from handlers.intake import Intake
from handlers.twilio import webhooks as twilio_handlers
from handlers.web import routes as web
from models import inbound
from models.inbound import Inbound
from models.people import Person
from tests.conftest import live_process
from tests.fakes import deliver
from tests.personas import PRIMARY_TG, cast

OLA_PHONE = "+4741234567"
TEXT = "Hei Kari, kan du ringe meg etter skolen?"


class BrokenHandling:
    """The SMS handling fails (say, a bug that a fix in the next deploy removes) until `mended`."""

    def __init__(self, monkeypatch):
        self.broken = True
        real = twilio_handlers.receive_sms

        def receive_sms(service, session, inc):
            if self.broken:
                # What a careless error might carry: the number and the text. None of it may show.
                raise RuntimeError(f"could not handle {inc.address}: {inc.text}")
            return real(service, session, inc)

        monkeypatch.setattr(twilio_handlers, "receive_sms", receive_sms)

    def mend(self) -> None:
        self.broken = False


@pytest.fixture
def ola_writes_by_sms(service):
    """Ola (youth of Kari, who is on Telegram) has a phone; returns a function storing his SMS as the
    webhook does, giving the stored item's id."""
    c = cast(service)
    with service.tx() as session:
        session.get(Person, c.youth).phone = OLA_PHONE
    sids = iter(range(1, 1000))

    def writes(text: str) -> int:
        sid = f"SM{next(sids):032d}"
        form = {"MessageSid": sid, "From": OLA_PHONE, "To": "+4740000000", "Body": text}
        with service.tx() as session:
            inbound.store(session, source="sms", key=f"sms:{sid}", payload=json.dumps(form), now=service.now())
            return session.exec(select(Inbound.id).where(Inbound.key == f"sms:{sid}")).one()

    return writes


@pytest.fixture
def runtime(service):
    """The process around the intake, not started: its /healthz and /metrics read the database."""
    rt = Runtime(service)
    rt.intake.dispatchers["sms"] = twilio_handlers.sms_dispatcher(service)
    return rt


def _row(service, item_id: int) -> Inbound:
    with service.tx() as session:
        row = session.get(Inbound, item_id)
        session.expunge(row)
        return row


def _web(runtime) -> TestClient:
    app = Starlette(routes=web.routes)
    app.state.runtime = runtime
    return TestClient(app)


def _gauge(metrics: str, name: str) -> float:
    (line,) = [x for x in metrics.splitlines() if x.startswith(f"tettpa_{name} ")]
    return float(line.split()[1])


async def _fail_five_times(service, intake: Intake, item_id: int) -> None:
    """The fast retries: after 2, 4, 8 and 16 s, each failing."""
    await intake.run_once()
    for failed, wait in enumerate((2, 4, 8, 16), start=1):
        assert _row(service, item_id).attempts == failed
        service.clock.advance(seconds=wait)
        await intake.run_once()
    assert _row(service, item_id).attempts == inbound.FAST_ATTEMPTS


async def test_it_retries_a_message_whose_handling_failed_and_relays_it_once(service, ola_writes_by_sms,
                                                                           monkeypatch, caplog):
    fault = BrokenHandling(monkeypatch)
    item = ola_writes_by_sms(TEXT)
    intake = Intake(service)
    intake.dispatchers["sms"] = twilio_handlers.sms_dispatcher(service)
    with caplog.at_level("INFO"):
        await intake.run_once()
    row = _row(service, item)
    assert row.processed_at is None and row.attempts == 1
    assert row.error == "RuntimeError"  # the kind of error only: no number, no text
    assert "RuntimeError" in caplog.text and OLA_PHONE not in caplog.text and TEXT not in caplog.text
    service.clock.advance(seconds=1)
    await intake.run_once()
    assert _row(service, item).attempts == 1  # waits before trying again
    fault.mend()
    service.clock.advance(seconds=1)
    await intake.run_once()
    assert _row(service, item).processed_at is not None
    await intake.run_once()
    sent = await deliver(service)
    assert [TEXT in o.text for o in sent.to(PRIMARY_TG)] == [True]


async def test_it_tries_a_stuck_message_every_ten_minutes_reports_it_and_relays_it_once_mended(
        service, ola_writes_by_sms, runtime, monkeypatch):
    fault = BrokenHandling(monkeypatch)
    item = ola_writes_by_sms(TEXT)
    web_client = _web(runtime)
    health = web_client.get("/healthz")
    assert health.status_code == 200 and health.json()["inbound_stuck"] == 0
    assert _gauge(web_client.get("/metrics").text, "inbound_stuck") == 0

    await _fail_five_times(service, runtime.intake, item)

    # Stuck: reported, with nothing of the message or the number in the report.
    health = web_client.get("/healthz")
    assert health.status_code == 200 and health.json()["inbound_stuck"] == 1
    metrics = web_client.get("/metrics").text
    assert "# TYPE tettpa_inbound_stuck gauge" in metrics and _gauge(metrics, "inbound_stuck") == 1
    row = _row(service, item)
    for shown in (health.text, metrics, row.error):
        assert OLA_PHONE not in shown and "Kari" not in shown and "4741234567" not in shown

    # No longer tried in the fast loop...
    for _ in range(5):
        service.clock.advance(seconds=60)
        await runtime.intake.run_once()
    assert _row(service, item).attempts == inbound.FAST_ATTEMPTS
    # ...but again ten minutes after it came in, and every ten minutes after that: never given up.
    service.clock.advance(seconds=5 * 60)
    await runtime.intake.run_once()
    assert _row(service, item).attempts == inbound.FAST_ATTEMPTS + 1
    for slow in range(1, 4):
        service.clock.advance(minutes=9)
        await runtime.intake.run_once()
        assert _row(service, item).attempts == inbound.FAST_ATTEMPTS + slow
        service.clock.advance(minutes=1)
        await runtime.intake.run_once()
        assert _row(service, item).attempts == inbound.FAST_ATTEMPTS + slow + 1
    assert _row(service, item).processed_at is None
    assert (await deliver(service)).to(PRIMARY_TG) == [] and _stuck(web_client) == 1

    # The fault is gone (a fix deployed): at the next slow retry the message reaches Kari, once.
    fault.mend()
    service.clock.advance(minutes=10)
    await runtime.intake.run_once()
    assert _row(service, item).processed_at is not None
    sent = await deliver(service)
    assert [TEXT in o.text for o in sent.to(PRIMARY_TG)] == [True]
    assert _stuck(web_client) == 0
    assert _gauge(web_client.get("/metrics").text, "inbound_stuck") == 0
    assert _gauge(web_client.get("/metrics").text, "messages_in_total") == 1


def _stuck(web_client) -> int:
    return web_client.get("/healthz").json()["inbound_stuck"]


async def test_it_keeps_the_long_back_off_of_a_stuck_message_across_restarts(service, ola_writes_by_sms,
                                                                            monkeypatch):
    fault = BrokenHandling(monkeypatch)
    item = ola_writes_by_sms(TEXT)

    def restarted() -> Intake:
        intake = Intake(service)  # a new process: nothing in memory
        intake.dispatchers["sms"] = twilio_handlers.sms_dispatcher(service)
        return intake

    await _fail_five_times(service, restarted(), item)
    # A restart right after does not bring back the fast retries.
    intake = restarted()
    await intake.run_once()
    service.clock.advance(seconds=30)
    await restarted().run_once()
    assert _row(service, item).attempts == inbound.FAST_ATTEMPTS

    # Down for three hours: one attempt on coming back, not one for each ten minutes missed.
    service.clock.advance(hours=3)
    intake = restarted()
    await intake.run_once()
    assert _row(service, item).attempts == inbound.FAST_ATTEMPTS + 1
    for _ in range(9):
        service.clock.advance(minutes=1)
        await intake.run_once()
    assert _row(service, item).attempts == inbound.FAST_ATTEMPTS + 1
    service.clock.advance(minutes=1)
    await intake.run_once()
    assert _row(service, item).attempts == inbound.FAST_ATTEMPTS + 2

    fault.mend()
    service.clock.advance(minutes=10)
    await restarted().run_once()
    assert _row(service, item).processed_at is not None
    sent = await deliver(service)
    assert [TEXT in o.text for o in sent.to(PRIMARY_TG)] == [True]


async def test_it_never_purges_a_stuck_message(service, ola_writes_by_sms, monkeypatch):
    from bot.privacy import purge_expired

    BrokenHandling(monkeypatch)
    item = ola_writes_by_sms(TEXT)
    intake = Intake(service)
    intake.dispatchers["sms"] = twilio_handlers.sms_dispatcher(service)
    await _fail_five_times(service, intake, item)
    service.clock.advance(timedelta(days=400))
    purge_expired(service)
    assert _row(service, item).processed_at is None


def _taken_by(service, item_id: int, holder: str) -> None:
    with service.tx() as session:
        assert inbound.take(session, item_id=item_id, holder=holder, now=service.now(), lease=timedelta(seconds=60))


async def test_it_leaves_an_item_another_process_is_handling_until_its_lease_runs_out(
        service, ola_writes_by_sms, runtime, clock):
    from bot.holder import _machine

    item = ola_writes_by_sms(TEXT)
    with live_process() as other:
        _taken_by(service, item, f"{_machine()}:{other.pid}:other")  # alive, and handling it
        # Nothing to do here: False, so the loop rests instead of spinning (and starving the event loop).
        assert await runtime.intake.run_once() is False
        assert _row(service, item).processed_at is None
        clock.advance(seconds=61)
        await runtime.intake.run_once()
    assert _row(service, item).processed_at is not None
    assert sum(TEXT in (o.text or "") for o in (await deliver(service)).to(PRIMARY_TG)) == 1


async def test_it_lets_another_process_wait_out_the_back_off_of_an_item_that_failed_here(
        service, ola_writes_by_sms, monkeypatch):
    BrokenHandling(monkeypatch)
    item = ola_writes_by_sms(TEXT)
    here, there = Intake(service), Intake(service)
    for intake in (here, there):
        intake.dispatchers["sms"] = twilio_handlers.sms_dispatcher(service)
    await here.run_once()
    assert await there.run_once() is False  # the 2 s back-off holds in the other process too
    assert _row(service, item).attempts == 1
    service.clock.advance(seconds=3)
    await there.run_once()
    assert _row(service, item).attempts == 2


async def test_it_takes_at_once_an_item_a_dead_process_was_handling(service, ola_writes_by_sms, runtime):
    from bot.holder import _machine

    item = ola_writes_by_sms(TEXT)
    _taken_by(service, item, f"{_machine()}:999999999:dead")

    await runtime.intake.run_once()

    row = _row(service, item)
    assert row.processed_at is not None and row.holder is None


def _sms(sid: str, text: str) -> str:
    return json.dumps({"MessageSid": sid, "From": OLA_PHONE, "To": "+4740000000", "Body": text})


async def test_it_handles_what_it_took_as_it_stored_it_from_memory_once(service, ola_writes_by_sms, runtime):
    intake = runtime.intake
    with service.tx() as session:
        taken = intake.store(session, source="sms", key="sms:SM1", payload=_sms("SM1", TEXT))
        assert intake.store(session, source="sms", key="sms:SM1", payload=_sms("SM1", TEXT)) == []  # again
    ((item_id, *_),) = taken
    row = _row(service, item_id)
    assert row.holder == intake.holder and row.lease_until is not None and row.processed_at is None
    with service.reading() as session:  # the database round leaves it to the memory it was handed to
        assert inbound.pending(session, now=service.now(), holder=intake.holder, handed_by=intake.holder) == []
    intake.hand(taken)
    assert await intake.run_once(look=False) is True
    assert _row(service, item_id).processed_at is not None
    assert await intake.run_once() is False
    assert sum(TEXT in (o.text or "") for o in (await deliver(service)).to(PRIMARY_TG)) == 1


async def test_it_takes_at_once_an_item_a_dead_process_took_as_it_stored_it(service, ola_writes_by_sms, runtime):
    from bot.holder import _machine

    with service.tx() as session:
        item_id = inbound.store_taken(session, source="sms", key="sms:SM2", payload=_sms("SM2", TEXT),
                                      now=service.now(), holder=f"{_machine()}:999999999:dead",
                                      lease_until=service.now() + timedelta(seconds=60))
    assert await runtime.intake.run_once() is True
    row = _row(service, item_id)
    assert row.processed_at is not None and row.holder is None


async def test_it_keeps_what_it_was_handed_when_a_round_fails_and_handles_it_next(service, ola_writes_by_sms,
                                                                                runtime, monkeypatch):
    """The round's look in the database fails (locked, gone): the item it was handed is not left to wait out
    its lease, since the database round leaves handed items to memory."""
    intake = runtime.intake
    with service.tx() as session:
        taken = intake.store(session, source="sms", key="sms:SM3", payload=_sms("SM3", TEXT))
    intake.hand(taken)
    real_due, failures = intake._due, [ConnectionError("database gone for a moment")]

    def due(session, now):
        if failures:
            raise failures.pop()
        return real_due(session, now)

    monkeypatch.setattr(intake, "_due", due)
    with pytest.raises(ConnectionError):
        await intake.run_once()
    assert await intake.run_once() is True
    assert _row(service, taken[0][0]).processed_at is not None
    assert sum(TEXT in (o.text or "") for o in (await deliver(service)).to(PRIMARY_TG)) == 1


async def test_it_keeps_an_item_it_took_from_the_database_when_the_round_fails_after_the_take(
        service, ola_writes_by_sms, runtime, monkeypatch):
    """Taken in this round (stored by a process that is gone), then the round fails before its handling: it is
    ours now, so the database look leaves it out; it is handled next round, not after its lease."""
    from bot.holder import _machine

    intake = runtime.intake
    with service.tx() as session:
        item_id = inbound.store_taken(session, source="sms", key="sms:SM4", payload=_sms("SM4", TEXT),
                                      now=service.now(), holder=f"{_machine()}:999999999:dead",
                                      lease_until=service.now() + timedelta(seconds=60))
    real_handle, failures = intake._handle, [ConnectionError("database gone for a moment")]

    async def handle(*args):
        if failures:
            raise failures.pop()
        return await real_handle(*args)

    monkeypatch.setattr(intake, "_handle", handle)
    with pytest.raises(ConnectionError):
        await intake.run_once()
    assert _row(service, item_id).holder == intake.holder  # taken
    assert await intake.run_once() is True
    assert _row(service, item_id).processed_at is not None
