"""One contract for every channel: send(outgoing) -> receipt, or a TransportError that says whether
trying again can help."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Button:
    label: str
    data: str


@dataclass(frozen=True)
class Outgoing:
    channel: str
    address: str  # telegram chat id or E.164 number
    text: str | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    copy: dict | None = None  # telegram: {"chat_id": .., "message_id": ..} to copy media from
    reply_to: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    """A send the provider took; `external_id` None: it took it, but its answer could not be read."""

    external_id: str | None


class TransportError(Exception):
    """A send that failed. `permanent`: retrying will not help (blocked bot, bad number, opted out)."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class Transport(Protocol):
    async def send(self, out: Outgoing) -> Receipt: ...


@runtime_checkable
class Lookup(Protocol):
    """A channel whose provider can say what was sent: `lookup(out, since)` gives the ids of sends like `out`
    made since then, newest first. The outbox asks before trying a send again whose earlier request may
    have got through (a kill, a timeout), so it is recorded instead of sent twice."""

    async def lookup(self, out: Outgoing, since: datetime) -> list[str]: ...
