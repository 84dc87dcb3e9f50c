"""Local stand-in for the Twilio REST API (2010-04-01), for tests and the sandbox mode.

The stand-in is a Starlette ASGI app with relative routes, so it can be served on its own
(tests run it in a background thread) or mounted as a sub-app of the product's app at
``/sandbox/twilio`` and share its event loop.  Point the real ``twilio`` library at it with::

    client = twilio.rest.Client(stand_in.account_sid, stand_in.auth_token)
    client.api.base_url = "http://127.0.0.1:PORT"          # or ".../sandbox/twilio"

Requests are checked against the OpenAPI definition in ``specs/twilio_api_v2010.json``: every
form field must be declared in the operation's requestBody schema, required fields must be
present, and enum, pattern, type and URL formats must hold.  Real Twilio silently ignores unknown
parameters; the stand-in refuses them (in strict mode) because a misspelt parameter is a bug in
the product that the real service would never report.  On top of the schema, the business rules
real Twilio enforces (E.164 ``To``, ``From`` owned by the account, a body or media, TwiML that
parses, ...) are refused with the error codes Twilio uses.  Every refusal is recorded in
``violations`` so a test can assert that the product stayed within the contract.

Module-level helpers cover the other direction: webhooks Twilio sends to the service
(inbound SMS, voice, status callbacks), signed exactly like Twilio signs them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import functools
import hmac
import json
import re
import threading
import time
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from twilio.request_validator import RequestValidator

__all__ = [
    "API_VERSION",
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "SPEC_PATH",
    "TwilioStandIn",
    "ainbound_call",
    "ainbound_sms",
    "asigned_post",
    "inbound_call",
    "inbound_sms",
    "signed_post",
    "GSM7_ALPHABET",
    "sms_encoding",
    "sms_segments",
]

API_VERSION = "2010-04-01"
SPEC_PATH = Path(__file__).resolve().parent / "specs" / "twilio_api_v2010.json"
DEFAULT_ACCOUNT_SID = "AC" + "7e77a9a5" * 4
DEFAULT_AUTH_TOKEN = "5a4db0c5" * 4

_ACCOUNT_SID_RE = re.compile(r"^AC[0-9a-fA-F]{32}$")
# E.164: a plus, a non-zero country code digit, at most 15 digits in all.
_E164_RE = re.compile(r"^\+[1-9]\d{1,14}$")
_INTEGER_RE = re.compile(r"^-?\d+$")
_MAX_BODY_CHARS = 1600

_MESSAGES = f"/{API_VERSION}/Accounts/{{AccountSid}}/Messages.json"
_MESSAGE = f"/{API_VERSION}/Accounts/{{AccountSid}}/Messages/{{Sid}}.json"
_CALLS = f"/{API_VERSION}/Accounts/{{AccountSid}}/Calls.json"
_CALL = f"/{API_VERSION}/Accounts/{{AccountSid}}/Calls/{{Sid}}.json"
_NUMBERS = f"/{API_VERSION}/Accounts/{{AccountSid}}/IncomingPhoneNumbers.json"
_NUMBER = f"/{API_VERSION}/Accounts/{{AccountSid}}/IncomingPhoneNumbers/{{Sid}}.json"

# Twilio's own wording for the error codes the stand-in returns, used when fail_next() is given
# a code without a message, so injected errors read like the real ones in logs.
_ERROR_MESSAGES = {
    20001: "Invalid parameter",
    20003: "Authenticate",
    20004: "Method not allowed",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    20503: "Service unavailable",
    21201: "No 'To' number is specified",
    21205: "Url parameter is required",
    21210: "'From' phone number not verified",
    21211: "Invalid 'To' Phone Number",
    21212: "Invalid 'From' Phone Number",
    21213: "No 'From' number is specified",
    21220: "Invalid call state. Call is not in-progress. Cannot redirect.",
    21266: "'To' and 'From' number cannot be the same",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
    21603: "A 'From' phone number is required",
    21604: "A 'To' phone number is required",
    21606: "The 'From' phone number provided is not a valid, message-capable Twilio phone number for this account",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    21617: "The concatenated message body exceeds the 1600 character limit",
    21619: "A text message body or media urls must be specified",
    12100: "Document parse failure",
    30003: "Unreachable destination handset",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
}
_DEFAULT_CODE_FOR_STATUS = {
    400: 20001,
    401: 20003,
    404: 20404,
    405: 20004,
    429: 20429,
    500: 20500,
    503: 20503,
}

# Codes real Twilio uses when a required parameter is missing; other missing fields get 20001.
_MISSING_CODES = {
    ("Messages", "To"): 21604,
    ("Calls", "To"): 21201,
    ("Calls", "From"): 21213,
}


# --------------------------------------------------------------------------------------------
# The OpenAPI definition


@functools.cache
def _spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def _resolve(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        node: Any = _spec()
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


@functools.cache
def _request_schema(path: str, method: str) -> tuple[str, dict[str, Mapping[str, Any]], tuple[str, ...]]:
    """(title, properties, required) of an operation's form-encoded requestBody."""
    body = _spec()["paths"][path][method]["requestBody"]
    schema = _resolve(body["content"]["application/x-www-form-urlencoded"]["schema"])
    properties = {name: _resolve(prop) for name, prop in schema.get("properties", {}).items()}
    return schema.get("title", f"{method.upper()} {path}"), properties, tuple(schema.get("required", ()))


@functools.cache
def _resource_fields(name: str) -> tuple[str, ...]:
    return tuple(_spec()["components"]["schemas"][name]["properties"])


@functools.cache
def _enum(name: str) -> tuple[str, ...]:
    return tuple(_spec()["components"]["schemas"][name]["enum"])


@functools.cache
def _spec_path_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple(
        (path, re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"))
        for path in _spec()["paths"]
    )


def _value_problem(value: str, schema: Mapping[str, Any]) -> str | None:
    """Why a single form value does not satisfy its (non-array) property schema, or None."""
    if "enum" in schema and value not in schema["enum"]:
        return f"{value!r} is not one of {list(schema['enum'])}"
    kind = schema.get("type")
    if kind == "integer" and not _INTEGER_RE.match(value):
        return f"{value!r} is not an integer"
    if kind == "number":
        try:
            float(value)
        except ValueError:
            return f"{value!r} is not a number"
    if kind == "boolean" and value not in ("true", "false"):
        return f"{value!r} is not a boolean (true/false)"
    if kind == "string":
        if "minLength" in schema and len(value) < schema["minLength"]:
            return f"{value!r} is shorter than {schema['minLength']} characters"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{value!r} is longer than {schema['maxLength']} characters"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return f"{value!r} does not match {schema['pattern']}"
        ignore_format = schema.get("x-twilio", {}).get("ignoreFormat", False)
        if schema.get("format") == "uri" and not ignore_format:
            return _url_problem(value)
        if schema.get("format") == "date-time":
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return f"{value!r} is not an ISO 8601 date-time"
    return None


def _url_problem(value: str) -> str | None:
    # Twilio: "URL must contain a valid hostname and underscores are not allowed".  A relative
    # or scheme-less callback URL is a classic configuration bug worth catching here.
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
    except ValueError:
        return f"{value!r} is not a valid URL"
    if parts.scheme not in ("http", "https") or not hostname:
        return f"{value!r} is not an absolute http(s) URL"
    if "_" in hostname:
        return f"{value!r} has an underscore in its hostname"
    return None


def _schema_problems(kind: str, fields: Mapping[str, list[str]], path: str) -> list[tuple[int, str, bool]]:
    """(error code, description, tolerable) for every way the form fields break the schema.

    "Tolerable" problems are those real Twilio lets through (it ignores unknown parameters and
    coerces sloppy values); a missing required parameter is refused by Twilio as well.
    """
    title, properties, required = _request_schema(path, "post")
    problems: list[tuple[int, str]] = []
    for name, values in fields.items():
        schema = properties.get(name)
        if schema is None:
            problems.append((20001, f"Unknown parameter {name!r}: not in {title}", True))
            continue
        if schema.get("type") == "array":
            item_schema = _resolve(schema.get("items", {}))
            items = values
        else:
            if len(values) > 1:
                problems.append((20001, f"Parameter {name!r} given {len(values)} times", True))
            item_schema, items = schema, values[:1]
        for value in items:
            problem = _value_problem(value, item_schema)
            if problem:
                problems.append((20001, f"Invalid parameter {name!r}: {problem}", True))
    for name in required:
        if not any(fields.get(name, [])):
            code = _MISSING_CODES.get((kind, name), 20001)
            message = f"{_ERROR_MESSAGES.get(code, 'Missing required parameter')}: {name!r}"
            problems.append((code, message, False))
    return problems


# --------------------------------------------------------------------------------------------
# SMS segment counting


# GSM 03.38 (3GPP TS 23.038, 6.2.1) default alphabet as its 8 x 16 code table, written as Unicode code
# points column by column, and the extension table (reached by the escape 0x1B) as code -> code point.
# Written out from the specification, not from the product's texts (bot/sms_text.py), so that a mistake
# in one is not repeated in the other. 0x09 is the capital C with cedilla, as in the specification.
_GSM7_CODE_TABLE = (
    "0040 00A3 0024 00A5 00E8 00E9 00F9 00EC 00F2 00C7 000A 00D8 00F8 000D 00C5 00E5"  # 0x00-0x0F
    " 0394 005F 03A6 0393 039B 03A9 03A0 03A8 03A3 0398 039E 001B 00C6 00E6 00DF 00C9"  # 0x10-0x1F
    " 0020 0021 0022 0023 00A4 0025 0026 0027 0028 0029 002A 002B 002C 002D 002E 002F"  # 0x20-0x2F
    " 0030 0031 0032 0033 0034 0035 0036 0037 0038 0039 003A 003B 003C 003D 003E 003F"  # 0x30-0x3F
    " 00A1 0041 0042 0043 0044 0045 0046 0047 0048 0049 004A 004B 004C 004D 004E 004F"  # 0x40-0x4F
    " 0050 0051 0052 0053 0054 0055 0056 0057 0058 0059 005A 00C4 00D6 00D1 00DC 00A7"  # 0x50-0x5F
    " 00BF 0061 0062 0063 0064 0065 0066 0067 0068 0069 006A 006B 006C 006D 006E 006F"  # 0x60-0x6F
    " 0070 0071 0072 0073 0074 0075 0076 0077 0078 0079 007A 00E4 00F6 00F1 00FC 00E0"  # 0x70-0x7F
).split()
_GSM7_EXTENSION_TABLE = {0x0A: 0x000C, 0x14: 0x005E, 0x28: 0x007B, 0x29: 0x007D, 0x2F: 0x005C,
                         0x3C: 0x005B, 0x3D: 0x007E, 0x3E: 0x005D, 0x40: 0x007C, 0x65: 0x20AC}
ESCAPE = 0x1B
_GSM7_BASIC = frozenset(chr(int(point, 16)) for code, point in enumerate(_GSM7_CODE_TABLE) if code != ESCAPE)
_GSM7_EXTENSION = frozenset(chr(point) for point in _GSM7_EXTENSION_TABLE.values())
GSM7_ALPHABET = _GSM7_BASIC | _GSM7_EXTENSION  # every character a GSM-7 SMS can carry


def sms_encoding(body: str) -> str:
    """'GSM-7' if every character fits the GSM default alphabet, else 'UCS-2'."""
    if all(char in _GSM7_BASIC or char in _GSM7_EXTENSION for char in body):
        return "GSM-7"
    return "UCS-2"


def sms_segments(body: str) -> int:
    """How many SMS segments Twilio bills for ``body``.

    A single segment holds 160 GSM-7 septets or 70 UCS-2 code units; once split, each part
    loses room to the concatenation header (153 / 67).  An escape pair (GSM-7 extension) or a
    surrogate pair (UCS-2, e.g. emoji) is never split across two parts.
    """
    if sms_encoding(body) == "GSM-7":
        units = [2 if char in _GSM7_EXTENSION else 1 for char in body]
        single, part = 160, 153
    else:
        units = [2 if ord(char) > 0xFFFF else 1 for char in body]
        single, part = 70, 67
    if sum(units) <= single:
        return 1
    segments, used = 1, 0
    for unit in units:
        if used + unit > part:
            segments, used = segments + 1, 0
        used += unit
    return segments


# --------------------------------------------------------------------------------------------
# HTTP plumbing


class _TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, dict(headers or {})


def _error_response(
    status: int, code: int, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    # The legacy error shape; the twilio library turns it into TwilioRestException(status, code).
    # (A body with "type" and "title" would make it raise TwilioServiceException instead.)
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
        headers=dict(headers or {}),
    )


class _DroppedConnection(Response):
    """Sends headers promising a body, then ends the exchange without it.

    ASGI gives an app no way to close the socket before the status line, so this is the closest
    thing to a dropped connection: uvicorn closes the transport and the client fails while
    reading (requests: ChunkedEncodingError, httpx: RemoteProtocolError).  The 503 status means
    a client that somehow ignored the truncation still sees a failure, never a success.
    """

    def __init__(self) -> None:
        super().__init__(status_code=503)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"128")],
            }
        )


def _rfc2822(moment: datetime | None) -> str | None:
    return format_datetime(moment) if moment is not None else None


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _is_phone_number(value: str) -> bool:
    return bool(_E164_RE.match(value.removeprefix("whatsapp:")))


# --------------------------------------------------------------------------------------------
# The stand-in


class TwilioStandIn:
    """In-memory Twilio account: records messages and calls, injects faults, sends callbacks.

    All state is guarded by one lock, so the ASGI app (on the server's event loop thread) and a
    test (on the main thread) can use it concurrently.  ``messages``/``calls`` return snapshots.

    ``strict=False`` makes the stand-in as lenient as real Twilio about the schema (unknown
    fields, bad types) while still recording those as violations; business-rule refusals that
    real Twilio makes (invalid To, unowned From, no body) happen in both modes.

    ``callback_rewrite`` maps a StatusCallback URL (what the product advertises publicly, e.g.
    ``https://tettpa.example/twilio/status``) to the address the stand-in can actually reach;
    the signature is always computed over the URL as given to Twilio.
    """

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        *,
        strict: bool = True,
        numbers: Iterable[str] = ("+4790000000",),
        callback_rewrite: Callable[[str], str] | None = None,
    ) -> None:
        if not _ACCOUNT_SID_RE.match(account_sid):
            raise ValueError(f"account_sid must be 'AC' + 32 hex digits, got {account_sid!r}")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.strict = strict
        self.numbers = tuple(numbers)
        if not self.numbers or not all(_E164_RE.match(number) for number in self.numbers):
            raise ValueError(f"numbers must be E.164 phone numbers, got {self.numbers!r}")
        self.callback_rewrite = callback_rewrite
        self._validator = RequestValidator(auth_token)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._messages: list[dict[str, Any]] = []
        self._calls: list[dict[str, Any]] = []
        self._violations: list[str] = []
        self._faults: dict[str, list[dict[str, Any]]] = {"Messages": [], "Calls": []}
        # Ways third-party Twilio emulators were seen to misbehave (see misbehave()).
        self.ignore_filters = False
        self.omit_dates = False
        self._garble = {"Messages": 0, "Calls": 0}
        # The account's numbers as IncomingPhoneNumbers resources: what `tettpa connect twilio` configures.
        self._numbers = [self._new_number(number) for number in self.numbers]
        self.app = Starlette(
            routes=[
                Route(_MESSAGES, self._endpoint(self._messages_root), methods=["GET", "POST"]),
                Route(_MESSAGE, self._endpoint(self._fetch_message), methods=["GET"]),
                Route(_CALLS, self._endpoint(self._calls_root), methods=["GET", "POST"]),
                Route(_CALL, self._endpoint(self._call_item), methods=["GET", "POST"]),
                Route(_NUMBERS, self._endpoint(self._numbers_root), methods=["GET"]),
                Route(_NUMBER, self._endpoint(self._number_item), methods=["GET", "POST"]),
                Route(
                    "/{path:path}",
                    self._unknown,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
                ),
            ]
        )

    # -- inspection --------------------------------------------------------------------------

    @property
    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._messages)

    @property
    def calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._calls)

    @property
    def violations(self) -> list[str]:
        with self._lock:
            return list(self._violations)

    def sms_to(self, number: str) -> list[str]:
        with self._lock:
            return [message["body"] for message in self._messages if message["to"] == number]

    def wait_sms(self, number: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least ``count`` messages to ``number`` exist; return all of them."""
        return self._wait(self._messages, "SMS", number, count, timeout)

    def wait_call(self, number: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least ``count`` calls to ``number`` exist; return all of them."""
        return self._wait(self._calls, "call", number, count, timeout)

    def _wait(
        self, records: list[dict[str, Any]], what: str, number: str, count: int, timeout: float
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [record for record in records if record["to"] == number]
                if len(found) >= count:
                    return copy.deepcopy(found)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            existing = [
                f"  {record['sid']} {record['from_']} -> {record['to']}: "
                f"{record.get('body', record.get('twiml') or record.get('url'))!r}"
                for record in records
            ]
            detail = "\n".join(existing) or "  (none)"
            violations = "\n".join(f"  {violation}" for violation in self._violations) or "  (none)"
        raise AssertionError(
            f"expected {count} {what}(s) to {number} within {timeout}s, found {len(found)}.\n"
            f"All {what}s:\n{detail}\nRefused requests:\n{violations}"
        )

    def reset(self) -> None:
        """Forget messages, calls, violations and pending faults (the sandbox's "clear" button)."""
        with self._changed:
            self._messages.clear()
            self._calls.clear()
            self._violations.clear()
            for queue in self._faults.values():
                queue.clear()
            self._changed.notify_all()

    # -- fault injection ---------------------------------------------------------------------

    def fail_next(
        self,
        kind: str = "Messages",
        *,
        status: int = 500,
        code: int | None = None,
        message: str | None = None,
        times: int = 1,
        delay: float = 0.0,
        drop_connection: bool = False,
    ) -> None:
        """Make the next ``times`` valid requests to ``kind`` ("Messages" or "Calls") fail.

        Requests that break the contract are still refused (and recorded) first, so a fault
        never hides a violation.  ``delay`` waits before answering; with a ``status`` below 400
        the request then succeeds normally, which simulates a slow API.  ``drop_connection``
        ends the exchange without a usable response.
        """
        if kind not in self._faults:
            raise ValueError(f"kind must be one of {sorted(self._faults)}, got {kind!r}")
        if times < 1:
            raise ValueError("times must be at least 1")
        code = code if code is not None else _DEFAULT_CODE_FOR_STATUS.get(status, status)
        fault = {
            "status": status,
            "code": code,
            "message": message or _ERROR_MESSAGES.get(code, f"Injected failure {code}"),
            "remaining": times,
            "delay": delay,
            "drop_connection": drop_connection,
        }
        with self._lock:
            self._faults[kind].append(fault)

    def faults_left(self, kind: str = "Messages") -> int:
        """Requests still to meet a fault set with fail_next: 0 once every fault has met its request (a
        delayed one is then being held)."""
        with self._lock:
            return sum(fault["remaining"] for fault in self._faults[kind])

    def misbehave(self, *, ignore_filters: bool = False, omit_dates: bool = False) -> None:
        """Act like emulators seen in the wild: lists ignore To/From (so they show other numbers' records),
        and resources come without ``date_created``. Real Twilio does neither; a product must cope anyway."""
        with self._lock:
            self.ignore_filters, self.omit_dates = ignore_filters, omit_dates

    def garble_next(self, kind: str = "Messages", *, times: int = 1) -> None:
        """The next ``times`` creations succeed, but are answered with a body that is not JSON."""
        with self._lock:
            self._garble[kind] += times

    def _garbled(self, kind: str) -> Response | None:
        with self._lock:
            if not self._garble[kind]:
                return None
            self._garble[kind] -= 1
        return Response("<html>upstream answered</html>", status_code=201, media_type="text/html")

    def set_status(self, kind: str, sid: str, status: str) -> None:
        """Give message or call ``sid`` another status without a callback (a record the product only lists)."""
        with self._changed:
            self._find(self._messages if kind == "Messages" else self._calls, sid)["status"] = status
            self._changed.notify_all()

    async def _apply_fault(self, kind: str) -> Response | None:
        with self._lock:
            queue = self._faults[kind]
            if not queue:
                return None
            fault = dict(queue[0])
            queue[0]["remaining"] -= 1
            if queue[0]["remaining"] <= 0:
                queue.pop(0)
        if fault["delay"]:
            await asyncio.sleep(fault["delay"])
        if fault["drop_connection"]:
            return _DroppedConnection()
        if fault["status"] >= 400:
            return _error_response(fault["status"], fault["code"], fault["message"])
        return None

    # -- callbacks Twilio sends about resources it holds -------------------------------------

    def deliver(
        self,
        sid: str,
        status: str = "delivered",
        *,
        error_code: int | None = None,
        post_url: str | None = None,
    ) -> httpx.Response | None:
        """Move message ``sid`` to ``status`` and POST Twilio's signed status callback.

        Returns the service's response, or None when the message has no StatusCallback.
        ``post_url`` overrides where the request goes (the signature stays over StatusCallback).
        """
        prepared = self._message_callback(sid, status, error_code, post_url)
        if prepared is None:
            return None
        target, url, params = prepared
        return signed_post(target, url, params, self.auth_token)

    async def adeliver(
        self,
        sid: str,
        status: str = "delivered",
        *,
        error_code: int | None = None,
        post_url: str | None = None,
    ) -> httpx.Response | None:
        """deliver() for code running on an event loop (the sandbox), which must not block."""
        prepared = self._message_callback(sid, status, error_code, post_url)
        if prepared is None:
            return None
        target, url, params = prepared
        return await asigned_post(target, url, params, self.auth_token)

    def _message_callback(
        self, sid: str, status: str, error_code: int | None, post_url: str | None
    ) -> tuple[str, str, dict[str, str]] | None:
        if status not in _enum("message_enum_status"):
            raise ValueError(f"status must be one of {_enum('message_enum_status')}, got {status!r}")
        if status in ("failed", "undelivered") and error_code is None:
            # Twilio always reports why; 30008 is its "Unknown error".
            error_code = 30008
        now = _now()
        with self._changed:
            message = self._find(self._messages, sid)
            message["status"] = status
            message["error_code"] = error_code
            message["error_message"] = _ERROR_MESSAGES.get(error_code) if error_code else None
            message["date_updated"] = now
            if status in ("sent", "delivered", "undelivered", "read") and message["date_sent"] is None:
                message["date_sent"] = now
            self._changed.notify_all()
            url = message["status_callback"]
            if not url:
                return None
            params = {
                "MessageSid": sid,
                "SmsSid": sid,
                "MessageStatus": status,
                "SmsStatus": status,
                "AccountSid": self.account_sid,
                "From": message["from_"] or self.numbers[0],
                "To": message["to"],
                "ApiVersion": API_VERSION,
            }
            if message["messaging_service_sid"]:
                params["MessagingServiceSid"] = message["messaging_service_sid"]
            if error_code is not None:
                params["ErrorCode"] = str(error_code)
        return self._callback_target(url, post_url), url, params

    def progress_call(
        self,
        sid: str,
        status: str = "completed",
        *,
        duration: int | None = None,
        answered_by: str | None = None,
        post_url: str | None = None,
    ) -> httpx.Response | None:
        """Move call ``sid`` to ``status`` and send the status callback Twilio would send.

        Twilio only calls StatusCallback for the events listed in StatusCallbackEvent (default:
        just "completed", which covers every terminal status), so this returns None when the
        call has no callback or did not subscribe to the event.
        """
        prepared = self._call_callback(sid, status, duration, answered_by, post_url)
        if prepared is None:
            return None
        method, target, url, params = prepared
        return _send(_signed_request(method, target, url, params, self.auth_token), timeout=10.0)

    async def aprogress_call(
        self,
        sid: str,
        status: str = "completed",
        *,
        duration: int | None = None,
        answered_by: str | None = None,
        post_url: str | None = None,
    ) -> httpx.Response | None:
        prepared = self._call_callback(sid, status, duration, answered_by, post_url)
        if prepared is None:
            return None
        method, target, url, params = prepared
        return await _asend(_signed_request(method, target, url, params, self.auth_token), timeout=10.0)

    def _call_callback(
        self, sid: str, status: str, duration: int | None, answered_by: str | None, post_url: str | None
    ) -> tuple[str, str, str, dict[str, str]] | None:
        if status not in _enum("call_enum_status"):
            raise ValueError(f"status must be one of {_enum('call_enum_status')}, got {status!r}")
        now = _now()
        terminal = status in ("completed", "busy", "failed", "no-answer", "canceled")
        event = {"queued": "initiated", "ringing": "ringing", "in-progress": "answered"}.get(
            status, "completed"
        )
        with self._changed:
            call = self._find(self._calls, sid)
            call["status"] = status
            call["date_updated"] = now
            if status == "in-progress" and call["start_time"] is None:
                call["start_time"] = now
            if terminal:
                call["end_time"] = now
                call["duration"] = duration if duration is not None else 0
            if answered_by is not None:
                call["answered_by"] = answered_by
            self._changed.notify_all()
            url = call["status_callback"]
            if not url or event not in call["status_callback_event"]:
                return None
            params = {
                "CallSid": sid,
                "AccountSid": self.account_sid,
                "From": call["from_"],
                "To": call["to"],
                "Caller": call["from_"],
                "Called": call["to"],
                "CallStatus": status,
                "Direction": "outbound-api",
                "ApiVersion": API_VERSION,
                "CallbackSource": "call-progress-events",
                # Counts the callbacks sent for this call, starting at 0.
                "SequenceNumber": str(call["sequence_number"]),
                "Timestamp": format_datetime(now),
            }
            if terminal:
                params["CallDuration"] = str(call["duration"])
            if call["answered_by"]:
                params["AnsweredBy"] = call["answered_by"]
            call["sequence_number"] += 1
            method = call["status_callback_method"]
        return method, self._callback_target(url, post_url), url, params

    def _callback_target(self, url: str, post_url: str | None) -> str:
        if post_url is not None:
            return post_url
        return self.callback_rewrite(url) if self.callback_rewrite else url

    @staticmethod
    def _find(records: list[dict[str, Any]], sid: str) -> dict[str, Any]:
        for record in records:
            if record["sid"] == sid:
                return record
        raise KeyError(f"no resource with sid {sid!r}; known: {[record['sid'] for record in records]}")

    # -- request handling --------------------------------------------------------------------

    def _endpoint(self, handler: Callable[[Request, dict[str, list[str]]], Any]) -> Callable[[Request], Any]:
        """Wrap a handler with what every operation shares: auth, account check, form decoding."""

        async def endpoint(request: Request) -> Response:
            try:
                self._authenticate(request)
                account_sid = request.path_params["AccountSid"]
                if account_sid != self.account_sid:
                    self._refuse(
                        request,
                        404,
                        20404,
                        f"The requested resource {request.url.path} was not found "
                        f"(AccountSid {account_sid!r} is not the authenticated account)",
                    )
                fields = await self._form(request) if request.method == "POST" else {}
                return await handler(request, fields)
            except _TwilioError as error:
                return _error_response(error.status, error.code, error.message, error.headers)

        return endpoint

    def _authenticate(self, request: Request) -> None:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        username = password = ""
        if scheme.lower() == "basic":
            try:
                username, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                username = password = ""
        valid = hmac.compare_digest(username.encode(), self.account_sid.encode()) and hmac.compare_digest(
            password.encode(), self.auth_token.encode()
        )
        if not valid:
            raise _TwilioError(
                401, 20003, "Authenticate", headers={"WWW-Authenticate": 'Basic realm="Twilio API"'}
            )

    async def _form(self, request: Request) -> dict[str, list[str]]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            self._refuse(
                request,
                400,
                20001,
                f"Content-Type must be application/x-www-form-urlencoded, got {content_type or 'none'!r}",
            )
        raw = await request.body()
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
        except (UnicodeDecodeError, ValueError) as error:
            self._refuse(request, 400, 20001, f"Malformed form body: {error}")
        fields: dict[str, list[str]] = {}
        for name, value in pairs:
            fields.setdefault(name, []).append(value)
        return fields

    def _refuse(self, request: Request, status: int, code: int, message: str) -> NoReturn:
        self._record(request, message)
        raise _TwilioError(status, code, message)

    def _record(self, request: Request, problem: str) -> None:
        with self._changed:
            self._violations.append(f"{request.method} {request.url.path}: {problem}")
            self._changed.notify_all()

    def _check_schema(self, request: Request, kind: str, path: str, fields: dict[str, list[str]]) -> None:
        problems = _schema_problems(kind, fields, path)
        for _, problem, _ in problems:
            self._record(request, problem)
        blocking = [(code, problem) for code, problem, tolerable in problems if self.strict or not tolerable]
        if blocking:
            raise _TwilioError(400, blocking[0][0], "; ".join(problem for _, problem in blocking))

    def _check_from(self, request: Request, from_: str, code: int) -> None:
        if from_.removeprefix("whatsapp:") not in self.numbers:
            self._refuse(
                request,
                400,
                code,
                f"{_ERROR_MESSAGES[code]}: {from_!r} is not one of this account's numbers {list(self.numbers)}",
            )

    @staticmethod
    def _one(fields: dict[str, list[str]], name: str) -> str | None:
        values = fields.get(name)
        return values[0] if values else None

    # Lists (GET on the collection): what a product reads to find out what it sent

    def _query(self, request: Request, path: str) -> dict[str, str]:
        """The query parameters of a GET on `path`, each checked against the spec's declared parameters."""
        declared = {
            parameter["name"]: _resolve(parameter.get("schema", {}))
            for parameter in _spec()["paths"][path]["get"].get("parameters", [])
            if parameter.get("in") == "query"
        }
        query: dict[str, str] = {}
        for name, value in request.query_params.multi_items():
            schema = declared.get(name)
            problem = (f"Unknown parameter {name!r}: not a query parameter of GET {path}" if schema is None
                       else _value_problem(value, schema))
            if problem:
                self._record(request, problem)
                if self.strict:
                    raise _TwilioError(400, 20001, problem)
            query[name] = value
        return query

    def _list(self, request: Request, kind: str, path: str, records: list[dict[str, Any]],
              render: Callable[[dict[str, Any]], dict[str, Any]]) -> Response:
        """One page of a collection, newest first, filtered by To and From like Twilio's list."""
        query = self._query(request, path)
        filters = {"to": query.get("To"), "from_": query.get("From")}
        page_size = min(1000, int(query.get("PageSize") or 50))
        page = int(query.get("Page") or 0)
        with self._lock:
            matching = [record for record in reversed(records)
                        if self.ignore_filters
                        or all(value is None or record[field] == value for field, value in filters.items())]
            chunk = [render(record) for record in matching[page * page_size:(page + 1) * page_size]]
        def page_uri(number: int) -> str:
            return request.url.path + "?" + urlencode({**query, "PageSize": page_size, "Page": number})

        more = len(matching) > (page + 1) * page_size
        body = {
            "end": page * page_size + max(0, len(chunk) - 1),
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if more else None,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": page_uri(page - 1) if page else None,
            "start": page * page_size,
            "uri": page_uri(page),
            kind.lower(): chunk,
        }
        return JSONResponse(body)

    async def _messages_root(self, request: Request, fields: dict[str, list[str]]) -> Response:
        if request.method == "POST":
            return await self._create_message(request, fields)
        fault = await self._apply_fault("Messages")
        if fault is not None:
            return fault
        return self._list(request, "Messages", _MESSAGES, self._messages, self._message_json)

    async def _calls_root(self, request: Request, fields: dict[str, list[str]]) -> Response:
        if request.method == "POST":
            return await self._create_call(request, fields)
        fault = await self._apply_fault("Calls")
        if fault is not None:
            return fault
        return self._list(request, "Calls", _CALLS, self._calls, self._call_json)

    # Messages

    async def _create_message(self, request: Request, fields: dict[str, list[str]]) -> Response:
        self._check_schema(request, "Messages", _MESSAGES, fields)
        to = self._one(fields, "To") or ""
        from_ = self._one(fields, "From")
        service = self._one(fields, "MessagingServiceSid")
        body = self._one(fields, "Body") or ""
        media = [url for url in fields.get("MediaUrl", []) if url]
        if not _is_phone_number(to):
            self._refuse(request, 400, 21211, f"Invalid 'To' Phone Number: {to!r} is not E.164")
        if from_:
            self._check_from(request, from_, 21606)
            if from_ == to:
                self._refuse(request, 400, 21266, _ERROR_MESSAGES[21266])
        elif not service:
            self._refuse(request, 400, 21603, f"{_ERROR_MESSAGES[21603]} (or a MessagingServiceSid)")
        if not body and not media and not self._one(fields, "ContentSid"):
            self._refuse(request, 400, 21619, _ERROR_MESSAGES[21619])
        if len(body) > _MAX_BODY_CHARS:
            self._refuse(request, 400, 21617, f"{_ERROR_MESSAGES[21617]} (got {len(body)})")

        fault = await self._apply_fault("Messages")
        if fault is not None:
            return fault

        now = _now()
        message = {
            "sid": "SM" + uuid.uuid4().hex,
            "account_sid": self.account_sid,
            "to": to,
            "from_": from_,
            "body": body,
            "media_url": media,
            # Through a messaging service Twilio first "accepts", then picks a sender.
            "status": "queued" if from_ else "accepted",
            "status_callback": self._one(fields, "StatusCallback"),
            "messaging_service_sid": service,
            "encoding": sms_encoding(body),
            "num_segments": sms_segments(body),
            "num_media": len(media),
            "error_code": None,
            "error_message": None,
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "params": {name: values if len(values) > 1 else values[0] for name, values in fields.items()},
        }
        with self._changed:
            self._messages.append(message)
            self._changed.notify_all()
        return self._garbled("Messages") or JSONResponse(self._message_json(message), status_code=201)

    async def _fetch_message(self, request: Request, fields: dict[str, list[str]]) -> Response:
        fault = await self._apply_fault("Messages")
        if fault is not None:
            return fault
        with self._lock:
            message = self._lookup(request, self._messages)
            return JSONResponse(self._message_json(message))

    def _lookup(self, request: Request, records: list[dict[str, Any]]) -> dict[str, Any]:
        sid = request.path_params["Sid"]
        for record in records:
            if record["sid"] == sid:
                return record
        # Not a violation: asking about an unknown sid is something a product may legitimately do.
        raise _TwilioError(404, 20404, f"The requested resource {request.url.path} was not found")

    def _message_json(self, message: dict[str, Any]) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message['sid']}"
        values = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": message["body"],
            "date_created": _rfc2822(message["date_created"]),
            "date_sent": _rfc2822(message["date_sent"]),
            "date_updated": _rfc2822(message["date_updated"]),
            "direction": "outbound-api",
            "error_code": message["error_code"],
            "error_message": message["error_message"],
            "from": message["from_"],
            "messaging_service_sid": message["messaging_service_sid"],
            "num_media": str(message["num_media"]),
            "num_segments": str(message["num_segments"]),
            "price": None,
            "price_unit": "USD",
            "sid": message["sid"],
            "status": message["status"],
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
            "to": message["to"],
            "uri": f"{uri}.json",
        }
        if self.omit_dates:
            values["date_created"] = None
        # Exactly the properties of the spec's resource schema, no more and no fewer.
        return {name: values.get(name) for name in _resource_fields("api.v2010.account.message")}

    # Calls

    async def _create_call(self, request: Request, fields: dict[str, list[str]]) -> Response:
        self._check_schema(request, "Calls", _CALLS, fields)
        to = self._one(fields, "To") or ""
        from_ = self._one(fields, "From") or ""
        url, twiml = self._one(fields, "Url"), self._one(fields, "Twiml")
        if not (_is_phone_number(to) or to.startswith(("client:", "sip:"))):
            self._refuse(request, 400, 21211, f"Invalid 'To' Phone Number: {to!r} is not E.164")
        self._check_from(request, from_, 21210)
        self._check_instructions(request, url, twiml, required=not self._one(fields, "ApplicationSid"))

        fault = await self._apply_fault("Calls")
        if fault is not None:
            return fault

        now = _now()
        call = {
            "sid": "CA" + uuid.uuid4().hex,
            "account_sid": self.account_sid,
            "to": to,
            "from_": from_,
            "url": url,
            "method": self._one(fields, "Method") or "POST",
            "twiml": twiml,
            "status": "queued",
            "status_callback": self._one(fields, "StatusCallback"),
            "status_callback_event": fields.get("StatusCallbackEvent") or ["completed"],
            "status_callback_method": self._one(fields, "StatusCallbackMethod") or "POST",
            # Only read when valid: a lenient stand-in may have let a malformed value through.
            "timeout": int(timeout)
            if _INTEGER_RE.match(timeout := self._one(fields, "Timeout") or "")
            else 60,
            "answered_by": None,
            "duration": None,
            "start_time": None,
            "end_time": None,
            "date_created": now,
            "date_updated": now,
            "sequence_number": 0,
            "updates": [],
            "params": {name: values if len(values) > 1 else values[0] for name, values in fields.items()},
        }
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()
        return self._garbled("Calls") or JSONResponse(self._call_json(call), status_code=201)

    def _check_instructions(
        self, request: Request, url: str | None, twiml: str | None, *, required: bool
    ) -> None:
        if url and twiml:
            self._refuse(request, 400, 21205, "Twiml and Url parameters are mutually exclusive")
        if required and not url and not twiml:
            self._refuse(request, 400, 21205, f"{_ERROR_MESSAGES[21205]} (or Twiml, or ApplicationSid)")
        if twiml:
            try:
                root = ElementTree.fromstring(twiml)
            except ElementTree.ParseError as error:
                self._refuse(request, 400, 12100, f"Document parse failure: Twiml is not XML ({error})")
            if root.tag != "Response":
                self._refuse(
                    request,
                    400,
                    12100,
                    f"Document parse failure: root element is <{root.tag}>, not <Response>",
                )

    async def _call_item(self, request: Request, fields: dict[str, list[str]]) -> Response:
        if request.method == "GET":
            fault = await self._apply_fault("Calls")
            if fault is not None:
                return fault
            with self._lock:
                return JSONResponse(self._call_json(self._lookup(request, self._calls)))

        self._check_schema(request, "Calls", _CALL, fields)
        url, twiml, status = self._one(fields, "Url"), self._one(fields, "Twiml"), self._one(fields, "Status")
        self._check_instructions(request, url, twiml, required=False)
        with self._lock:
            call = self._lookup(request, self._calls)
            finished = call["status"] in ("completed", "busy", "failed", "no-answer", "canceled")
        if finished and (url or twiml):
            self._refuse(request, 400, 21220, _ERROR_MESSAGES[21220])

        fault = await self._apply_fault("Calls")
        if fault is not None:
            return fault

        now = _now()
        with self._changed:
            call["updates"].append({name: values[0] for name, values in fields.items()})
            if url or twiml:
                call["url"], call["twiml"] = url, twiml
                call["method"] = self._one(fields, "Method") or "POST"
            if self._one(fields, "StatusCallback"):
                call["status_callback"] = self._one(fields, "StatusCallback")
            # Twilio only cancels calls that have not connected yet; "completed" hangs up any call.
            if status == "completed" and not finished:
                call["status"], call["end_time"] = "completed", now
                call["duration"] = call["duration"] or 0
            elif status == "canceled" and call["status"] in ("queued", "ringing"):
                call["status"], call["end_time"] = "canceled", now
            call["date_updated"] = now
            self._changed.notify_all()
            return JSONResponse(self._call_json(call))

    def _call_json(self, call: dict[str, Any]) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{call['sid']}"
        values = {
            "account_sid": self.account_sid,
            "answered_by": call["answered_by"],
            "api_version": API_VERSION,
            "date_created": _rfc2822(call["date_created"]),
            "date_updated": _rfc2822(call["date_updated"]),
            "direction": "outbound-api",
            "duration": None if call["duration"] is None else str(call["duration"]),
            "end_time": _rfc2822(call["end_time"]),
            "from": call["from_"],
            "from_formatted": call["from_"],
            "price_unit": "USD",
            "sid": call["sid"],
            "start_time": _rfc2822(call["start_time"]),
            "status": call["status"],
            "subresource_uris": {
                name: f"{uri}/{name.title().replace('_', '')}.json"
                for name in ("notifications", "recordings", "payments", "events", "streams")
            },
            "to": call["to"],
            "to_formatted": call["to"],
            "uri": f"{uri}.json",
        }
        if self.omit_dates:
            values["date_created"] = None
        return {name: values.get(name) for name in _resource_fields("api.v2010.account.call")}

    # IncomingPhoneNumbers: the account's numbers and where their webhooks point

    @property
    def phone_numbers(self) -> list[dict[str, Any]]:
        """The account's numbers with their webhook settings (copies)."""
        with self._lock:
            return copy.deepcopy(self._numbers)

    def set_capabilities(self, number: str, *, sms: bool = True, voice: bool = True) -> None:
        """Make a number unable to take SMS or calls, as a number bought without them is."""
        with self._lock:
            record = next(record for record in self._numbers if record["phone_number"] == number)
            record["capabilities"] = {**record["capabilities"], "sms": sms, "voice": voice}

    def _new_number(self, number: str) -> dict[str, Any]:
        now = _now()
        return {
            "sid": "PN" + uuid.uuid4().hex, "phone_number": number, "friendly_name": number,
            "date_created": now, "date_updated": now,
            "capabilities": {"sms": True, "voice": True, "mms": False, "fax": False},
            "sms_url": "", "sms_method": "POST", "voice_url": "", "voice_method": "POST",
            "status_callback": "", "status_callback_method": "POST", "updates": 0,
        }

    async def _numbers_root(self, request: Request, fields: dict[str, list[str]]) -> Response:
        query = self._query(request, _NUMBERS)
        wanted = query.get("PhoneNumber")
        with self._lock:
            chunk = [self._number_json(record) for record in self._numbers
                     if wanted is None or record["phone_number"] == wanted]
        uri = request.url.path + ("?" + urlencode(query) if query else "")
        return JSONResponse({
            "end": max(0, len(chunk) - 1), "first_page_uri": uri, "next_page_uri": None, "page": 0,
            "page_size": 50, "previous_page_uri": None, "start": 0, "uri": uri,
            "incoming_phone_numbers": chunk,
        })

    async def _number_item(self, request: Request, fields: dict[str, list[str]]) -> Response:
        with self._lock:
            record = next((r for r in self._numbers if r["sid"] == request.path_params["Sid"]), None)
        if record is None:
            self._refuse(request, 404, 20404, f"The requested resource {request.url.path} was not found")
        if request.method == "POST":
            self._check_schema(request, "IncomingPhoneNumbers", _NUMBER, fields)
            with self._changed:
                for name, key in (("SmsUrl", "sms_url"), ("SmsMethod", "sms_method"), ("VoiceUrl", "voice_url"),
                                  ("VoiceMethod", "voice_method"), ("StatusCallback", "status_callback"),
                                  ("StatusCallbackMethod", "status_callback_method"),
                                  ("FriendlyName", "friendly_name")):
                    value = self._one(fields, name)
                    if value is not None:
                        record[key] = value
                record["date_updated"] = _now()
                record["updates"] += 1
                self._changed.notify_all()
        with self._lock:
            return JSONResponse(self._number_json(record))

    def _number_json(self, record: dict[str, Any]) -> dict[str, Any]:
        values = {
            "account_sid": self.account_sid, "api_version": API_VERSION,
            "capabilities": dict(record["capabilities"]),
            "date_created": _rfc2822(record["date_created"]), "date_updated": _rfc2822(record["date_updated"]),
            "friendly_name": record["friendly_name"], "phone_number": record["phone_number"],
            "origin": "twilio", "sid": record["sid"], "sms_method": record["sms_method"],
            "sms_url": record["sms_url"], "sms_fallback_method": "POST", "sms_fallback_url": "",
            "status_callback": record["status_callback"],
            "status_callback_method": record["status_callback_method"],
            "voice_method": record["voice_method"], "voice_url": record["voice_url"],
            "voice_fallback_method": "POST", "voice_fallback_url": "", "voice_caller_id_lookup": False,
            "voice_receive_mode": "voice", "status": "in-use", "type": "mobile",
            "address_requirements": "none", "beta": False, "emergency_status": "Inactive",
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/IncomingPhoneNumbers/{record['sid']}.json",
        }
        # Exactly the properties of the spec's resource schema, no more and no fewer.
        return {name: values.get(name) for name in _resource_fields("api.v2010.account.incoming_phone_number")}

    # Anything else

    async def _unknown(self, request: Request) -> Response:
        try:
            self._authenticate(request)
        except _TwilioError as error:
            return _error_response(error.status, error.code, error.message, error.headers)
        path = "/" + request.path_params["path"]
        template = next(
            (template for template, pattern in _spec_path_patterns() if pattern.match(path)), None
        )
        if template is not None:
            # Real Twilio serves this; the product using it means the stand-in needs extending.
            problem = f"{request.method} {template} is not implemented by the Twilio stand-in"
            self._record(request, problem)
            return _error_response(405, 20004, problem)
        problem = f"The requested resource {path} was not found"
        self._record(request, problem)
        return _error_response(404, 20404, problem)


# --------------------------------------------------------------------------------------------
# Webhooks from Twilio to the service


def _signature(url: str, params: Mapping[str, str], auth_token: str) -> str:
    return RequestValidator(auth_token).compute_signature(url, dict(params))


def _webhook_headers(signature: str) -> dict[str, str]:
    return {
        "X-Twilio-Signature": signature,
        "User-Agent": "TwilioProxy/1.1",
        "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
        "Accept": "*/*",
    }


def _signed_request(
    method: str,
    post_url: str,
    public_url: str,
    params: Mapping[str, str],
    auth_token: str,
    *,
    signature: str | None = None,
) -> httpx.Request:
    """Build the request Twilio would send, signed over ``public_url`` but aimed at ``post_url``."""
    params = {name: str(value) for name, value in params.items()}
    if method == "GET":
        # For GET webhooks the parameters travel in the query string, and the signature covers
        # the full URL including that query, with no body parameters.
        query = httpx.QueryParams(params)
        signed = signature or _signature(str(httpx.URL(public_url).copy_merge_params(query)), {}, auth_token)
        url = httpx.URL(post_url).copy_merge_params(query)
        return httpx.Request("GET", url, headers=_webhook_headers(signed))
    signed = signature if signature is not None else _signature(public_url, params, auth_token)
    return httpx.Request("POST", post_url, data=params, headers=_webhook_headers(signed))


def _send(request: httpx.Request, timeout: float) -> httpx.Response:
    with httpx.Client(timeout=timeout) as client:
        return client.send(request)


async def _asend(request: httpx.Request, timeout: float) -> httpx.Response:
    async with httpx.AsyncClient(timeout=timeout) as client:
        return await client.send(request)


def signed_post(
    post_url: str,
    public_url: str,
    params: Mapping[str, str],
    auth_token: str,
    *,
    signature: str | None = None,
    timeout: float = 10.0,
) -> httpx.Response:
    """POST ``params`` form-encoded to ``post_url``, signed as Twilio signs for ``public_url``.

    ``post_url`` is the address actually reached (e.g. ``http://127.0.0.1:PORT/twilio/sms``);
    ``public_url`` is the one configured in Twilio (e.g. ``https://tettpa.example/twilio/sms``),
    which the service must reconstruct to validate.  ``signature`` replaces the computed one,
    for tests of forged requests.
    """
    return _send(
        _signed_request("POST", post_url, public_url, params, auth_token, signature=signature), timeout
    )


async def asigned_post(
    post_url: str,
    public_url: str,
    params: Mapping[str, str],
    auth_token: str,
    *,
    signature: str | None = None,
    timeout: float = 10.0,
) -> httpx.Response:
    """signed_post() for code running on an event loop, e.g. the sandbox posting to itself."""
    request = _signed_request("POST", post_url, public_url, params, auth_token, signature=signature)
    return await _asend(request, timeout)


def _inbound_sms_params(
    *, from_: str, to: str, body: str, message_sid: str | None, account_sid: str
) -> dict[str, str]:
    sid = message_sid or "SM" + uuid.uuid4().hex
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": account_sid,
        "From": from_,
        "To": to,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": str(sms_segments(body)),
        "SmsStatus": "received",
        "ApiVersion": API_VERSION,
    }


def _inbound_call_params(
    *,
    from_: str,
    to: str,
    call_sid: str | None,
    account_sid: str,
    digits: str | None,
    call_status: str | None,
) -> dict[str, str]:
    params = {
        "CallSid": call_sid or "CA" + uuid.uuid4().hex,
        "AccountSid": account_sid,
        "From": from_,
        "To": to,
        "Caller": from_,
        "Called": to,
        # A Gather's answer arrives during a connected call, so that is the status it carries.
        "CallStatus": call_status or ("in-progress" if digits is not None else "ringing"),
        "Direction": "inbound",
        "ApiVersion": API_VERSION,
    }
    if digits is not None:
        params["Digits"] = digits
        params["FinishedOnKey"] = ""
    return params


def inbound_sms(
    post_url: str,
    public_url: str,
    auth_token: str,
    *,
    from_: str,
    to: str,
    body: str,
    message_sid: str | None = None,
    account_sid: str = DEFAULT_ACCOUNT_SID,
) -> httpx.Response:
    """Send the incoming-message webhook Twilio sends when ``from_`` texts ``to``."""
    params = _inbound_sms_params(
        from_=from_, to=to, body=body, message_sid=message_sid, account_sid=account_sid
    )
    return signed_post(post_url, public_url, params, auth_token)


async def ainbound_sms(
    post_url: str,
    public_url: str,
    auth_token: str,
    *,
    from_: str,
    to: str,
    body: str,
    message_sid: str | None = None,
    account_sid: str = DEFAULT_ACCOUNT_SID,
) -> httpx.Response:
    params = _inbound_sms_params(
        from_=from_, to=to, body=body, message_sid=message_sid, account_sid=account_sid
    )
    return await asigned_post(post_url, public_url, params, auth_token)


def inbound_call(
    post_url: str,
    public_url: str,
    auth_token: str,
    *,
    from_: str,
    to: str,
    call_sid: str | None = None,
    account_sid: str = DEFAULT_ACCOUNT_SID,
    digits: str | None = None,
    call_status: str | None = None,
) -> httpx.Response:
    """Send the voice webhook: an incoming call, or (with ``digits``) a Gather's answer.

    ``call_status`` defaults to "ringing" for a new call and "in-progress" when ``digits`` is set.
    """
    params = _inbound_call_params(
        from_=from_, to=to, call_sid=call_sid, account_sid=account_sid, digits=digits, call_status=call_status
    )
    return signed_post(post_url, public_url, params, auth_token)


async def ainbound_call(
    post_url: str,
    public_url: str,
    auth_token: str,
    *,
    from_: str,
    to: str,
    call_sid: str | None = None,
    account_sid: str = DEFAULT_ACCOUNT_SID,
    digits: str | None = None,
    call_status: str | None = None,
) -> httpx.Response:
    params = _inbound_call_params(
        from_=from_, to=to, call_sid=call_sid, account_sid=account_sid, digits=digits, call_status=call_status
    )
    return await asigned_post(post_url, public_url, params, auth_token)
