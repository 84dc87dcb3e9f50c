"""Intake: everything from outside is stored first, acknowledged second, and handled once from the store.

PTB's own polling confirms a whole getUpdates batch as soon as it is fetched, so a crash before the
handlers ran would lose it. Here the batch is written to the database first; Telegram only forgets an
update when the next getUpdates carries an offset past it, which happens after the rows are committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application

from bot.holder import dead_here, make_holder
from bot.idle import idle
from bot.logsafe import where
from bot.service import Service
from models import inbound, kv
from models.inbound import Inbound

log = logging.getLogger(__name__)

# We call getUpdates through do_api_request on purpose: it returns the raw JSON we store, where
# Bot.get_updates would hand back parsed objects. PTB warns about that choice; it is deliberate.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getUpdates'", category=UserWarning)

ALLOWED_UPDATES = ["message", "callback_query"]
LEASE = timedelta(seconds=60)  # an item being handled is this process's for so long (handling takes ms)
POLL_TIMEOUT = 20  # seconds Telegram holds a getUpdates open
EMPTY_POLL_PAUSE = 1.0  # seconds: the least time between two polls that came back empty

DB_ROUND_EVERY = 1.0  # seconds: the longest the intake goes without asking the database what is due

Dispatcher = Callable[[dict], Awaitable[bool]]
Taken = tuple[int, str, str, int]  # an item taken for handling: id, source, payload, attempts so far


class Unhandleable(Exception):
    """A stored item no attempt can ever handle (not JSON, not an update PTB can read): it is parked with
    this reason instead of being tried again for ever."""


def store_telegram(service: Service, updates: list[dict], intake: Intake | None = None) -> list[Taken]:
    """Store a batch of raw updates, taken for `intake`, and move the offset past them, in one transaction;
    the items stored (not those stored before), to hand to `intake.hand` after it. Without an intake they are
    stored for whichever intake looks in the database. Blocking: from async code,
    `await service.run(store_telegram, service, updates, intake)`."""
    taken: list[Taken] = []
    with service.tx() as session:
        for update in updates:
            update_id = update.get("update_id")
            if not isinstance(update_id, int):
                continue
            key, payload = f"tg:{update_id}", json.dumps(update)
            if intake is not None:
                taken += intake.store(session, source="telegram", key=key, payload=payload)
            elif inbound.store(session, source="telegram", key=key, payload=payload, now=service.now()):
                taken.append((0, "telegram", payload, 0))  # counted; not handed over (nobody took it)
        ids = [u["update_id"] for u in updates if isinstance(u.get("update_id"), int)]
        if ids:
            current = int(kv.get(session, "telegram_offset", "0"))
            kv.put(session, "telegram_offset", str(max(current, max(ids) + 1)))
    return taken


class Intake:
    """Handles stored inbound items in order, each once; a failure leaves it to be tried again.

    What this process stores it takes in the same transaction (`store`) and is handed (`hand`) after the
    commit, so it is handled without asking the database again. The database is asked when kicked and at
    least every DB_ROUND_EVERY for anything else due (a retry, another process's item, one left from before
    a restart); it leaves out what was handed over (taken here and not tried yet), so nothing is handled
    along both ways.

    A failed item is tried again after 2, 4, 8 and 16 s. After FAST_ATTEMPTS failures it is stuck: it is
    tried every SLOW_RETRY (10 min) until it is handled, and /healthz and /metrics count it. Nothing is
    ever given up: a stored message must not silently stop being handled.
    """

    def __init__(self, service: Service):
        self.service = service
        # Filled as each channel becomes ready (Telegram's once its Application is initialized).
        self.dispatchers: dict[str, Dispatcher] = {}
        self.wake = asyncio.Event()
        self.handled = 0
        # A failed item waits before its next attempt, so a passing fault does not use up all of them at once.
        # Only this process's memory: what survives a restart is in the row (see inbound.slow_due).
        self.retry_at: dict[int, datetime] = {}
        self.holder = make_holder()
        self.handed: list[tuple[Taken, float]] = []  # items this process stored, and when (time.monotonic())
        self.clear_at: float | None = None  # when the database last had nothing due (time.monotonic())
        settings = service.settings
        self.lease = getattr(settings, "intake_lease", None) or LEASE  # TETTPA_INTAKE_LEASE
        self.backoff = getattr(settings, "intake_backoff", None) or timedelta(seconds=2)  # TETTPA_INTAKE_BACKOFF

    def kick(self) -> None:
        """Look in the database on the next round (a channel became ready, or something was stored there)."""
        self.clear_at = None
        self.wake.set()

    def store(self, session, *, source: str, key: str, payload: str) -> list[Taken]:
        """Store one item in the caller's transaction, taken for this intake; [] if it was stored before.
        After the commit, hand the result to `hand`."""
        now = self.service.now()
        item_id = inbound.store_taken(session, source=source, key=key, payload=payload, now=now,
                                      holder=self.holder, lease_until=now + self.lease)
        return [] if item_id is None else [(item_id, source, payload, 0)]

    def hand(self, items: list[Taken]) -> None:
        """Items `store` took, after their commit (on the event loop)."""
        at = time.monotonic()
        self.handed += [(item, at) for item in items]
        self.wake.set()

    async def run(self) -> None:
        while True:
            now, at = self.service.now(), time.monotonic()
            # The database is asked when kicked, once a second, and while it has items due.
            look = (self.clear_at is None or at - self.clear_at >= DB_ROUND_EVERY
                    or any(due <= now for due in self.retry_at.values()))
            try:
                busy = await self.run_once(look=look)
            except Exception:
                log.exception("intake round failed")
                busy = False
            if not busy:
                since = 0.0 if self.clear_at is None else time.monotonic() - self.clear_at
                await idle(self.wake, max(0.01, DB_ROUND_EVERY - since))

    async def run_once(self, look: bool = True) -> bool:
        """One round: the items handed over, and (with `look`) every other item due in the database, all in
        the order they came in. True if any was handled."""
        now, at = self.service.now(), time.monotonic()
        self.retry_at = {k: v for k, v in self.retry_at.items() if v > now}
        handed = self.handed
        self.handed = [h for h in handed if h[0][1] not in self.dispatchers]  # its channel is not ready yet
        # An item handed over is this process's since it was stored; one that waited half its lease is taken
        # again first, so it stays ours for the whole of its handling.
        work = {item[0]: (item, at - handed_at >= self.lease.total_seconds() / 2)
                for item, handed_at in handed if item[1] in self.dispatchers}
        # Handed items not handled yet go back to be handed again if this round fails part-way (the look
        # below leaves them out, so nothing else would find them before their lease ends).
        left = {item[0]: (item, handed_at) for item, handed_at in handed if item[1] in self.dispatchers}
        taken = 0
        try:
            dead: list[str] = []
            if look:
                dead, items = await self.service.read(self._due, now)
                self.clear_at = None if items else at  # with items due there may be more: ask again next round
                for item in items:
                    work.setdefault(item[0], (item, True))
            for item_id in sorted(work):
                (_, source, payload, attempts), take = work[item_id]
                if take:
                    mine = await self.service.write(lambda session, item_id=item_id: inbound.take(
                        session, item_id=item_id, holder=self.holder, now=self.service.now(), lease=self.lease,
                        dead_holders=dead))
                    if not mine:
                        left.pop(item_id, None)
                        continue  # another process took it a moment ago
                    # Ours now, and left out of the database look as handed over: kept if this round fails.
                    left[item_id] = (work[item_id][0], time.monotonic())  # taken again just now
                taken += 1
                await self._handle(item_id, source, payload, attempts)
                left.pop(item_id, None)
        finally:
            if left:
                self.handed = sorted(left.values(), key=lambda h: h[0][0]) + self.handed
        return taken > 0

    def _due(self, session, now: datetime) -> tuple[list[str], list[tuple]]:
        dead = [h for h in inbound.holders(session) if dead_here(h, self.holder)]
        # Only channels on in this process; another process (or a restart) handles the rest.
        items = [(i.id, i.source, i.payload, i.attempts) for i in inbound.pending(
            session, now=now, sources=list(self.dispatchers), skip=list(self.retry_at),
            holder=self.holder, dead_holders=dead, handed_by=self.holder)]
        return dead, items

    async def _handle(self, item_id: int, source: str, payload: str, attempts: int) -> None:
        """Handle one taken item. Its handler's transaction commits its effects and its "handled" mark
        together (see models.inbound.Handling); a crash before that commit leaves the item unhandled and
        its effects undone, a crash after it leaves it handled."""
        stuck = attempts >= inbound.FAST_ATTEMPTS
        parked = None
        state, token = inbound.handling(item_id, self.holder)
        try:
            ok = await self.dispatchers[source](_payload(payload))
            if not ok:
                state.error = state.error or "handler failed"
        except Unhandleable as exc:
            parked = str(exc)
            log.error("inbound %s (%s) can never be handled (%s); parked", item_id, source, exc)
        except Exception as exc:
            state.failed(exc)
            # Only the item's id, channel and the kind of error: never a text or a number.
            if stuck:
                log.warning("stuck inbound %s (%s) failed again (%s, attempt %d)", item_id, source,
                            type(exc).__name__, attempts + 1)
            else:
                log.error("inbound %s (%s) failed\n%s", item_id, source, where(exc))
        finally:
            inbound.end_handling(token)
        if parked is not None:
            await self.service.write(self._park, item_id, parked)
            return
        if state.marked:  # its effects and its mark were committed together: handled, whatever came after
            self.handled += 1
            if stuck:
                log.info("stuck inbound %s (%s) handled after %d attempts", item_id, source, attempts + 1)
            return
        if state.error is None:  # nothing to write (an update of a kind nobody handles): just the mark
            with contextlib.suppress(inbound.LostItem):
                await self.service.write(lambda session: inbound.mark_handled(session, state, now=self.service.now()))
                self.handled += 1
            return
        await self.service.write(self._failed, item_id, source, state.error)

    def _park(self, session, item_id: int, problem: str) -> None:
        """An item no retry can help (not JSON, not an update PTB can read): kept with its reason, not retried."""
        row = session.get(Inbound, item_id)
        if row.processed_at is not None or row.holder != self.holder:
            return
        row.holder = row.lease_until = None
        row.attempts += 1
        row.parked_at, row.error = self.service.now(), problem

    def _failed(self, session, item_id: int, source: str, problem: str) -> None:
        row = session.get(Inbound, item_id)
        if row.processed_at is not None or row.holder != self.holder:
            return  # handled meanwhile, or no longer ours
        row.holder = row.lease_until = None
        row.attempts += 1
        row.error = problem
        if row.attempts < inbound.FAST_ATTEMPTS:
            delay = self.backoff * 2 ** (row.attempts - 1)  # 2, 4, 8, 16 s by default
        else:
            delay = inbound.SLOW_RETRY
            if row.attempts == inbound.FAST_ATTEMPTS:
                log.error("inbound %s (%s) failed %d times (%s); trying it every %d min until it "
                          "is handled", item_id, source, row.attempts, problem,
                          int(inbound.SLOW_RETRY.total_seconds() // 60))
        self.retry_at[item_id] = self.service.now() + delay
        # Kept as a lease, so another process does not try it before its back-off is over.
        row.holder, row.lease_until = self.holder, self.service.now() + delay


def _payload(payload: str):
    """A stored item's JSON; one that does not read is Unhandleable."""
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        raise Unhandleable("payload is not JSON") from None


def telegram_dispatcher(application: Application) -> Dispatcher:
    """Feed a stored update through PTB's handlers; False if a handler raised."""

    async def dispatch(data: dict) -> bool:
        # A handler that fails says so on the item being handled (handlers.telegram.commands.error), so the
        # outcome travels with the item, not through the application's shared state.
        try:
            update = Update.de_json(data, application.bot)
        except Exception as exc:  # a malformed update reads no better the next time
            raise Unhandleable(f"not a Telegram update PTB can read ({type(exc).__name__})") from None
        await application.process_update(update)
        return True

    return dispatch


async def poll_telegram(service: Service, application: Application, intake: Intake,
                        report: Callable[[str], None] = lambda state: None) -> None:
    """Long-poll getUpdates, storing each batch before asking for the next.

    Nothing here ends the loop: a Telegram error or a database error (the database locked by another
    process, PostgreSQL restarting) is logged by its kind and tried again with back-off. A batch that could
    not be stored is fetched again, since the offset only moves past what is stored."""
    bot = application.bot
    # TETTPA_POLL_BACKOFF (1 s): the first wait after a failed poll, doubled each time up to 30 s.
    first = getattr(service.settings, "poll_backoff", None)
    first = 1.0 if first is None else first.total_seconds()
    delay = first
    offset = None  # past what is stored: read once, then moved by each batch stored here
    while True:
        started = asyncio.get_running_loop().time()
        try:
            if offset is None:
                offset = await service.read(lambda session: int(kv.get(session, "telegram_offset", "0")))
            updates = await bot.do_api_request(
                "getUpdates",
                api_kwargs={"offset": offset, "timeout": POLL_TIMEOUT, "allowed_updates": ALLOWED_UPDATES},
                read_timeout=POLL_TIMEOUT + 10,
            )
            if updates:
                intake.hand(await service.run(store_telegram, service, updates, intake))
                ids = [u["update_id"] for u in updates if isinstance(u.get("update_id"), int)]
                offset = max([offset, *(i + 1 for i in ids)])
            elif asyncio.get_running_loop().time() - started < EMPTY_POLL_PAUSE:
                # Telegram holds an empty poll for POLL_TIMEOUT; an API that answers at once must not be asked
                # again at once, or the loop spins.
                await asyncio.sleep(EMPTY_POLL_PAUSE)
            delay = first
            report("polling")
            continue
        except RetryAfter as exc:
            offset = None
            report("polling (flood control)")
            await asyncio.sleep(_seconds(exc.retry_after))
            continue
        except (NetworkError, Conflict, InvalidToken, TelegramError) as exc:
            offset = None  # read again: another process may have polled meanwhile
            log.warning("getUpdates failed (%s); trying again in %.1f s", type(exc).__name__, delay)
            report(f"polling (retrying: {type(exc).__name__})")
        except Exception as exc:  # the database: the batch stays at Telegram until it can be stored
            offset = None
            log.warning("storing updates failed (%s); trying again in %.1f s", type(exc).__name__, delay)
            report(f"polling (retrying: {type(exc).__name__})")
        await asyncio.sleep(delay)
        delay = min(delay * 2, max(30.0, first))


def _seconds(value) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)
