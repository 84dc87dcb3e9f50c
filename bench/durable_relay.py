"""A bare *durable* relay: a minimal PTB relay like bench/relay.py's bare one (PTB's Bot with a getUpdates
loop of its own, as the service has, instead of PTB's Updater and handlers) that also writes what a relay
that loses nothing has to, in raw sqlite3: what durability costs beside the bare relay on this machine.

Goal 1 of issue 15 compares Tett på with a bot that stores nothing. This one stores what the service's
promises need and nothing else (docs/RELIABILITY.md): each getUpdates batch is written before it is
handled (and so before the next poll confirms it to Telegram); handling a message writes, in one
transaction, the message, its contact-log entry (with the text, as the service's) and the outbox row of
the relay, and marks the update handled; a send is recorded after it (the row sent, and for a relay to a
worker the reply link by which the worker's answer finds the youth). Texts are encrypted (Fernet, as models.crypto does): the data concerns
minors. Three write transactions a relay, as the service's, on one SQLite file in WAL mode with
synchronous=NORMAL, as models.db sets it, and one writer at a time (a lock, as models.db's turns).

What it leaves out that the service does: routing (absences, the second worker, availability, follow-up
periods), the reply hooks (wake-ups, meetings, activities), acute words, languages, order per sender, the
outbox's lanes and retries, an ORM. Updates are handled side by side, in no order, as the bare relay does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import time

from cryptography.fernet import Fernet

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS roster (youth INTEGER PRIMARY KEY, worker INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS updates (update_id INTEGER PRIMARY KEY, body TEXT NOT NULL, handled INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, update_id INTEGER UNIQUE, chat INTEGER, body TEXT);
CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, youth INTEGER, worker INTEGER, direction TEXT, at REAL,
                                body TEXT);
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, chat INTEGER, body TEXT, youth INTEGER,
                                   state TEXT NOT NULL, message_id INTEGER);
CREATE TABLE IF NOT EXISTS links (chat INTEGER, message_id INTEGER, youth INTEGER, PRIMARY KEY (chat, message_id));
"""


class Store:
    """One SQLite file, one writer at a time; every method runs in a worker thread, off the event loop."""

    def __init__(self, path: str, roster: dict[int, int]):
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)
        self.lock = threading.Lock()
        self.fernet = Fernet(Fernet.generate_key())
        with self._tx() as c:
            c.executemany("INSERT OR REPLACE INTO roster VALUES (?, ?)", roster.items())

    @contextlib.contextmanager
    def _tx(self):
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def store(self, batch: list[tuple[int, dict]]) -> list[int]:
        """Write a getUpdates batch; the ids that were new (a batch fetched twice is handled once)."""
        with self._tx() as c:
            return [update_id for update_id, body in batch
                    if c.execute("INSERT INTO updates VALUES (?, ?, 0) ON CONFLICT DO NOTHING RETURNING update_id",
                                 (update_id, self.fernet.encrypt(json.dumps(body).encode()))).fetchone()]

    def handle(self, update_id: int, chat: int, text: str | None, reply_to: int | None) -> tuple[int, int] | None:
        """The message, its log entry and the relay's outbox row, in one transaction: (row, chat) to send."""
        with self._tx() as c:
            c.execute("UPDATE updates SET handled = 1 WHERE update_id = ?", (update_id,))
            if text is None:
                return None
            worker = c.execute("SELECT worker FROM roster WHERE youth = ?", (chat,)).fetchone()
            if worker is not None:
                youth, target, direction = chat, worker[0], "in"
            elif reply_to is not None:
                link = c.execute("SELECT youth FROM links WHERE chat = ? AND message_id = ?", (chat, reply_to)).fetchone()
                if link is None:
                    return None
                youth, target, direction = link[0], link[0], "out"
            else:
                return None
            body = self.fernet.encrypt(text.encode())
            c.execute("INSERT INTO messages (update_id, chat, body) VALUES (?, ?, ?)", (update_id, chat, body))
            c.execute("INSERT INTO log (youth, worker, direction, at, body) VALUES (?, ?, ?, ?, ?)",
                      (youth, target if direction == "in" else chat, direction, time.time(), body))
            row = c.execute("INSERT INTO outbox (chat, body, youth, state) VALUES (?, ?, ?, 'claimed') RETURNING id",
                            (target, body, youth if direction == "in" else None)).fetchone()[0]
            return row, target

    def record(self, row: int, message_id: int) -> None:
        """The send done; a relay to a worker keeps the link the worker's answer will come back by."""
        with self._tx() as c:
            chat, youth = c.execute("UPDATE outbox SET state = 'sent', message_id = ? WHERE id = ? RETURNING chat, youth",
                                    (message_id, row)).fetchone()
            if youth is not None:
                c.execute("INSERT INTO links VALUES (?, ?, ?)", (chat, message_id, youth))


@contextlib.asynccontextmanager
async def durable_bot(url: str, token: str, path: str, roster: dict[int, int]):
    """The relay: its own getUpdates loop (stored before the next poll confirms the batch), each update
    handled as a task of its own, sends through PTB with the same rate limiter as the bare relay."""
    from telegram.error import TelegramError
    from telegram.ext import AIORateLimiter, Application

    store = await asyncio.to_thread(Store, path, roster)
    app = (Application.builder().token(token).base_url(f"{url}/bot").base_file_url(f"{url}/file/bot")
           .rate_limiter(AIORateLimiter(max_retries=0, overall_max_rate=0)).updater(None).build())
    tasks: set[asyncio.Task] = set()
    # A worker can answer a relay before its send is recorded (the stand-in has it, the link is not yet
    # committed): an answer from a chat waits for the relays to that chat still being recorded.
    recording: dict[int, set[asyncio.Future]] = {}

    async def one(update) -> None:
        message = update.effective_message
        if message is None:
            return
        reply_to = message.reply_to_message.message_id if message.reply_to_message else None
        if reply_to is not None and recording.get(message.chat_id):
            await asyncio.gather(*recording[message.chat_id])
        todo = await asyncio.to_thread(store.handle, update.update_id, message.chat_id, message.text, reply_to)
        if todo is not None:  # a text to relay (handle() marks anything else handled and returns None)
            row, target = todo
            done = asyncio.get_running_loop().create_future()
            recording.setdefault(target, set()).add(done)
            try:
                sent = await app.bot.send_message(target, message.text)
                await asyncio.to_thread(store.record, row, sent.message_id)
            finally:
                recording[target].discard(done)
                done.set_result(None)

    def failed(task: asyncio.Task) -> None:
        # A relay that fails would show only as the benchmark's wait running out: say why, at once.
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("durable relay: an update failed", exc_info=task.exception())

    async def poll() -> None:
        offset = None
        while True:
            try:
                updates = await app.bot.get_updates(offset=offset, timeout=10)
            except TelegramError as exc:  # the stand-in busy, a timeout: poll again, as PTB's Updater does
                log.warning("durable relay: getUpdates failed (%s); polling again", type(exc).__name__)
                await asyncio.sleep(0.1)
                continue
            if not updates:
                continue
            new = set(await asyncio.to_thread(store.store, [(u.update_id, u.to_dict()) for u in updates]))
            offset = updates[-1].update_id + 1
            for update in updates:
                if update.update_id in new:
                    task = asyncio.create_task(one(update))
                    tasks.add(task)
                    task.add_done_callback(failed)

    async with app:
        poller = asyncio.create_task(poll())
        try:
            yield store
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(store.conn.close)
