"""The one way the service's background loops rest: until kicked, or a second at most."""

from __future__ import annotations

import asyncio
import contextlib


async def idle(wake: asyncio.Event, timeout: float = 1.0) -> None:
    """Wait for `wake` (someone queued work) or `timeout` (work may have fallen due), then re-arm it."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), timeout=timeout)
    wake.clear()
