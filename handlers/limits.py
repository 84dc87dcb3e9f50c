"""Request bodies read with a byte cap before anything parses them, and numbers small enough for the database.

Starlette's request.form() and request.body() read whatever comes, however long (a chunked body has no
Content-Length to check first), and multipart bodies spool to disk and need python-multipart. Every body
this service takes is a small urlencoded form or a small JSON object, so: refuse multipart, stop reading
at the cap, and only then parse."""

from __future__ import annotations

import json
from datetime import date, datetime
from urllib.parse import parse_qsl

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request

TWILIO_FORM_BYTES = 64_000  # Twilio's largest webhooks (an SMS with 10 media URLs) are a few kB
TELEGRAM_UPDATE_BYTES = 1_000_000
DASHBOARD_FORM_BYTES = 64_000  # a note is at most a few thousand characters
MAX_FIELDS = 200
MAX_JSON_DEPTH = 64  # Telegram updates nest a handful of levels; deeper is not an update
DB_INT_MAX = 2**63 - 1  # the largest id or number a BIGINT (and SQLite's INTEGER) holds
# Dates people mean: before or after these, Python's date arithmetic and the database's columns overflow.
from bot.timespec import FIRST_DAY, LAST_DAY  # noqa: E402  (one range for every date the service reads)


class BodyRefused(HTTPException):
    """The body was not read: too large, or multipart, which no route here takes (both 413). Starlette answers it
    with that status wherever it is raised."""

    def __init__(self, status: int, reason: str):
        super().__init__(status_code=status, detail=reason)


async def read_capped(request: Request, limit: int, *, multipart: bool = False) -> bytes:
    """The body, read as a stream and abandoned at `limit` bytes; multipart is refused unread, unless the
    caller takes an upload (`multipart`)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind.startswith("multipart/") and not multipart:
        raise BodyRefused(413, "multipart bodies are not accepted")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyRefused(413, "too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyRefused(413, "too large")
    return bytes(body)


def parse_form(body: bytes) -> FormData:
    """An urlencoded form from a capped body; a body that is not one raises ValueError."""
    pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                      max_num_fields=MAX_FIELDS)
    return FormData(pairs)


async def capped_upload(request: Request, limit: int) -> FormData:
    """A form that may carry one file (multipart), read with a byte cap before anything parses it."""
    # Starlette parses the form from the body already read here, not from the socket.
    request._body = await read_capped(request, limit, multipart=True)
    return await request.form(max_files=1, max_fields=MAX_FIELDS)


async def capped_form(request: Request, limit: int) -> FormData:
    """The urlencoded form of a request, read with a byte cap (BodyRefused: 413, or ValueError when malformed)."""
    return parse_form(await read_capped(request, limit))


def _depth(value, limit: int) -> int:
    """How deeply lists and objects nest in a parsed JSON value (stops counting past `limit`)."""
    deepest, level = 0, [(value, 1)]
    while level:
        item, depth = level.pop()
        if depth > limit:
            return depth
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            level += [(child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)]
    return deepest


def parse_json(body: bytes, max_depth: int = MAX_JSON_DEPTH):
    """JSON from a capped body; ValueError for bad JSON and for nesting deeper than `max_depth`."""
    try:
        value = json.loads(body)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if _depth(value, max_depth) > max_depth:
        raise ValueError("nested too deeply")
    return value


def db_int(value) -> int | None:
    """A non-negative whole number the database can hold, from text or int; None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value <= DB_INT_MAX else None
    text = str(value or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    number = int(text)
    return number if number <= DB_INT_MAX else None


def sane_day(day: date) -> bool:
    """A date within FIRST_DAY..LAST_DAY: arithmetic around it and its storage cannot overflow."""
    return FIRST_DAY <= day <= LAST_DAY


def sane_moment(moment: datetime) -> bool:
    return sane_day(moment.date())
