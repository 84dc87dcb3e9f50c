"""Queue sends in the caller's transaction; a sender loop delivers them with retries.

A row is claimed with a lease before it is sent. If the process dies mid-send, the lease runs out and
another sender takes the row again: at most one duplicate, and only for a send that was in flight.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from datetime import datetime, timedelta

from sqlmodel import Session

from bot.i18n import has_voice
from bot.service import Service
from bot.sms_text import split_sms, split_text, utf16_length
from bot.transports.base import Button, Outgoing, Transport, TransportError
from bot.wake import idle
from models import outbox as store
from models.conversations import RelayLink
from models.outbox import FAILED, PENDING, SENT, Outbox
from models.people import Person

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_LANES = 50  # sends under way at once, each to its own address
TELEGRAM_TEXT_LIMIT = 4096
MAX_ATTEMPTS = 12


def backoff(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s ... capped at 10 minutes: long enough for Telegram or Twilio to recover."""
    return timedelta(seconds=min(600, 2 ** max(1, attempts)))


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


def queue(
    session: Session, *, key: str, channel: str, address: str, text: str | None, now: datetime,
    person_id: int | None = None, buttons: tuple[tuple[Button, ...], ...] = (),
    conversation_id: int | None = None, message_id: int | None = None, copy: dict | None = None,
    reply_to: str | None = None, edit: str | None = None, gather: str | None = None,
) -> Outbox | None:
    """Queue one send to an address; None if a row with this key was queued before.

    `gather` (calls only): say the text inside a keypad prompt, and perform that action
    ("wake:12") for the called person when a key is pressed.
    """
    payload = {
        "text": text,
        "buttons": [[[b.label, b.data] for b in row] for row in buttons],
        "copy": copy,
        "reply_to": reply_to,
        "edit": edit,
        "gather": gather,
        "language": None,
    }
    return store.enqueue(
        session, key=key, now=now, channel=channel, address=address, person_id=person_id,
        payload=json.dumps(payload), conversation_id=conversation_id, message_id=message_id,
    )


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
    common = {"now": now, "person_id": person.id, "conversation_id": conversation_id, "message_id": message_id}
    if chan == "sms":
        # Buttons, copies and replies are Telegram things; an SMS carries the text alone, in parts that
        # each stay within one concatenated SMS.
        first = None
        for index, part in enumerate(split_sms(text or "")):
            row = queue(session, key=key if index == 0 else f"{key}:{index}", channel=chan, address=address,
                        text=part, **common)
            first = first or row
        return first
    # Telegram refuses a text over 4096 (UTF-16) characters: a long one goes in parts, the first carrying
    # the key, the buttons and the reply, so what refers to "the message" finds it as before.
    too_long = text is not None and utf16_length(text) > TELEGRAM_TEXT_LIMIT
    first = None
    for index, part in enumerate(split_text(text, TELEGRAM_TEXT_LIMIT, utf16_length) if too_long else [text]):
        row = queue(session, key=key if index == 0 else f"{key}:{index}", channel=chan, address=address,
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


class Sender:
    """Claims due rows and sends them; one send at a time per address keeps each chat's messages in order,
    and addresses do not wait for each other."""

    def __init__(self, service: Service, transports: dict[str, Transport], on_permanent=None):
        self.service = service
        self.transports = transports
        # Called in the same transaction when a row fails for good (another channel, tell the worker).
        self.on_permanent = on_permanent
        self.wake = asyncio.Event()
        self.sent = 0
        self.retried = 0
        self.failed = 0
        # One lane per address while it sends: a hung send (a Twilio timeout) holds up only its own recipient.
        self.lanes: dict[str, asyncio.Task] = {}

    def kick(self) -> None:
        self.wake.set()

    async def run(self) -> None:
        try:
            while True:
                try:
                    busy = self.start_lanes()
                except Exception:
                    log.exception("outbox round failed")
                    busy = False
                if not busy:
                    await idle(self.wake)
        finally:
            for lane in self.lanes.values():
                lane.cancel()

    async def run_once(self) -> bool:
        """Send one batch of due rows and wait for it; True if there was anything to send."""
        busy = self.start_lanes()
        await asyncio.gather(*self.lanes.values(), return_exceptions=True)
        return busy

    def start_lanes(self) -> bool:
        """Claim due rows of addresses with no send under way and start sending them; True if any."""
        self.lanes = {address: lane for address, lane in self.lanes.items() if not lane.done()}
        room = MAX_LANES - len(self.lanes)
        if room <= 0:
            return False
        with self.service.tx() as session:
            rows = store.claim(session, now=self.service.now(), lease=LEASE, limit=room,
                               skip_addresses=list(self.lanes))
            claimed = [(row.id, row.channel, to_outgoing(row), row.attempts) for row in rows]
        if not claimed:
            return False
        by_address: dict[str, list] = defaultdict(list)
        for item in claimed:
            by_address[item[2].address].append(item)
        for address, items in by_address.items():
            self.lanes[address] = asyncio.create_task(self._lane(items), name=f"outbox lane {len(self.lanes)}")
        return True

    async def _lane(self, items: list) -> None:
        try:
            await self._send_in_order(items)
        except Exception:
            log.exception("outbox lane failed")  # its rows are taken again when their lease runs out
        finally:
            self.wake.set()  # later rows for this address may wait for it

    async def _send_in_order(self, items: list) -> None:
        for index, (row_id, channel, out, attempts) in enumerate(items):
            ok = await self._send_one(row_id, channel, out, attempts)
            if not ok:
                # Keep the order in this chat: later rows wait for the failed one's retry.
                with self.service.tx() as session:
                    for later_id, *_ in items[index + 1:]:
                        later = session.get(Outbox, later_id)
                        later.status, later.lease_until = PENDING, None
                        later.attempts -= 1
                        later.due_at = session.get(Outbox, row_id).due_at
                return

    async def _send_one(self, row_id: int, channel: str, out: Outgoing, attempts: int) -> bool:
        transport = self.transports.get(channel)
        try:
            if transport is None:
                raise TransportError(f"channel {channel} is not configured")
            receipt = await transport.send(out)
        except TransportError as exc:
            self._failed(row_id, exc, attempts)
            return False
        except Exception as exc:  # a bug in a transport must not stop the loop; treat it as passing
            log.exception("transport %s crashed", channel)
            self._failed(row_id, TransportError(type(exc).__name__), attempts)
            return False
        with self.service.tx() as session:
            row = session.get(Outbox, row_id)
            row.status, row.sent_at, row.external_id, row.error = SENT, self.service.now(), receipt.external_id, None
            if row.conversation_id is not None and row.person_id is not None:
                session.add(RelayLink(
                    worker_id=row.person_id, channel=row.channel, address=row.address,
                    external_id=receipt.external_id, conversation_id=row.conversation_id,
                    message_id=row.message_id, created_at=self.service.now(),
                ))
        self.sent += 1
        return True

    def _failed(self, row_id: int, exc: TransportError, attempts: int) -> None:
        now = self.service.now()
        with self.service.tx() as session:
            row = session.get(Outbox, row_id)
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
                row.due_at = now + backoff(attempts)
            self.retried += 1
