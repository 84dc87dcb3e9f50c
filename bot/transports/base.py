"""One contract for every channel: send(outgoing) -> receipt, or a TransportError that says whether
trying again can help."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


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
    external_id: str


class TransportError(Exception):
    """A send that failed. `permanent`: retrying will not help (blocked bot, bad number, opted out)."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class Transport(Protocol):
    async def send(self, out: Outgoing) -> Receipt: ...
