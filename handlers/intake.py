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

Dispatcher = Callable[[dict], Awaitable[bool]]


class Unhandleable(Exception):
    """A stored item no attempt can ever handle (not JSON, not an update PTB can read): it is parked with
    this reason instead of being tried again for ever."""


def store_telegram(service: Service, updates: list[dict]) -> int:
    """Store a batch of raw updates and move the offset past them, in one transaction. Blocking: from async
    code, `await service.run(store_telegram, service, updates)`."""
    stored = 0
    with service.tx() as session:
        for update in updates:
            update_id = update.get("update_id")
            if not isinstance(update_id, int):
                continue
            stored += inbound.store(session, source="telegram", key=f"tg:{update_id}",
                                    payload=json.dumps(update), now=service.now())
        ids = [u["update_id"] for u in updates if isinstance(u.get("update_id"), int)]
        if ids:
            current = int(kv.get(session, "telegram_offset", "0"))
            kv.put(session, "telegram_offset", str(max(current, max(ids) + 1)))
    return stored


class Intake:
    """Handles stored inbound items in order, each once; a failure leaves it to be tried again.

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
        settings = service.settings
        self.lease = getattr(settings, "intake_lease", None) or LEASE  # TETTPA_INTAKE_LEASE
        self.backoff = getattr(settings, "intake_backoff", None) or timedelta(seconds=2)  # TETTPA_INTAKE_BACKOFF

    def kick(self) -> None:
        self.wake.set()

    async def run(self) -> None:
        while True:
            try:
                busy = await self.run_once()
            except Exception:
                log.exception("intake round failed")
                busy = False
            if not busy:
                await idle(self.wake)

    async def run_once(self) -> bool:
        now = self.service.now()
        self.retry_at = {k: v for k, v in self.retry_at.items() if v > now}
        dead, items = await self.service.read(self._due, now)
        taken = 0
        for item_id, source, payload, attempts in items:
            mine = await self.service.write(lambda session, item_id=item_id: inbound.take(
                session, item_id=item_id, holder=self.holder, now=self.service.now(), lease=self.lease,
                dead_holders=dead))
            if not mine:
                continue  # another process took it a moment ago
            taken += 1
            await self._handle(item_id, source, payload, attempts)
        return taken > 0

    def _due(self, session, now: datetime) -> tuple[list[str], list[tuple]]:
        dead = [h for h in inbound.holders(session) if dead_here(h, self.holder)]
        # Only channels on in this process; another process (or a restart) handles the rest.
        items = [(i.id, i.source, i.payload, i.attempts) for i in inbound.pending(
            session, now=now, sources=list(self.dispatchers), skip=list(self.retry_at),
            holder=self.holder, dead_holders=dead)]
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


async def poll_telegram(service: Service, application: Application, on_stored: Callable[[], None],
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
    while True:
        started = asyncio.get_running_loop().time()
        try:
            offset = await service.read(lambda session: int(kv.get(session, "telegram_offset", "0")))
            updates = await bot.do_api_request(
                "getUpdates",
                api_kwargs={"offset": offset, "timeout": POLL_TIMEOUT, "allowed_updates": ALLOWED_UPDATES},
                read_timeout=POLL_TIMEOUT + 10,
            )
            if updates:
                await service.run(store_telegram, service, updates)
                on_stored()
            elif asyncio.get_running_loop().time() - started < EMPTY_POLL_PAUSE:
                # Telegram holds an empty poll for POLL_TIMEOUT; an API that answers at once must not be asked
                # again at once, or the loop spins.
                await asyncio.sleep(EMPTY_POLL_PAUSE)
            delay = first
            report("polling")
            continue
        except RetryAfter as exc:
            report("polling (flood control)")
            await asyncio.sleep(_seconds(exc.retry_after))
            continue
        except (NetworkError, Conflict, InvalidToken, TelegramError) as exc:
            log.warning("getUpdates failed (%s); trying again in %.1f s", type(exc).__name__, delay)
            report(f"polling (retrying: {type(exc).__name__})")
        except Exception as exc:  # the database: the batch stays at Telegram until it can be stored
            log.warning("storing updates failed (%s); trying again in %.1f s", type(exc).__name__, delay)
            report(f"polling (retrying: {type(exc).__name__})")
        await asyncio.sleep(delay)
        delay = min(delay * 2, max(30.0, first))


def _seconds(value) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)
