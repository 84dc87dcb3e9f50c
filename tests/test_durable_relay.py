"""bench/durable_relay.py: the bare durable relay the relay benchmark measures as durability's floor. Its
figure is only evidence if it does the work it claims: each update stored once, the relay and its log entry
written with the update marked handled, and the worker's answer finding the youth by the recorded send."""

import contextlib
import sqlite3

from bench.durable_relay import Store, durable_bot
from bench.relay import TOKEN, _drive
from bench.remote_standin import RemoteStandIn

YOUTH, WORKER = 100_000, 1_000


def test_it_stores_a_batch_fetched_twice_once(tmp_path):
    store = Store(str(tmp_path / "d.db"), {YOUTH: WORKER})
    assert store.store([(1, {"update_id": 1}), (2, {"update_id": 2})]) == [1, 2]
    assert store.store([(2, {"update_id": 2}), (3, {"update_id": 3})]) == [3]
    assert store.conn.execute("SELECT count(*) FROM updates").fetchone() == (3,)


def test_it_relays_a_youths_message_and_brings_the_workers_answer_back(tmp_path):
    store = Store(str(tmp_path / "d.db"), {YOUTH: WORKER})
    store.store([(1, {}), (2, {}), (3, {})])
    row, target = store.handle(1, YOUTH, "Kan du ringe?", None)
    assert target == WORKER
    store.record(row, 77)
    assert store.handle(2, WORKER, "Ja", 77)[1] == YOUTH
    assert store.handle(3, WORKER, "Til hvem?", 78) is None  # an answer to nothing relayed goes nowhere
    c = store.conn
    assert c.execute("SELECT count(*) FROM updates WHERE handled = 1").fetchone() == (3,)
    assert c.execute("SELECT direction FROM log ORDER BY id").fetchall() == [("in",), ("out",)]
    assert c.execute("SELECT state, message_id FROM outbox WHERE id = ?", (row,)).fetchone() == ("sent", 77)
    assert b"Kan du ringe" not in c.execute("SELECT body FROM messages").fetchone()[0]


async def test_it_brings_every_message_and_answer_through_the_telegram_stand_in(tmp_path):
    """The relay as the benchmark drives it: youths write, workers answer their relays, all of it arrives
    and is in the store, each update handled once."""
    youths = [YOUTH, YOUTH + 1, YOUTH + 2]
    async with RemoteStandIn(TOKEN, [*youths, WORKER, WORKER + 1], limits=False) as remote:
        worker_of = lambda youth: WORKER + youth % 2  # noqa: E731
        async with durable_bot(remote.url, TOKEN, str(tmp_path / "d.db"), {y: worker_of(y) for y in youths}):
            there, back = await _drive(remote, youths, worker_of, messages=6, concurrent=2)
    # Read after the relay stopped: it finishes the recording of the last send (arrived, not yet recorded).
    with contextlib.closing(sqlite3.connect(tmp_path / "d.db")) as db:
        counts = [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("updates", "messages", "log", "links")]
        unsent = db.execute("SELECT count(*) FROM outbox WHERE state != 'sent'").fetchone()[0]
    assert len(there) == len(back) == 6
    assert counts == [12, 12, 12, 6]  # six messages and six answers; a link for each relay to a worker
    assert unsent == 0
