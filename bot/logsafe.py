"""Logging a failure without what it was about: an exception's message may quote a phone number or a
message text (a driver error quotes its parameters, a careless raise its input), so the log gets where it
happened and the kind of error, never the message."""

from __future__ import annotations

import traceback


def where(exc: BaseException) -> str:
    """The traceback of `exc` with its type but not its message (nor chained exceptions' messages)."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    return f"Traceback (most recent call last):\n{frames}{type(exc).__module__}.{type(exc).__qualname__}"
