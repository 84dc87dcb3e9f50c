"""What the core needs from its surroundings, passed explicitly: settings, database, clock, wake-ups."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import Session

from bot.clock import Clock, system_now
from bot.settings import Settings
from models.db import transaction


@dataclass
class Service:
    settings: Settings
    engine: Engine
    clock: Clock = system_now
    # Called after a transaction queued something to send, so the outbox sender wakes at once.
    kick_outbox: Callable[[], None] = field(default=lambda: None)

    def tx(self) -> AbstractContextManager[Session]:
        return transaction(self.engine)

    def now(self):
        return self.clock()
