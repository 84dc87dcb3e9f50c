"""The one way the service's background loops rest: until kicked, or a second at most."""

from __future__ import annotations

import asyncio
import contextlib


async def idle(wake: asyncio.Event, timeout: float = 1.0) -> None:
    """Wait for `wake` (someone queued work) or `timeout` (work may have fallen due), then re-arm it.

    Not asyncio.wait_for: on Python 3.11 it loses a cancellation that arrives as the event is set (the loop
    is stopped just as a lane finishes), and the loop it was to stop runs on, so the service never stops.
    asyncio.timeout keeps it."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await wake.wait()
    wake.clear()
