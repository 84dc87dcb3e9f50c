"""bench/durable_relay.py: the bare durable relay the relay benchmark measures as durability's floor. Its
figure is only evidence if it does the work it claims: each update stored once, the relay and its log entry
written with the update marked handled, and the worker's answer finding the youth by the recorded send."""

from bench.durable_relay import Store

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
