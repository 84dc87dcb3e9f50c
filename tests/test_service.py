"""The service's write transactions: what one queues is claimed for the running sender before it commits and
handed over after, unless its address has a send waiting or under way; and a youth's message reaches the
worker in three write transactions (stored, handled, recorded), none of them to take or to claim."""

from __future__ import annotations

import asyncio

from sqlalchemy import event
from sqlmodel import select

from bot.out.outbox import TELEGRAM_WINDOW, Sender, queue
from models.outbox import PENDING, SENDING, SENT, Outbox
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
        for _ in range(2000):  # every send recorded, not only taken by Telegram
            rows = _rows(service)
            if len(rows) == 60 and {r.status for r in rows} == {SENT}:
                break
            await asyncio.sleep(0.005)
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
                for _ in range(2000):  # the intake has looked in the database once: what comes now is handed over
                    if runtime.intake.clear_at is not None and runtime.telegram_state == "polling":
                        break
                    await asyncio.sleep(0.005)
                writes.clear()
                standin.user_sends(YOUTH_TG, "Hei Kari, kan du ringe?")
                for _ in range(2000):
                    if any(r.status == SENT for r in _rows(service)):
                        break
                    await asyncio.sleep(0.005)
            finally:
                await runtime.stop()
    finally:
        standin.close()
    assert any("kan du ringe?" in m.get("text", "") for m in standin.sent_to(PRIMARY_TG))
    assert writes == [{"inbound"}, {"inbound", "message", "contact_log", "outbox", "conversation"},
                      {"outbox", "relaylink"}], writes
