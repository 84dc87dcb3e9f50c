"""Queue sends in the caller's transaction; a sender loop delivers them with retries.

A row is claimed with a lease and the name of the claiming process before it is sent. If the process dies,
its rows are taken again: at once by a restarted process on the same machine (it sees the holder is gone),
otherwise when the lease runs out. What the dead process may have sent already:
- SMS and calls: before trying again, the sender asks Twilio for what went to that number since the first
  try; a match whose id no row has yet is the lost send, recorded instead of sent twice.
- Telegram cannot be asked. Its sends therefore go in at most TELEGRAM_WINDOW lanes side by side, each
  one send at a time, so a kill repeats at most TELEGRAM_WINDOW messages (one per lane in flight).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, update
from sqlmodel import Session

from bot.holder import dead_here, make_holder
from bot.i18n import has_voice
from bot.idle import idle
from bot.logsafe import where
from bot.out.transports.base import Button, Lookup, Outgoing, Receipt, Transport, TransportError
from bot.service import Service
from bot.sms_text import split_sms, split_text, utf16_length
from models import outbox as store
from models.conversations import RelayLink
from models.db import prepared
from models.outbox import FAILED, PENDING, SENDING, SENT, Outbox
from models.people import Person

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
RENEW_EVERY = LEASE.total_seconds() / 2  # seconds: a batch still being sent renews the lease of its rest
MAX_LANES = 50  # phone-number lanes under way at once (one per number); Telegram's TELEGRAM_WINDOW come on top
TELEGRAM_LANE = "telegram"
# Telegram sends in flight at once, in as many lanes, each one send at a time: what a kill can repeat. The
# rate is lanes / round trip, and Telegram's bound is 30/s: 4 lanes reach it up to a round trip of 133 ms
# (tens of ms here and from Norway to Telegram), and a kill repeats at most 4 messages.
TELEGRAM_WINDOW = 4
# Telegram rows taken at a time per lane: few, so a relay queued during a burst of wake-ups is next within
# a second (at 30/s a lane of 5 rows is done in 4 x 5 / 30 s, and one of the four comes free every 0.17 s).
TELEGRAM_BATCH = 5
# Telegram asks a bot to send a chat at most about one message a second, and answers more with 429: a lane
# waits that long between two sends to one chat (sends to other chats in its batch go first). The default of
# TETTPA_TELEGRAM_CHAT_GAP; tests that do not count Telegram's limits set it to 0.
TELEGRAM_CHAT_GAP = 1.0
# How far before a try a provider's record of it may be dated: the two clocks are not the same clock.
LOOKUP_MARGIN = timedelta(seconds=60)
TELEGRAM_TEXT_LIMIT = 4096
MAX_ATTEMPTS = 12


BACKOFF = timedelta(seconds=2)  # the default of TETTPA_OUTBOX_BACKOFF
MAX_BACKOFF = timedelta(minutes=10)


def backoff(attempts: int, first: timedelta = BACKOFF) -> timedelta:
    """`first`, then twice, four times ... as long (2 s, 4 s, 8 s ...), capped at 10 minutes: long enough for
    Telegram or Twilio to recover, and a message held up by a passing fault is tried again within seconds."""
    return min(MAX_BACKOFF, first * 2 ** (max(1, attempts) - 1))


def address_of(person: Person, channel: str | None = None) -> tuple[str, str] | None:
    """Where to reach a person: the channel asked for, else the one they last used, else any."""
    options = []
    if person.telegram_chat_id is not None:
        options.append(("telegram", str(person.telegram_chat_id)))
    if person.phone and not person.sms_opt_out:
        options.append(("sms", person.phone))
    if not options:
        return None
    for wanted in (channel, person.last_channel):
        for option in options:
            if option[0] == wanted:
                return option
    return options[0]


@dataclass(frozen=True)
class Send:
    """What one send is: its unique key, where it goes, what it says, and what it belongs to. The outbox keeps
    it as one row until a transport has sent it. `gather` (calls only): say the text inside a keypad prompt,
    and perform that action ("wake:12") for the called person when a key is pressed."""

    key: str
    channel: str
    address: str
    text: str | None
    person_id: int | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    conversation_id: int | None = None
    message_id: int | None = None
    copy: dict | None = None
    reply_to: str | None = None
    edit: str | None = None
    gather: str | None = None

    def payload(self) -> str:
        return json.dumps({
            "text": self.text,
            "buttons": [[[b.label, b.data] for b in row] for row in self.buttons],
            "copy": self.copy,
            "reply_to": self.reply_to,
            "edit": self.edit,
            "gather": self.gather,
            "language": None,
        })


def queue_send(session: Session, send: Send, now: datetime) -> Outbox | None:
    """Queue one send in the caller's transaction; None if a row with its key was queued before."""
    return store.enqueue(
        session, key=send.key, now=now, channel=send.channel, address=send.address, person_id=send.person_id,
        payload=send.payload(), conversation_id=send.conversation_id, message_id=send.message_id,
    )


def queue(
    session: Session, *, key: str, channel: str, address: str, text: str | None, now: datetime,
    person_id: int | None = None, buttons: tuple[tuple[Button, ...], ...] = (),
    conversation_id: int | None = None, message_id: int | None = None, copy: dict | None = None,
    reply_to: str | None = None, edit: str | None = None, gather: str | None = None,
) -> Outbox | None:
    """The keyword form of `queue_send` (kept for its callers): one `Send` made of the arguments."""
    return queue_send(session, Send(
        key=key, channel=channel, address=address, text=text, person_id=person_id, buttons=buttons,
        conversation_id=conversation_id, message_id=message_id, copy=copy, reply_to=reply_to, edit=edit,
        gather=gather,
    ), now)


def send_text(
    session: Session, *, key: str, person: Person, text: str | None, now: datetime, channel: str | None = None,
    buttons: tuple[tuple[Button, ...], ...] = (), conversation_id: int | None = None,
    message_id: int | None = None, copy: dict | None = None, reply_to: str | None = None,
    gather: str | None = None,
) -> Outbox | None:
    """Queue a text (or a Telegram copy) to a person on their channel; None if unreachable or queued before.

    channel="call" rings the person's phone and says the text (in their language)."""
    if channel == "call":
        if not person.phone:
            return None
        row = queue(session, key=key, channel="call", address=person.phone, text=text, now=now,
                    person_id=person.id, gather=gather)
        if row is not None:
            data = json.loads(row.payload)
            data["language"] = person.language
            row.payload = json.dumps(data)
            if not has_voice(person.language) and not person.sms_opt_out:
                # The call speaks Norwegian; the same words come by SMS in the person's own language.
                queue(session, key=f"{key}:sms", channel="sms", address=person.phone, text=text, now=now,
                      person_id=person.id)
        return row
    target = address_of(person, channel)
    if target is None:
        return None
    chan, address = target
    return queue_text(session, key=key, channel=chan, address=address, text=text, now=now, person_id=person.id,
                      buttons=buttons, conversation_id=conversation_id, message_id=message_id, copy=copy,
                      reply_to=reply_to)


def queue_text(
    session: Session, *, key: str, channel: str, address: str, text: str | None, now: datetime,
    person_id: int | None = None, buttons: tuple[tuple[Button, ...], ...] = (), conversation_id: int | None = None,
    message_id: int | None = None, copy: dict | None = None, reply_to: str | None = None,
) -> Outbox | None:
    """Queue a text to an address in as many parts as the channel needs; the first part, or None if it was
    queued before."""
    common = {"now": now, "person_id": person_id, "conversation_id": conversation_id, "message_id": message_id}
    if channel == "sms":
        # Buttons, copies and replies are Telegram things; an SMS carries the text alone, in parts that
        # each stay within one concatenated SMS.
        first = None
        for index, part in enumerate(split_sms(text or "")):
            row = queue(session, key=key if index == 0 else f"{key}:{index}", channel=channel, address=address,
                        text=part, **common)
            first = first or row
        return first
    # Telegram refuses a text over 4096 (UTF-16) characters: a long one goes in parts, the first carrying
    # the key, the buttons and the reply, so what refers to "the message" finds it as before.
    too_long = text is not None and utf16_length(text) > TELEGRAM_TEXT_LIMIT
    first = None
    for index, part in enumerate(split_text(text, TELEGRAM_TEXT_LIMIT, utf16_length) if too_long else [text]):
        row = queue(session, key=key if index == 0 else f"{key}:{index}", channel=channel, address=address,
                    text=part, buttons=buttons if index == 0 else (), copy=copy if index == 0 else None,
                    reply_to=reply_to if index == 0 else None, **common)
        first = first or row
    return first


def to_outgoing(row: Outbox) -> Outgoing:
    data = json.loads(row.payload)
    buttons = tuple(tuple(Button(label, value) for label, value in r) for r in data.get("buttons") or [])
    return Outgoing(
        channel=row.channel, address=row.address, text=data.get("text"), buttons=buttons,
        copy=data.get("copy"), reply_to=data.get("reply_to"),
        extra={"edit": data.get("edit"), "gather": data.get("gather"), "language": data.get("language")},
    )


@dataclass(frozen=True)
class Claimed:
    row_id: int
    channel: str
    out: Outgoing
    attempts: int
    tried_at: datetime | None  # an earlier request went out at this time; its outcome is unknown
    since: float = 0.0  # when (time.monotonic()) it was claimed
    renewed: float = 0.0  # when (time.monotonic()) its lease was last renewed while it waited in `ready`

    @property
    def leased_at(self) -> float:
        """From when its lease runs (time.monotonic())."""
        return max(self.since, self.renewed)

    @classmethod
    def of(cls, row: Outbox) -> Claimed:
        return cls(row.id, row.channel, to_outgoing(row), row.attempts, row.tried_at, time.monotonic())


def lane_of(channel: str, address: str) -> str:
    """Telegram sends share TELEGRAM_WINDOW lanes (a kill can then repeat at most one send per lane); a phone
    number has its own, so a hung Twilio request holds up only its own recipient."""
    return TELEGRAM_LANE if channel == "telegram" else address


def telegram_lanes(items: list[Claimed], free: list[str]) -> dict[str, list[Claimed]]:
    """Share claimed Telegram rows among the free lanes: all of a chat's rows in one lane, in their order (so
    each chat gets its messages in order), each chat to the lane with the fewest rows so far; within a lane
    the chats take turns, so a chat's second message does not hold up another chat's first."""
    chats: dict[str, list[Claimed]] = {}
    for item in items:
        chats.setdefault(item.out.address, []).append(item)
    lanes: dict[str, list[list[Claimed]]] = {name: [] for name in free}
    for rows in chats.values():
        min(lanes.values(), key=lambda groups: sum(map(len, groups))).append(rows)
    return {name: _turns(groups) for name, groups in lanes.items() if groups}


def _turns(groups: list[list[Claimed]]) -> list[Claimed]:
    """The first row of each chat, then the second of each, and so on."""
    return [group[i] for i in range(max(map(len, groups))) for group in groups if i < len(group)]


def _behind_lost(items: list[Claimed], mine: set[int]) -> set[int]:
    """Of rows in their order, those from the first one not `mine` (another sender took it) onwards, per chat:
    the lost row is the other sender's to send, and what comes after it for that chat must follow it."""
    lost_chats: set[str] = set()
    behind: set[int] = set()
    for item in items:
        if item.out.address in lost_chats or item.row_id not in mine:
            lost_chats.add(item.out.address)
            behind.add(item.row_id)
    return behind


@prepared
def _record_sent():
    """Mark a row sent and say what its reply link needs, in one UPDATE (Sender._sent); built once."""
    return (update(Outbox).where(Outbox.id == bindparam("row_id"), Outbox.status != SENT)
            .values(status=SENT, sent_at=bindparam("now"), external_id=bindparam("receipt"), error=None,
                    lease_until=None)
            .returning(Outbox.person_id, Outbox.channel, Outbox.address, Outbox.conversation_id, Outbox.message_id)
            .execution_options(synchronize_session=False))


class Sender:
    """Claims due rows and sends them; one send at a time per lane keeps each chat's messages in order,
    and lanes do not wait for each other."""

    def __init__(self, service: Service, transports: dict[str, Transport], on_permanent=None):
        self.service = service
        self.transports = transports
        # Called in the same transaction when a row fails for good (another channel, tell the worker).
        self.on_permanent = on_permanent
        self.holder = make_holder()
        # TETTPA_OUTBOX_LEASE (LEASE by default); a batch still being sent renews its rest every half lease.
        self.lease = getattr(service.settings, "outbox_lease", None) or LEASE
        self.backoff = getattr(service.settings, "outbox_backoff", None) or BACKOFF  # TETTPA_OUTBOX_BACKOFF, > 0
        gap = getattr(service.settings, "telegram_chat_gap", None)
        self.chat_gap = TELEGRAM_CHAT_GAP if gap is None else gap.total_seconds()
        self.wake = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None  # set by the runtime before it hands rows over
        # Rows claimed as they were queued (Service.tx, models.outbox.claim_queued), waiting for a lane.
        self.ready: list[Claimed] = []
        # Look in the database for due rows on the next round: woken by kick(), a lane of rows claimed from
        # it finished (there may be more), or a second passed (rows fall due; other processes queue).
        self.look = True
        self.looked_at = 0.0
        self.kicked_at = 0.0  # when (time.monotonic()) kick() was last called
        self.sent = 0
        self.retried = 0
        self.failed = 0
        self.handed_over = 0  # rows claimed as they were queued and handed over (no claim of their own)
        self.found = 0  # sends a dead process or a timed-out request had made, found at Twilio, not repeated
        self.unverified = 0  # sends made again after the lookup failed LOOKUP_ATTEMPTS times: maybe a repeat
        self.lanes: dict[str, asyncio.Task] = {}
        self.closed = False  # the service is stopping: rows handed over now are released, not sent
        self.releasing: list[threading.Thread] = []  # releasing rows handed over after `closed`
        self.chats: dict[str, set[str]] = {}  # Telegram lane -> the chats it is sending to
        self.chat_sent: dict[str, float] = {}  # Telegram chat -> when (loop time) a send to it last started
        # Sends the provider took whose recording failed (a constraint, a dropped connection): kept here and
        # recorded again each round, and never sent again by this process.
        self.unrecorded: dict[int, Receipt] = {}

    def kick(self) -> None:
        self.kicked_at = time.monotonic()
        self.look = True
        self.wake.set()

    def lease_until(self, now: datetime) -> datetime:
        """Until when a row claimed now is this sender's (Service.tx claims rows for it with this)."""
        return now + self.lease

    def hand(self, rows: list[Outbox]) -> None:
        """Rows a transaction claimed for this sender as it queued them, after its commit; from any thread.
        If the loop is gone (the process is stopping), they stay claimed: taken again like any other row
        whose sender stopped."""
        items = [Claimed.of(row) for row in rows]
        loop = self.loop
        if self.closed:
            # Committed after the service began stopping (its transaction saw this sender running): back to
            # pending here, in the committing thread, or they would wait out their lease, and every later
            # message to their chats behind them. The caller's transaction is committed: never raise into it.
            self._release_logged([item.row_id for item in items])
            return
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._take_handed(items)
            return
        try:
            loop.call_soon_threadsafe(self._take_handed, items)
        except RuntimeError:
            log.info("outbox: %s row(s) handed over while stopping; taken again after the restart", len(items))

    def _take_handed(self, items: list[Claimed]) -> None:
        if self.closed:  # handed over as the service stopped: release_ready may have run already
            thread = threading.Thread(target=self._release_logged, args=([item.row_id for item in items],),
                                      name="outbox release", daemon=True)
            self.releasing.append(thread)  # joined by Runtime.stop (join_releases)
            thread.start()
            return
        self.handed_over += len(items)
        self.ready.extend(items)
        self.wake.set()

    def release_ready(self) -> None:
        """On stopping: rows handed over and not yet in a lane go back to pending, for whichever sender is next
        (a restart need not wait for their lease). Blocking."""
        self.closed = True  # what is handed over from now on is released at once (hand)
        ready, self.ready = self.ready, []
        self._release([item.row_id for item in ready])

    def _release_logged(self, row_ids: list[int]) -> None:
        try:
            self._release(row_ids)
        except Exception as exc:  # they wait out their lease, then any sender takes them
            log.error("outbox: releasing %s row(s) failed\n%s", len(row_ids), where(exc))

    def join_releases(self, timeout: float) -> None:
        """Wait for the releases started as the service stopped (blocking)."""
        for thread in self.releasing:
            thread.join(timeout)
        self.releasing = [thread for thread in self.releasing if thread.is_alive()]

    def _release(self, row_ids: list[int]) -> None:
        """Rows claimed and not sent back to pending, for whichever sender is next. Blocking."""
        if not row_ids:
            return
        with self.service.tx() as session:  # conditional, as in _renew
            session.execute(
                update(Outbox).where(Outbox.id.in_(row_ids), Outbox.status == SENDING, Outbox.holder == self.holder)
                .values(status=PENDING, lease_until=None, holder=None, attempts=Outbox.attempts - 1)
                .execution_options(synchronize_session=False))

    async def run(self) -> None:
        try:
            while True:
                try:
                    busy = await self.start_lanes()
                except Exception:
                    log.exception("outbox round failed")
                    busy = False
                if not busy:
                    await idle(self.wake)
        finally:
            for lane in self.lanes.values():
                lane.cancel()

    async def run_once(self) -> bool:
        """Send one batch of due rows and wait for it; True if there was anything to send, or rows handed over
        still wait for a lane."""
        self.look = True
        busy = await self.start_lanes()
        await asyncio.gather(*self.lanes.values(), return_exceptions=True)
        return busy or bool(self.ready)

    async def start_lanes(self) -> bool:
        """Claim due rows of lanes with no send under way and start sending them; True if any. The database
        work runs in worker threads (Service.run): the event loop never waits for it."""
        self.lanes = {name: lane for name, lane in self.lanes.items() if not lane.done()}
        self.chats = {name: chats for name, chats in self.chats.items() if name in self.lanes}
        if self.unrecorded:
            await self.service.run(self._record_pending)
        await self._renew_ready()
        handed = self._start(self.ready, from_database=False)
        if not self.look and time.monotonic() - self.looked_at < 1.0:
            return handed  # nothing new in the database since the last look
        room = MAX_LANES - len(self.lanes)
        free = self._free_telegram_lanes()
        if room <= 0 and not free:
            return handed
        self.look, self.looked_at = False, time.monotonic()
        # Addresses with rows waiting in `ready` too: their rows are ours already, and come first.
        busy_phones = [name for name in self.lanes if name not in self.chats] + sorted(
            {i.out.address for i in self.ready if i.channel != TELEGRAM_LANE})
        busy_chats = sorted(set().union(*self.chats.values(), {i.out.address for i in self.ready
                                                              if i.channel == TELEGRAM_LANE}))
        if not await self.service.read(lambda session: store.might_claim(
                session, now=self.service.now(), holder=self.holder)):
            return handed  # nothing to claim: no write transaction (an idle second, or every lane busy)
        dead, claimed = await self.service.run(self._claim, room, busy_phones, len(free), busy_chats)
        if dead:
            log.info("outbox: took over the rows of %s process(es) that died on this machine", len(dead))
        self._start(claimed, from_database=True)
        return handed or bool(claimed)

    async def _renew_ready(self) -> None:
        """Rows handed over that have waited half their lease for a lane: extend it, or another sender would
        take them when it ran out and send them too. One that another sender took meanwhile is theirs; the
        rows after it for its chat go back to pending, to follow it in order."""
        at, half = time.monotonic(), min(RENEW_EVERY, self.lease.total_seconds() / 2)
        old = {item.row_id for item in self.ready if at - item.leased_at >= half}
        if not old:
            return
        mine = await self.service.run(self._renew, sorted(old))
        # Every waiting row counts for the order, not only those renewed: a fresh one can be behind a lost one.
        behind = _behind_lost(self.ready, mine | {item.row_id for item in self.ready if item.row_id not in old})
        if behind:
            log.warning("outbox: %s waiting row(s) taken by another sender; not sent here", len(behind))
        self.ready = [replace(item, renewed=at) if item.row_id in old else item
                      for item in self.ready if item.row_id not in behind]
        if behind & mine:
            await self.service.run(self._release, sorted(behind & mine))

    def _free_telegram_lanes(self) -> list[str]:
        return [f"{TELEGRAM_LANE}:{i}" for i in range(TELEGRAM_WINDOW) if f"{TELEGRAM_LANE}:{i}" not in self.lanes]

    def _start(self, claimed: list[Claimed], *, from_database: bool) -> bool:
        """Start lanes for claimed rows; True if any. Rows handed over (not `from_database`) whose lane or chat
        is busy, or beyond what the free Telegram lanes take, wait in `ready` for the next round; rows from
        the database were claimed to fit."""
        if not claimed:
            return False
        waiting: list[Claimed] = []
        by_lane: dict[str, list[Claimed]] = defaultdict(list)
        for item in claimed:
            if item.channel != TELEGRAM_LANE:
                by_lane[lane_of(item.channel, item.out.address)].append(item)
        if not from_database:
            room = MAX_LANES - len(self.lanes)
            for name in list(by_lane):
                if name in self.lanes or room <= 0:
                    waiting += by_lane.pop(name)
                else:
                    room -= 1
        telegram = [item for item in claimed if item.channel == TELEGRAM_LANE]
        free = self._free_telegram_lanes()
        if not from_database:
            busy = set().union(*self.chats.values())
            fits: list[Claimed] = []
            chats: set[str] = set()
            for item in telegram:
                # A chat a lane is sending to waits for it; so do chats beyond a batch for each free lane.
                if item.out.address in busy or (item.out.address not in chats
                                                 and len(fits) >= len(free) * TELEGRAM_BATCH):
                    waiting.append(item)
                    continue
                chats.add(item.out.address)
                fits.append(item)
            telegram = fits
        if not from_database:
            self.ready = waiting
        shared = telegram_lanes(telegram, free)
        for name, items in shared.items():
            self.chats[name] = {item.out.address for item in items}
        for name, items in {**by_lane, **shared}.items():
            self.lanes[name] = asyncio.create_task(self._lane(items, from_database), name=f"outbox lane {name}")
        return bool(by_lane or shared)

    def _claim(self, room: int, busy_phones: list[str], free_telegram: int,
               busy_chats: list[str]) -> tuple[list[str], list[Claimed]]:
        with self.service.tx() as session:
            dead = [h for h in store.holders(session) if h and dead_here(h, self.holder)]
            common = {"now": self.service.now(), "lease": self.lease, "holder": self.holder, "dead_holders": dead}
            rows = []
            if room > 0:
                rows += store.claim(session, limit=room, skip_channels=[TELEGRAM_LANE], skip_addresses=busy_phones,
                                    **common)
            if free_telegram:
                # Chats a lane is sending to wait for it: their messages stay in order.
                rows += store.claim(session, limit=free_telegram * TELEGRAM_BATCH, channels=[TELEGRAM_LANE],
                                    skip_addresses=busy_chats, **common)
            claimed = [Claimed.of(row) for row in rows]
        return dead, claimed

    async def _lane(self, items: list[Claimed], from_database: bool = True) -> None:
        claimed_at = min(item.since for item in items)
        try:
            await self._send_in_order(items)
        except Exception as exc:
            log.error("outbox lane failed\n%s", where(exc))  # its rows are taken again when their lease runs out
        finally:
            # Later rows for this lane's addresses may wait in the database: rows claimed from it may have
            # more behind them, and a row queued since they were claimed (it kicked) found its address busy.
            if from_database or self.kicked_at >= claimed_at:
                self.look = True
            self.wake.set()  # and rows handed over may wait in `ready` for this lane

    async def _send_in_order(self, items: list[Claimed]) -> None:
        stopped: set[str] = set()  # addresses whose row failed: their later rows wait for its retry
        # From when the first was claimed: a row handed over may have waited for a lane.
        renew_at = min(i.leased_at for i in items) + min(RENEW_EVERY, self.lease.total_seconds() / 2)
        held: set[int] = set()  # rows not to send here: taken by another sender, or behind one that was
        for index, item in enumerate(items):
            if item.out.address in stopped or item.row_id in held:
                continue
            if time.monotonic() >= renew_at:
                # Slow sends, or rows that waited in `ready`: keep the rest of the batch ours, or another
                # process would take it and send it too. A row its lease let go to another is theirs to send,
                # and the rows after it for its chat go back to pending, to follow it in order.
                rest = [i for i in items[index:] if i.out.address not in stopped and i.row_id not in held]
                mine = await self.service.run(self._renew, [i.row_id for i in rest])
                behind = _behind_lost(rest, mine)
                if behind:
                    log.warning("outbox: %s row(s) taken by another sender; not sent here", len(behind))
                    held |= behind
                    await self.service.run(self._release, sorted(behind & mine))
                renew_at = time.monotonic() + min(RENEW_EVERY, self.lease.total_seconds() / 2)
                if item.row_id in held:
                    continue
            if item.channel == TELEGRAM_LANE:
                await self._chat_gap(item.out.address)
            if await self._send_one(item):
                continue
            stopped.add(item.out.address)
            later = [i.row_id for i in items[index + 1:] if i.out.address == item.out.address]
            if later:
                await self.service.run(self._hold_back, item.row_id, later)

    async def _chat_gap(self, chat: str) -> None:
        """Wait until the chat gap (TETTPA_TELEGRAM_CHAT_GAP) has passed since the last send to this chat began."""
        loop = asyncio.get_running_loop()
        if len(self.chat_sent) > 1000:  # forget chats long done
            self.chat_sent = {c: t for c, t in self.chat_sent.items() if loop.time() - t < self.chat_gap}
        last = self.chat_sent.get(chat)
        if last is not None and loop.time() - last < self.chat_gap:
            await asyncio.sleep(self.chat_gap - (loop.time() - last))
        self.chat_sent[chat] = loop.time()

    def _hold_back(self, failed_id: int, later: list[int]) -> None:
        with self.service.tx() as session:
            due = session.get(Outbox, failed_id).due_at
            for later_id in later:
                row = self._locked(session, later_id)
                if self._mine(row):
                    row.status, row.lease_until, row.due_at = PENDING, None, due
                    row.attempts -= 1

    def _renew(self, row_ids: list[int]) -> set[int]:
        """Extend the lease of the rows still this sender's; their ids. One conditional UPDATE: a read, then a
        write would let another sender's claim in between on PostgreSQL (read committed)."""
        if not row_ids:
            return set()
        with self.service.tx() as session:
            return set(session.execute(
                update(Outbox).where(Outbox.id.in_(row_ids), Outbox.status == SENDING, Outbox.holder == self.holder)
                .values(lease_until=self.service.now() + self.lease).returning(Outbox.id)
                .execution_options(synchronize_session=False)).scalars())

    async def _send_one(self, item: Claimed) -> bool:
        """Send one claimed row (or find that an earlier request got through) and record it; False if it failed."""
        receipt = self.unrecorded.get(item.row_id)  # taken by the provider already: record, never send again
        transport = self.transports.get(item.channel)
        try:
            if receipt is None and transport is None:
                raise TransportError(f"channel {item.channel} is not configured")
            if receipt is None and isinstance(transport, Lookup):
                if item.tried_at is not None:
                    receipt = await self._find_or_give_up(transport.lookup, item)
                if receipt is None and not await self.service.run(self._tried, item.row_id):
                    return True  # the lookup took so long that another process has the row now: its turn
            if receipt is None:
                receipt = await transport.send(item.out)
        except TransportError as exc:
            await self.service.run(self._failed, item.row_id, exc, item.attempts)
            return False
        except Exception as exc:  # a bug in a transport must not stop the loop; treat it as passing
            log.error("transport %s crashed\n%s", item.channel, where(exc))
            await self.service.run(self._failed, item.row_id, TransportError(type(exc).__name__), item.attempts)
            return False
        # Recorded in a worker thread; a recording that fails keeps the receipt in memory, never resent.
        await self.service.run(self._record, item.row_id, receipt)
        return True

    async def _find_or_give_up(self, lookup, item: Claimed) -> Receipt | None:
        """The earlier request's send if the provider lists it; after too many failed lookups, None (send)."""
        try:
            return await self._find(lookup, item)
        except TransportError:
            if self._lookup_failed(item.row_id) < self.service.settings.lookup_attempts:
                raise  # the row waits for its next try, as before
            # Better a possible repeat than a wake-up or a message that never goes out.
            log.warning("outbox %s: the provider could not be asked %s times; sending it anyway", item.row_id,
                        self.service.settings.lookup_attempts)
            self.unverified += 1
            return None

    def _lookup_failed(self, row_id: int) -> int:
        """Count one failed lookup for a row; how many it has had."""
        with self.service.tx() as session:
            row = self._locked(session, row_id)
            row.lookups_failed = (row.lookups_failed or 0) + 1
            return row.lookups_failed

    async def _find(self, lookup, item: Claimed) -> Receipt | None:
        """The send an earlier request made, if the provider has it and no other row claims it."""
        candidates = await lookup(item.out, item.tried_at - LOOKUP_MARGIN)
        known = await self.service.read(lambda session: store.known_external_ids(session, candidates))
        for external_id in candidates:
            if external_id not in known:
                log.info("outbox %s: an earlier request got through; recorded, not sent again", item.row_id)
                self.found += 1
                return Receipt(external_id)
        return None

    def _mine(self, row: Outbox) -> bool:
        return row.status == SENDING and row.holder == self.holder

    @staticmethod
    def _locked(session: Session, row_id: int) -> Outbox:
        """The row, locked until the commit (PostgreSQL: FOR UPDATE; SQLite's writers take turns anyway).
        Read, then written on whether it is still ours: unlocked, another sender's claim could take it in
        between (read committed) and be overwritten, and the row then sent by both. `claim` skips a locked row
        (SKIP LOCKED), and one already claiming it makes this read wait for its commit and see it gone."""
        return session.get(Outbox, row_id, with_for_update=True)

    def _tried(self, row_id: int) -> bool:
        """Note the request about to go out, and keep the row for the whole of it; False if it is not ours."""
        with self.service.tx() as session:
            row = self._locked(session, row_id)
            if not self._mine(row):
                return False
            # The provider's clock is compared with this one, so it is the wall clock, not the service's.
            row.tried_at = datetime.now(UTC)
            row.lease_until = self.service.now() + self.lease
        return True

    def _record(self, row_id: int, receipt: Receipt) -> None:
        """Record a send the provider took: with its reply link, else the fact alone, else keep it to retry."""
        for link in (True, False):
            try:
                self._sent(row_id, receipt, link=link)
            except Exception as exc:
                # A constraint on the link, or the database gone for a moment: what matters is that the
                # row is marked sent, so it is never sent again.
                log.error("outbox %s: recording the send failed%s\n%s", row_id,
                          "" if link else " without its reply link too", where(exc))
                continue
            self.unrecorded.pop(row_id, None)
            self.sent += 1
            return
        self.unrecorded[row_id] = receipt

    def _record_pending(self) -> None:
        """Try again to record the sends whose recording failed, before anything else is claimed."""
        for row_id, receipt in list(self.unrecorded.items()):
            try:
                self._sent(row_id, receipt, link=False)
            except Exception:
                continue  # still failing; the row stays ours in memory and is not sent again here
            self.unrecorded.pop(row_id, None)
            self.sent += 1

    def _sent(self, row_id: int, receipt: Receipt, *, link: bool = True) -> None:
        now = self.service.now()
        with self.service.tx() as session:
            # Sent by us, whoever holds it now: recorded, so nobody sends it again (a row recorded before keeps
            # its first receipt, and the reply link made then). One UPDATE: the row's text is not read back,
            # only what a reply link needs.
            row = session.execute(_record_sent(), {"row_id": row_id, "now": now, "receipt": receipt.external_id}).first()
            if not link or receipt.external_id is None or row is None:
                return
            if row.conversation_id is not None and row.person_id is not None:
                session.add(RelayLink(
                    worker_id=row.person_id, channel=row.channel, address=row.address,
                    external_id=receipt.external_id, conversation_id=row.conversation_id,
                    message_id=row.message_id, created_at=now,
                ))

    def _failed(self, row_id: int, exc: TransportError, attempts: int) -> None:
        now = self.service.now()
        with self.service.tx() as session:
            row = self._locked(session, row_id)
            if not self._mine(row):
                return  # sent meanwhile, or another process took it when our lease ran out: its outcome counts
            row.error = str(exc)[:500]
            row.lease_until = None
            if exc.permanent or attempts >= MAX_ATTEMPTS:
                row.status = FAILED
                self.failed += 1
                log.warning("outbox %s failed for good after %s attempts: %s", row_id, attempts, row.error)
                if self.on_permanent is not None:
                    self.on_permanent(self.service, session, row)
                return
            row.status = PENDING
            if exc.retry_after is not None:
                row.due_at = now + timedelta(seconds=exc.retry_after)
                row.attempts -= 1  # flood control is not the message's fault
            else:
                row.due_at = now + backoff(attempts, self.backoff)
            self.retried += 1
            # The error names the provider's answer, never the text or the address.
            log.info("outbox %s (%s) attempt %s failed, again at %s: %s", row_id, row.channel, attempts,
                     row.due_at.strftime("%H:%M:%S"), row.error)
