"""The one clock the core asks, so tests move time instead of sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta


def system_now() -> datetime:
    return datetime.now(UTC)


class FakeClock:
    """A clock for tests: starts at a given moment and moves only when told."""

    def __init__(self, start: datetime):
        self.at = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta | None = None, **kwargs) -> datetime:
        self.at += delta or timedelta(**kwargs)
        return self.at


Clock = Callable[[], datetime]
