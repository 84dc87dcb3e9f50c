"""The service's write transactions: what one queues is claimed for the running sender before it commits and
handed over after, unless its address has a send waiting or under way; and a youth's message reaches the
worker in three write transactions (stored, handled, recorded), none of them to take or to claim."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import event, text
from sqlmodel import select

from bot.out.outbox import MAX_LANES, TELEGRAM_WINDOW, Claimed, Sender, queue
from models import outbox as outbox_rows
from models.outbox import PENDING, SENDING, SENT, Outbox
from tests.conftest import MIN_WAIT, eventually, wait_until
from tests.fakes import RecordingTransport, UnevenTelegram
from tests.personas import PRIMARY_TG, YOUTH_TG, cast


def _rows(service) -> list[Outbox]:
    with service.reading() as session:
        return list(session.exec(select(Outbox).order_by(Outbox.id)))


def _running(service, transports) -> Sender:
    sender = Sender(service, transports)
    sender.loop = asyncio.get_running_loop()
    service.taker = sender
    service.wake_outbox = sender.kick
    return sender


async def test_it_claims_what_a_transaction_queued_and_hands_it_to_the_sender(service):
    sender = _running(service, {"telegram": RecordingTransport()})
    with service.tx() as session:
        queue(session, key="m1", channel="telegram", address="801", text="hei", now=service.now())
    (row,) = _rows(service)
    assert (row.status, row.holder, row.attempts) == (SENDING, sender.holder, 1)  # committed as claimed
    assert [item.row_id for item in sender.ready] == [row.id]
    sender.look = False  # nothing else to look for: the handed row alone is sent, without a claim
    assert await sender.start_lanes() is True
    await asyncio.gather(*sender.lanes.values())
    assert [(r.status, r.external_id is not None) for r in _rows(service)] == [(SENT, True)]


async def test_it_leaves_a_send_pending_when_its_chat_has_one_waiting_or_under_way(service):
    sender = _running(service, {"telegram": RecordingTransport()})
    with service.tx() as session:
        queue(session, key="m1", channel="telegram", address="801", text="først", now=service.now())
    with service.tx() as session:
        queue(session, key="m2", channel="telegram", address="801", text="så", now=service.now())
        queue(session, key="m3", channel="telegram", address="802", text="annen chat", now=service.now())
    assert [(r.key, r.status) for r in _rows(service)] == [("m1", SENDING), ("m2", PENDING), ("m3", SENDING)]
    while await sender.run_once():
        pass
    assert [r.status for r in _rows(service)] == [SENT, SENT, SENT]
    assert [out.text for out in sender.transports["telegram"].to("801")] == ["først", "så"]


async def test_it_claims_nothing_a_rolled_back_transaction_queued(service):
    sender = _running(service, {"telegram": RecordingTransport()})
    try:
        with service.tx() as session:
            queue(session, key="m1", channel="telegram", address="801", text="hei", now=service.now())
            raise RuntimeError("the handler failed after queueing")
    except RuntimeError:
        pass
    assert _rows(service) == [] and sender.ready == []


async def test_it_keeps_each_chats_order_while_sends_are_claimed_as_they_are_queued(service):
    telegram = UnevenTelegram(seed=3)
    sender = _running(service, {"telegram": telegram})
    task = asyncio.create_task(sender.run())
    chats = [str(800 + n) for n in range(6)]
    try:
        for index in range(60):  # one transaction each, while lanes send: some claimed at once, some not
            chat = chats[index % len(chats)] if index % 3 else chats[0]
            await service.write(lambda session, index=index, chat=chat: queue(
                session, key=f"m{index}", channel="telegram", address=chat, text=f"{index}", now=service.now()))
            if index % 4 == 0:
                await asyncio.sleep(0.005)
        await eventually(lambda: [r.status for r in _rows(service)] == [SENT] * 60,
                         "every send recorded, not only taken by Telegram")
    finally:
        task.cancel()
    assert len(telegram.sent) == 60
    for chat in chats:
        numbers = [int(out.text) for out in telegram.to(chat)]
        assert numbers == sorted(numbers), f"chat {chat} got {numbers}"
    assert telegram.most <= TELEGRAM_WINDOW and telegram.most_per_chat == 1
    assert sender.handed_over > 0 and {r.status for r in _rows(service)} == {SENT}


async def test_it_puts_rows_handed_over_back_to_pending_when_it_stops(service):
    sender = _running(service, {"telegram": RecordingTransport()})
    with service.tx() as session:
        queue(session, key="m1", channel="telegram", address="801", text="hei", now=service.now())
    await service.run(sender.release_ready)
    (row,) = _rows(service)
    assert (row.status, row.holder, row.attempts) == (PENDING, None, 0)
    assert await Sender(service, {"telegram": RecordingTransport()}).run_once() is True  # the next sender's


RELAY_TABLES = {"inbound", "message", "contact_log", "outbox", "relaylink", "conversation", "person"}


async def test_it_relays_a_youths_message_in_three_write_transactions(service, monkeypatch):
    from bot.run.app import Runtime
    from standins.server import BackgroundServer
    from standins.telegram import TelegramStandIn

    cast(service)
    standin = TelegramStandIn(token=service.settings.telegram_token)
    for user in (YOUTH_TG, PRIMARY_TG):
        standin.add_user(user, f"U{user}")
    writes: list[set[str]] = []

    @event.listens_for(service.engine, "begin")
    def begin(conn):
        conn.info["tettpa_written"] = set()

    @event.listens_for(service.engine, "before_cursor_execute")
    def statement(conn, cursor, sql, params, context, many):
        verb, _, rest = sql.lstrip().partition(" ")
        if verb in ("INSERT", "UPDATE", "DELETE"):
            table = rest.split()[1] if verb in ("INSERT", "DELETE") else rest.split()[0]
            conn.info.setdefault("tettpa_written", set()).add(table.strip('"'))

    @event.listens_for(service.engine, "commit")
    def commit(conn):
        written = conn.info.pop("tettpa_written", set()) & RELAY_TABLES
        if written:
            writes.append(written)

    try:
        with BackgroundServer(standin.app) as server:
            service.settings = service.settings.model_copy(update={"telegram_api_url": server.url})
            runtime = Runtime(service)
            await runtime.start()
            try:
                # The intake has looked in the database once: what comes now is handed over.
                await eventually(lambda: runtime.intake.clear_at is not None and runtime.telegram_state == "polling",
                                 "the intake's first look and Telegram polling")
                writes.clear()
                standin.user_sends(YOUTH_TG, "Hei Kari, kan du ringe?")
                await eventually(lambda: any(r.status == SENT for r in _rows(service)), "the relay recorded")
            finally:
                await runtime.stop()
    finally:
        standin.close()
    assert any("kan du ringe?" in m.get("text", "") for m in standin.sent_to(PRIMARY_TG))
    assert writes == [{"inbound"}, {"inbound", "message", "contact_log", "outbox", "conversation"},
                      {"outbox", "relaylink"}], writes


def _set(service, key: str, **values) -> None:
    with service.tx() as session:
        row = session.exec(select(Outbox).where(Outbox.key == key)).one()
        for name, value in values.items():
            setattr(row, name, value)


async def test_it_leaves_a_send_pending_behind_an_orphaned_send_to_its_chat_and_sends_the_orphan_first(
        service, clock):
    """A dead sender's row, its lease run out, still comes before what was queued for its chat after it."""
    with service.tx() as session:
        queue(session, key="m1", channel="telegram", address="801", text="først", now=service.now())
    _set(service, "m1", status=SENDING, holder="elsewhere:1:gone", attempts=1,
         lease_until=clock() - timedelta(minutes=1))
    sender = _running(service, {"telegram": RecordingTransport()})
    with service.tx() as session:
        queue(session, key="m2", channel="telegram", address="801", text="så", now=service.now())
    assert [(r.key, r.status) for r in _rows(service)] == [("m1", SENDING), ("m2", PENDING)]
    assert sender.ready == []
    while await sender.run_once():
        pass
    assert [out.text for out in sender.transports["telegram"].to("801")] == ["først", "så"]


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
async def test_it_lets_only_the_first_of_two_transactions_queueing_for_one_chat_at_once_claim(service, monkeypatch):
    """PostgreSQL: neither would see the other's uncommitted row; the second waits for the first to commit.
    (SQLite's writers take turns, so there the second cannot start before the first ends.)"""
    sender = _running(service, {"telegram": RecordingTransport()})
    real, second = outbox_rows.claim_queued, {}

    def queue_second():
        with service.tx() as session:
            queue(session, key="m2", channel="telegram", address="801", text="så", now=service.now())

    def first_claims_then_another_queues(session, **kwargs):
        result = real(session, **kwargs)
        if not second:
            second["thread"] = thread = threading.Thread(target=queue_second)
            thread.start()
            wait_until(lambda: not thread.is_alive() or _waiting_for_advisory_lock(service), MIN_WAIT,
                       "the second transaction to wait for the first's lock (or to end)", interval=0.005)
        return result

    monkeypatch.setattr(outbox_rows, "claim_queued", first_claims_then_another_queues)
    with service.tx() as session:
        queue(session, key="m1", channel="telegram", address="801", text="først", now=service.now())
    second["thread"].join(MIN_WAIT)
    await asyncio.sleep(0)  # the second's hand-over (call_soon_threadsafe) runs
    assert [(r.key, r.status) for r in _rows(service)] == [("m1", SENDING), ("m2", PENDING)]
    assert [item.out.text for item in sender.ready] == ["først"]


def _waiting_for_advisory_lock(service) -> bool:
    with service.engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).scalar())


class HeldSms(RecordingTransport):
    """An SMS provider that takes each send only when let go."""

    def __init__(self):
        super().__init__()
        self.go = asyncio.Event()

    async def send(self, out):
        await self.go.wait()
        return await super().send(out)


async def test_it_starts_at_most_max_lanes_for_sends_handed_over_and_keeps_the_rest_waiting(service):
    sms = HeldSms()
    sender = _running(service, {"sms": sms})
    numbers = [f"+47412{n:05d}" for n in range(MAX_LANES + 10)]
    with service.tx() as session:
        for index, number in enumerate(numbers):
            queue(session, key=f"m{index}", channel="sms", address=number, text="hei", now=service.now())
    sender.look = False
    assert await sender.start_lanes() is True
    assert len(sender.lanes) == MAX_LANES and len(sender.ready) == 10
    sms.go.set()
    while await sender.run_once():
        pass
    assert sorted(out.address for out in sms.sent) == numbers


def _long_waiting(sender: Sender) -> None:
    """The rows handed over have waited a whole lease for a lane."""
    sender.ready = [dataclasses.replace(item, since=item.since - sender.lease.total_seconds())
                    for item in sender.ready]


def _waiting_long_for_its_lane(service, text: str) -> tuple[RecordingTransport, Sender, asyncio.Event]:
    """An SMS handed over to a running sender that has waited a whole lease for its number's lane, which is
    sending something else until the event is set."""
    sms = RecordingTransport()
    sender = _running(service, {"sms": sms})
    with service.tx() as session:
        queue(session, key="m1", channel="sms", address="+4741200001", text=text, now=service.now())
    busy = asyncio.Event()
    sender.lanes["+4741200001"] = asyncio.create_task(busy.wait())
    _long_waiting(sender)
    return sms, sender, busy


async def test_it_keeps_a_send_waiting_for_a_lane_its_own_by_renewing_its_lease(service, clock):
    sms, sender, busy = _waiting_long_for_its_lane(service, "hei")
    (before,) = _rows(service)
    clock.advance(minutes=1)
    sender.look = False
    await sender.start_lanes()
    (during,) = _rows(service)
    assert [item.row_id for item in sender.ready] == [during.id]  # still waiting for the lane
    assert (during.status, during.holder) == (SENDING, sender.holder)
    assert during.lease_until == clock() + sender.lease > before.lease_until
    busy.set()
    while await sender.run_once():
        pass
    assert [r.status for r in _rows(service)] == [SENT] and [o.text for o in sms.sent] == ["hei"]


async def test_it_does_not_send_a_waiting_row_another_sender_took_when_its_lease_ran_out(service):
    sender = _running(service, {"telegram": RecordingTransport()})
    with service.tx() as session:
        queue(session, key="m1", channel="telegram", address="801", text="hei", now=service.now())
    _long_waiting(sender)
    _set(service, "m1", holder="elsewhere:2:alive")  # took it, and is sending it
    sender.look = False
    await sender.start_lanes()
    await asyncio.gather(*sender.lanes.values())
    assert sender.transports["telegram"].sent == [] and sender.ready == []
    (row,) = _rows(service)
    assert (row.status, row.holder) == (SENDING, "elsewhere:2:alive")


async def test_it_does_not_send_the_rest_of_a_slow_batch_another_sender_took_when_its_lease_ran_out(service):
    sms = RecordingTransport()
    sender = Sender(service, {"sms": sms})
    with service.tx() as session:
        for index in range(2):
            queue(session, key=f"m{index}", channel="sms", address="+4741200001", text=f"{index}", now=service.now())
    with service.tx() as session:
        rows = outbox_rows.claim(session, now=service.now(), lease=sender.lease, holder=sender.holder)
        items = [dataclasses.replace(Claimed.of(row), since=time.monotonic() - sender.lease.total_seconds())
                 for row in rows]
    _set(service, "m1", holder="elsewhere:2:alive")  # its lease ran out while the batch was slow; now theirs
    await sender._send_in_order(items)
    assert [o.text for o in sms.sent] == ["0"]
    assert [(r.key, r.status, r.holder) for r in _rows(service)] == [
        ("m0", SENT, sender.holder), ("m1", SENDING, "elsewhere:2:alive")]


async def test_it_sends_nothing_of_a_chat_behind_a_row_another_sender_took_and_puts_the_rest_back(service):
    """Ola's first message went to another sender when its lease ran out; his second, still ours, must follow
    it, not overtake it: it goes back to pending."""
    sms = RecordingTransport()
    sender = Sender(service, {"sms": sms})
    with service.tx() as session:
        for index in range(2):
            queue(session, key=f"m{index}", channel="sms", address="+4741200001", text=f"{index}", now=service.now())
        queue(session, key="other", channel="sms", address="+4741200002", text="til Emma", now=service.now())
    with service.tx() as session:
        rows = outbox_rows.claim(session, now=service.now(), lease=sender.lease, holder=sender.holder)
        items = [dataclasses.replace(Claimed.of(row), since=time.monotonic() - sender.lease.total_seconds())
                 for row in rows]
    _set(service, "m0", holder="elsewhere:2:alive")
    await sender._send_in_order(items)
    assert [o.text for o in sms.sent] == ["til Emma"]
    assert [(r.key, r.status, r.holder) for r in _rows(service)] == [
        ("m0", SENDING, "elsewhere:2:alive"), ("m1", PENDING, None), ("other", SENT, sender.holder)]


async def test_it_puts_back_what_waits_in_ready_behind_a_row_another_sender_took(service):
    sender = _running(service, {"telegram": RecordingTransport()})
    with service.tx() as session:
        queue(session, key="m0", channel="telegram", address="801", text="først", now=service.now())
        queue(session, key="m1", channel="telegram", address="801", text="så", now=service.now())
    assert [item.out.text for item in sender.ready] == ["først", "så"]
    _long_waiting(sender)
    _set(service, "m0", holder="elsewhere:2:alive")
    sender.look = False
    await sender.start_lanes()
    await asyncio.gather(*sender.lanes.values())
    assert sender.transports["telegram"].sent == [] and sender.ready == []
    assert [(r.key, r.status, r.holder) for r in _rows(service)] == [
        ("m0", SENDING, "elsewhere:2:alive"), ("m1", PENDING, None)]


async def test_it_releases_what_a_transaction_hands_over_after_the_sender_began_stopping(service):
    """The transaction saw the sender running; it commits as the service stops: the row is back to pending
    at once, not claimed by a sender that is gone (and its chat waiting out the lease)."""
    sender = _running(service, {"telegram": RecordingTransport()})
    sender.closed = True
    with service.tx() as session:
        queue(session, key="m1", channel="telegram", address="801", text="hei", now=service.now())
    assert sender.ready == [] and sender.releasing == []  # released in the committing thread itself
    assert [(r.status, r.holder, r.attempts) for r in _rows(service)] == [(PENDING, None, 0)]


async def test_it_releases_rows_whose_hand_over_reaches_the_loop_after_the_sender_stopped(service):
    sender = _running(service, {"telegram": RecordingTransport()})
    with service.tx() as session:
        queue(session, key="m1", channel="telegram", address="801", text="hei", now=service.now())
    items, sender.ready = sender.ready, []
    await service.run(sender.release_ready)  # ran before the hand-over's callback
    sender._take_handed(items)
    await asyncio.to_thread(sender.join_releases, MIN_WAIT)
    assert sender.ready == []
    assert [(r.status, r.holder, r.attempts) for r in _rows(service)] == [(PENDING, None, 0)]


async def test_it_stops_the_runtimes_sender_taking_hand_overs_and_opens_it_again_on_start(service):
    """Runtime.stop closes its sender before anything else: a transaction that saw it running and commits
    as the service stops releases its rows at once. A Runtime started again sends again."""
    from bot.run.app import Runtime

    service.settings = service.settings.model_copy(update={"telegram_token": None, "sandbox_mode": "0"})
    runtime = Runtime(service)
    await runtime.start()
    await runtime.stop()
    assert runtime.sender.closed
    with service.tx() as session:
        row = queue(session, key="m1", channel="telegram", address="801", text="hei", now=service.now())
        # claimed for it, as by a transaction that read `taker` before stop() unset it
        row.status, row.holder, row.lease_until = SENDING, runtime.sender.holder, runtime.sender.lease_until(
            service.now())
    runtime.sender.hand([row])
    assert runtime.sender.ready == []
    assert [(r.status, r.holder) for r in _rows(service)] == [(PENDING, None)]
    await runtime.start()
    try:
        assert not runtime.sender.closed and service.taker is runtime.sender
    finally:
        await runtime.stop()


async def test_it_looks_for_a_row_queued_behind_a_waiting_one_even_after_renewing_the_waiting_ones_lease(
        service, clock):
    """Renewing a waiting row's lease does not date its claim anew: a row queued for its number while it
    waited (kicked, and found the number busy) is still looked for when its lane is done, not a second later."""
    sms, sender, busy = _waiting_long_for_its_lane(service, "først")
    with service.tx() as session:  # its number is busy: pending, and the sender kicked
        queue(session, key="m2", channel="sms", address="+4741200001", text="så", now=service.now())
    await sender.start_lanes()  # renews m1's lease; m2's number is busy
    assert [r.status for r in _rows(service)] == [SENDING, PENDING] and sender.ready[0].renewed > 0
    busy.set()
    await sender.lanes["+4741200001"]
    await sender.start_lanes()  # m1 gets its lane
    await asyncio.gather(*sender.lanes.values())
    await sender.start_lanes()  # at once, not after the once-a-second look
    await asyncio.gather(*sender.lanes.values())
    assert [o.text for o in sms.sent] == ["først", "så"]
