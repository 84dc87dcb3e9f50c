"""A local stand-in for the Telegram Bot API, strict against ``specs/telegram-bot-api.json``.

The real python-telegram-bot library talks to it over HTTP::

    standin = TelegramStandIn()
    with BackgroundServer(standin.app) as server:
        bot = telegram.Bot(standin.token, base_url=f"{server.url}/bot",
                           base_file_url=f"{server.url}/file/bot")

or it is mounted inside another Starlette app (sandbox mode), e.g. at ``/sandbox/telegram``; all
routes are relative to the mount point.

Only private chats exist: ``add_user`` creates a user and the private chat with them (chat id ==
user id). Tests play the user with ``user_sends``/``user_presses`` and inspect what the bot did
with ``history``/``sent_to``/``wait_sent``/``calls``.

Requests are decoded the way the real API does (query string, urlencoded form, multipart form,
JSON body) and checked against the spec: unknown method (404), unknown parameter, missing required
parameter, wrong type, malformed JSON-serialized object (400). Content rules Telegram enforces are
checked too (empty or too long text, entity parsing for parse_mode, inline keyboard buttons, bot
commands). Every request refused for such a reason is recorded in ``violations``, so a test can
assert the list is empty even when the bot swallowed the error. State-dependent refusals (chat not
found, message not modified, blocked by the user, injected faults) are realistic answers, not
violations.

All state is guarded by one lock: the app runs in the server's thread/event loop while tests
inject and inspect from their own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

SPEC_PATH = Path(__file__).with_name("specs") / "telegram-bot-api.json"

JSONDict = dict[str, Any]


# --------------------------------------------------------------------------------------------
# Errors and small helpers
# --------------------------------------------------------------------------------------------


class _ApiError(Exception):
    """An error answer of the API. ``violation`` marks requests that were malformed."""

    def __init__(
        self,
        status: int,
        description: str,
        *,
        violation: bool = False,
        parameters: JSONDict | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.violation = violation
        self.parameters = parameters


def _bad(description: str) -> _ApiError:
    """400 that depends on state (chat not found, message not modified, ...)."""
    return _ApiError(400, f"Bad Request: {description}")


def _invalid(description: str) -> _ApiError:
    """400 for a malformed request: recorded as a violation."""
    return _ApiError(400, f"Bad Request: {description}", violation=True)


def _error_response(status: int, description: str, parameters: JSONDict | None = None) -> JSONResponse:
    body: JSONDict = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, status_code=status)


def _utf16_len(text: str) -> int:
    # Telegram measures texts and entity offsets in UTF-16 code units.
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    # Entity parse errors report UTF-8 byte offsets into the source text.
    return len(text[:index].encode())


@dataclass(frozen=True)
class Upload:
    """A file the bot uploaded with multipart/form-data."""

    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)


# --------------------------------------------------------------------------------------------
# The API definition and request validation
# --------------------------------------------------------------------------------------------

_PRIMITIVES = {"Integer", "Float", "Boolean", "String", "True", "InputFile"}
_DISCRIMINATOR = re.compile(r"(?:always|must be) [\"“]?([A-Za-z_]+)[\"”]?")
_INTEGER = re.compile(r"-?\d+")


class _Spec:
    """Lookups and validation against the JSON API definition."""

    def __init__(self, data: JSONDict) -> None:
        self.version: str = data.get("version", "")
        self.methods: dict[str, JSONDict] = data["methods"]
        self.types: dict[str, JSONDict] = data["types"]
        # The real API matches method names case-insensitively.
        self._method_by_lower = {name.lower(): name for name in self.methods}
        self._fields: dict[str, dict[str, JSONDict]] = {
            name: {f["name"]: f for f in method.get("fields", [])} for name, method in self.methods.items()
        }

    def method_name(self, name: str) -> str | None:
        return self._method_by_lower.get(name.lower())

    def fields(self, method: str) -> dict[str, JSONDict]:
        return self._fields[method]

    def discriminator(self, type_name: str) -> tuple[str, str] | None:
        """For members of a union ("MessageOriginUser"): ("type", "user")."""
        fields = self.types.get(type_name, {}).get("fields")
        if not fields:
            return None
        match = _DISCRIMINATOR.search(fields[0].get("description", ""))
        return (fields[0]["name"], match.group(1)) if match else None

    # -- top-level parameters ---------------------------------------------------------------

    def check_params(self, method: str, raw: JSONDict, *, strict: bool) -> tuple[JSONDict, list[str]]:
        """Coerce the decoded parameters to their spec types; return them and the problems."""
        fields = self.fields(method)
        params: JSONDict = {}
        problems: list[str] = []
        for name, value in raw.items():
            spec_field = fields.get(name)
            if spec_field is None:
                # The real API silently ignores unknown parameters; strict mode refuses them
                # because they are nearly always a typo or a field of another API version.
                if strict:
                    problems.append(f'unknown parameter "{name}"')
                continue
            coerced, field_problems = self._coerce(value, spec_field["types"], name, strict)
            if field_problems:
                problems.extend(field_problems)
            else:
                params[name] = coerced
        for name, spec_field in fields.items():
            if spec_field["required"] and name not in raw:
                problems.append(_missing_description(name))
        return params, problems

    def _coerce(self, raw: Any, types: list[str], path: str, strict: bool) -> tuple[Any, list[str]]:
        best: list[str] | None = None
        for type_name in types:
            value, problems = self._coerce_one(raw, type_name, path, strict)
            if not problems:
                return value, []
            if best is None or len(problems) < len(best):
                best = problems
        return raw, best or [f'parameter "{path}" has an unexpected value']

    def _coerce_one(self, raw: Any, type_name: str, path: str, strict: bool) -> tuple[Any, list[str]]:
        """Form and query values are always strings (PTB JSON-encodes every non-string value);
        JSON bodies carry native values. Both are accepted, like the real API does."""
        wrong = [f'parameter "{path}" must be {_type_label(type_name)}']
        if isinstance(raw, Upload):
            return (raw, []) if type_name == "InputFile" else (raw, wrong)
        if type_name == "InputFile":
            # Outside an upload an InputFile can only be a reference to a multipart part.
            return (raw, []) if isinstance(raw, str) and raw.startswith("attach://") else (raw, wrong)
        if type_name == "Integer":
            if isinstance(raw, int) and not isinstance(raw, bool):
                return raw, []
            if isinstance(raw, str) and _INTEGER.fullmatch(raw.strip()):
                return int(raw), []
            return raw, wrong
        if type_name == "Float":
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                return float(raw), []
            if isinstance(raw, str):
                try:
                    number = float(raw)
                except ValueError:
                    return raw, wrong
                if number == number and abs(number) != float("inf"):
                    return number, []
            return raw, wrong
        if type_name in ("Boolean", "True"):
            value: bool | None = None
            if isinstance(raw, bool):
                value = raw
            elif isinstance(raw, str) and raw.strip().lower() in ("true", "1", "false", "0"):
                value = raw.strip().lower() in ("true", "1")
            if value is None or (type_name == "True" and value is not True):
                return raw, wrong
            return value, []
        if type_name == "String":
            if isinstance(raw, str):
                return raw, []
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                return str(raw), []  # the real API stringifies numbers in JSON bodies
            return raw, wrong
        # A JSON-serialized object or array.
        if isinstance(raw, str):
            try:
                parsed = json.loads(raw)
            except ValueError:
                return raw, [f'parameter "{path}" must be JSON-serialized {_type_label(type_name)}']
        else:
            parsed = raw
        return parsed, self.check_value(parsed, [type_name], path, strict)

    # -- JSON-serialized values -------------------------------------------------------------

    def check_value(self, value: Any, types: list[str], path: str, strict: bool) -> list[str]:
        best: list[str] | None = None
        for type_name in types:
            problems = self._check_one(value, type_name, path, strict)
            if not problems:
                return []
            if best is None or len(problems) < len(best):
                best = problems
        return best or [f"{path} has an unexpected value"]

    def _check_one(self, value: Any, type_name: str, path: str, strict: bool) -> list[str]:
        if type_name.startswith("Array of "):
            if not isinstance(value, list):
                return [f"{path} must be an array"]
            item_type = type_name.removeprefix("Array of ")
            problems: list[str] = []
            for index, item in enumerate(value):
                problems.extend(self.check_value(item, [item_type], f"{path}[{index}]", strict))
            return problems
        if type_name in _PRIMITIVES:
            ok = {
                "Integer": isinstance(value, int) and not isinstance(value, bool),
                "Float": isinstance(value, int | float) and not isinstance(value, bool),
                "Boolean": isinstance(value, bool),
                "True": value is True,
                "String": isinstance(value, str),
                "InputFile": isinstance(value, str),  # "attach://<part>" inside JSON
            }[type_name]
            return [] if ok else [f"{path} must be {_type_label(type_name)}"]

        spec_type = self.types.get(type_name)
        if spec_type is None:
            return [f"{path}: unknown type {type_name}"]
        subtypes = spec_type.get("subtypes")
        if subtypes:
            if isinstance(value, dict):
                for subtype in subtypes:
                    disc = self.discriminator(subtype)
                    if disc and value.get(disc[0]) == disc[1]:
                        return self._check_one(value, subtype, path, strict)
            return self.check_value(value, subtypes, path, strict)

        if not isinstance(value, dict):
            return [f"{path} must be a JSON object ({type_name})"]
        fields = spec_type.get("fields")
        if fields is None:
            return []  # placeholder types such as CallbackGame carry no fields
        known = {f["name"]: f for f in fields}
        problems = []
        if strict:
            problems.extend(
                f'{path}: unknown field "{key}" in {type_name}' for key in value if key not in known
            )
        for name, spec_field in known.items():
            if name in value:
                problems.extend(self.check_value(value[name], spec_field["types"], f"{path}.{name}", strict))
            elif spec_field["required"]:
                problems.append(f'{path}: field "{name}" of {type_name} is required')
        disc = self.discriminator(type_name)
        if disc and disc[0] in value and value[disc[0]] != disc[1]:
            problems.append(f'{path}.{disc[0]} must be "{disc[1]}" for {type_name}')
        return problems


def _type_label(type_name: str) -> str:
    return {
        "Integer": "an Integer",
        "Float": "a Float",
        "Boolean": "a Boolean",
        "True": "True",
        "String": "a String",
        "InputFile": "an uploaded file (InputFile)",
    }.get(type_name, type_name)


def _missing_description(name: str) -> str:
    # The real API words these two like this; the rest get a generic, explicit message.
    if name == "text":
        return "message text is empty"
    if name == "chat_id":
        return "chat_id is empty"
    return f'parameter "{name}" is required'


@cache
def _load_spec(path: str) -> _Spec:
    with open(path, encoding="utf-8") as fh:
        return _Spec(json.load(fh))


# --------------------------------------------------------------------------------------------
# Formatted text: parse_mode, stripping, automatically detected entities
# --------------------------------------------------------------------------------------------


class _EntityParseError(Exception):
    pass


class _Builder:
    """Accumulates plain text and tracks its UTF-16 length for entity offsets."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.entities: list[JSONDict] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.length += _utf16_len(text)

    def entity(self, start: int, entity: JSONDict) -> None:
        if self.length > start:  # Telegram drops empty entities
            self.entities.append({**entity, "offset": start, "length": self.length - start})

    def text(self) -> str:
        return "".join(self.parts)


_HTML_CHAR_REF = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});")
_HTML_START_TAG = re.compile(
    r"<([a-zA-Z][a-zA-Z0-9-]*)"
    r"((?:\s+[a-zA-Z][a-zA-Z0-9_-]*(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?)*)\s*/?>"
)
_HTML_ATTRIBUTE = re.compile(r"([a-zA-Z][a-zA-Z0-9_-]*)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?")
_HTML_END_TAG = re.compile(r"</([a-zA-Z][a-zA-Z0-9-]*)\s*>")
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}


def _html_char(match: re.Match[str]) -> str:
    name = match.group(1)
    if name.startswith("#"):
        code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
        if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
            return chr(code)
        return match.group(0)
    # Only these four named entities are supported; others stay as they are.
    return _HTML_NAMED.get(name, match.group(0))


def _parse_html(src: str) -> tuple[str, list[JSONDict]]:
    out = _Builder()
    stack: list[tuple[str, JSONDict | None, int]] = []  # (tag, entity or None, start offset)
    i = 0
    while i < len(src):
        char = src[i]
        if char == "&":
            match = _HTML_CHAR_REF.match(src, i)
            out.add(_html_char(match) if match else "&")
            i = match.end() if match else i + 1
            continue
        if char != "<":
            out.add(char)
            i += 1
            continue
        offset = _byte_offset(src, i)
        if src.startswith("</", i):
            match = _HTML_END_TAG.match(src, i)
            if match is None:
                raise _EntityParseError(f"Unclosed end tag at byte offset {offset}")
            name = match.group(1).lower()
            if not stack:
                raise _EntityParseError(f'Unexpected end tag "{name}" at byte offset {offset}')
            tag, entity, start = stack.pop()
            if tag != name:
                raise _EntityParseError(
                    f'Unmatched end tag at byte offset {offset}, expected "</{tag}>", found "</{name}>"'
                )
            if entity is not None:
                out.entity(start, entity)
            i = match.end()
            continue
        match = _HTML_START_TAG.match(src, i)
        if match is None:
            raise _EntityParseError(f"Unexpected character '<' at byte offset {offset}; write &lt; instead")
        name = match.group(1).lower()
        attributes = {}
        for key, raw_value in _HTML_ATTRIBUTE.findall(match.group(2)):
            if raw_value[:1] in ("'", '"'):
                raw_value = raw_value[1:-1]
            attributes[key.lower()] = _HTML_CHAR_REF.sub(_html_char, raw_value)
        entity: JSONDict | None
        if name == "code" and stack and stack[-1][0] == "pre" and stack[-1][1] is not None:
            # <pre><code class="language-x">: a single pre entity with a language.
            language = attributes.get("class", "")
            if language.startswith("language-"):
                stack[-1][1]["language"] = language.removeprefix("language-")
            entity = None
        elif name == "blockquote":
            entity = {"type": "expandable_blockquote" if "expandable" in attributes else "blockquote"}
        elif name in _HTML_SIMPLE_TAGS:
            entity = {"type": _HTML_SIMPLE_TAGS[name]}
        elif name == "span":
            if attributes.get("class") != "tg-spoiler":
                raise _EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
            entity = {"type": "spoiler"}
        elif name == "a":
            href = attributes.get("href")
            entity = {"type": "text_link", "url": href} if href else None
        elif name == "tg-emoji":
            emoji_id = attributes.get("emoji-id", "")
            if not emoji_id.isdigit():
                raise _EntityParseError(f"Custom emoji identifier expected at byte offset {offset}")
            entity = {"type": "custom_emoji", "custom_emoji_id": emoji_id}
        else:
            raise _EntityParseError(f'Unsupported start tag "{name}" at byte offset {offset}')
        stack.append((name, entity, out.length))
        i = match.end()
    if stack:
        raise _EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.text(), out.entities


_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


def _parse_markdown_v2(src: str) -> tuple[str, list[JSONDict]]:
    out = _Builder()
    stack: list[tuple[str, int, int]] = []  # (kind, start offset, byte offset of the opening)
    quote_start: int | None = None
    i, n = 0, len(src)
    while i < n:
        char = src[i]
        offset = _byte_offset(src, i)
        if char == "\\" and i + 1 < n and 0 < ord(src[i + 1]) <= 126:
            out.add(src[i + 1])
            i += 2
            continue
        if char == "\n" and quote_start is not None and not src.startswith(">", i + 1):
            out.entity(quote_start, {"type": "blockquote"})
            quote_start = None
        if char == ">" and (i == 0 or src[i - 1] == "\n"):
            if quote_start is None:
                quote_start = out.length
            i += 1
            continue
        if char == "`":
            fence = "```" if src.startswith("```", i) else "`"
            j = i + len(fence)
            language = None
            if fence == "```":
                newline = src.find("\n", j)
                if newline != -1 and src.find("```", j) > newline:
                    language = src[j:newline].strip() or None
                    j = newline + 1
            body: list[str] = []
            while j < n and not src.startswith(fence, j):
                if src[j] == "\\" and j + 1 < n:
                    body.append(src[j + 1])
                    j += 2
                else:
                    body.append(src[j])
                    j += 1
            if j >= n:
                kind_name = "Pre" if fence == "```" else "Code"
                raise _EntityParseError(f"Can't find end of {kind_name} entity at byte offset {offset}")
            start = out.length
            out.add("".join(body))
            entity: JSONDict = {"type": "pre" if fence == "```" else "code"}
            if language:
                entity["language"] = language
            out.entity(start, entity)
            i = j + len(fence)
            continue
        if char in "*_~" or src.startswith("||", i):
            if src.startswith("||", i):
                kind, width = "spoiler", 2
            elif src.startswith("__", i):
                # "__" is always read greedily as underline, as Telegram documents.
                kind, width = "underline", 2
            else:
                kind, width = {"*": "bold", "_": "italic", "~": "strikethrough"}[char], 1
            if any(open_kind == kind for open_kind, _, _ in stack):
                top_kind, top_start, top_offset = stack[-1]
                if top_kind != kind:
                    raise _EntityParseError(
                        f"Can't find end of {_MDV2_NAMES[top_kind]} entity at byte offset {top_offset}"
                    )
                stack.pop()
                out.entity(top_start, {"type": kind})
            else:
                stack.append((kind, out.length, offset))
            i += width
            continue
        if src.startswith("![", i):
            stack.append(("custom_emoji", out.length, offset))
            i += 2
            continue
        if char == "[":
            stack.append(("text_link", out.length, offset))
            i += 1
            continue
        if char == "]" and stack and stack[-1][0] in ("text_link", "custom_emoji"):
            kind, start, _ = stack.pop()
            url = None
            i += 1
            if src.startswith("(", i):
                j, chars = i + 1, []
                while j < n and src[j] != ")":
                    if src[j] == "\\" and j + 1 < n:
                        chars.append(src[j + 1])
                        j += 2
                    else:
                        chars.append(src[j])
                        j += 1
                if j >= n:
                    raise _EntityParseError(f"Can't find end of a URL at byte offset {_byte_offset(src, i)}")
                url = "".join(chars)
                i = j + 1
            if kind == "custom_emoji":
                match = re.fullmatch(r"tg://emoji\?id=(\d+)", url or "")
                if match is None:
                    raise _EntityParseError(
                        f"Custom emoji URL must be tg://emoji?id=... at byte offset {offset}"
                    )
                out.entity(start, {"type": "custom_emoji", "custom_emoji_id": match.group(1)})
            elif url:
                out.entity(start, {"type": "text_link", "url": url})
            continue
        if char in _MDV2_RESERVED:
            raise _EntityParseError(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        out.add(char)
        i += 1
    if quote_start is not None:
        out.entity(quote_start, {"type": "blockquote"})
    if stack:
        kind, _, offset = stack[-1]
        raise _EntityParseError(f"Can't find end of {_MDV2_NAMES[kind]} entity at byte offset {offset}")
    return out.text(), out.entities


def _parse_markdown(src: str) -> tuple[str, list[JSONDict]]:
    """The legacy "Markdown" mode: *bold*, _italic_, `code`, ```pre```, [text](url), no nesting."""
    out = _Builder()
    i, n = 0, len(src)
    while i < n:
        char = src[i]
        offset = _byte_offset(src, i)
        if char == "\\" and i + 1 < n and src[i + 1] in "_*`[":
            out.add(src[i + 1])
            i += 2
            continue
        unclosed = _EntityParseError(f"Can't find end of the entity starting at byte offset {offset}")
        if char in "*_":
            end = src.find(char, i + 1)
            if end == -1:
                raise unclosed
            start = out.length
            out.add(src[i + 1 : end])
            out.entity(start, {"type": "bold" if char == "*" else "italic"})
            i = end + 1
        elif char == "`":
            fence = "```" if src.startswith("```", i) else "`"
            end = src.find(fence, i + len(fence))
            if end == -1:
                raise unclosed
            start = out.length
            out.add(src[i + len(fence) : end])
            out.entity(start, {"type": "pre" if fence == "```" else "code"})
            i = end + len(fence)
        elif char == "[":
            close = src.find("]", i + 1)
            if close == -1:
                raise unclosed
            start = out.length
            out.add(src[i + 1 : close])
            i = close + 1
            if src.startswith("(", i):
                end = src.find(")", i)
                if end == -1:
                    raise unclosed
                out.entity(start, {"type": "text_link", "url": src[i + 1 : end]})
                i = end + 1
        else:
            out.add(char)
            i += 1
    return out.text(), out.entities


_AUTO_ENTITIES = (
    ("bot_command", re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")),
    ("url", re.compile(r"\bhttps?://[^\s<>\"]*[^\s<>\".,;:!?)\]'}]")),
    ("mention", re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{5,32}\b")),
)


def _auto_entities(text: str, explicit: list[JSONDict]) -> list[JSONDict]:
    """Entities Telegram detects by itself (commands, links, mentions) where none was given."""
    taken = [(e["offset"], e["offset"] + e["length"]) for e in explicit]
    found: list[JSONDict] = []
    for kind, pattern in _AUTO_ENTITIES:
        for match in pattern.finditer(text):
            start = _utf16_len(text[: match.start()])
            end = start + _utf16_len(match.group(0))
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            taken.append((start, end))
            found.append({"type": kind, "offset": start, "length": end - start})
    return found


def _strip(text: str, entities: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    """Telegram trims leading/trailing whitespace of texts and captions; entities move along."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = _utf16_len(text[: len(text) - len(text.lstrip())])
    total = _utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


def _format_text(
    text: str, parse_mode: str | None, entities: list[JSONDict] | None
) -> tuple[str, list[JSONDict]]:
    if entities is not None:
        plain, found = text, [dict(e) for e in entities]
    elif parse_mode:
        parser = {"html": _parse_html, "markdownv2": _parse_markdown_v2, "markdown": _parse_markdown}.get(
            parse_mode.lower()
        )
        if parser is None:
            raise _invalid(f"unsupported parse_mode {parse_mode!r}")
        try:
            plain, found = parser(text)
        except _EntityParseError as exc:
            raise _invalid(f"can't parse entities: {exc}") from None
    else:
        plain, found = text, []
    plain, found = _strip(plain, found)
    found += _auto_entities(plain, found)
    found.sort(key=lambda e: (e["offset"], -e["length"]))
    return plain, found


# --------------------------------------------------------------------------------------------
# Fault injection
# --------------------------------------------------------------------------------------------


@dataclass
class _Fault:
    status: int
    retry_after: int | None
    times: int
    description: str | None
    drop_connection: bool
    delay: float


class _ConnectionDropped(Exception):
    """Raised after the response has started, which makes uvicorn close the connection."""


class _DropConnection(Response):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Promise a body and never send it: the client sees the peer close mid-response
        # (httpx.RemoteProtocolError, which PTB turns into NetworkError).
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1024")]})
        raise _ConnectionDropped("TelegramStandIn dropped the connection (fail_next drop_connection=True)")


class _HideDroppedConnections(logging.Filter):
    """Keeps uvicorn from logging a traceback for connections dropped on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _ConnectionDropped))


_hide_dropped = _HideDroppedConnections()


# --------------------------------------------------------------------------------------------
# The stand-in
# --------------------------------------------------------------------------------------------

_META_KEYS = {
    "message_id",
    "message_thread_id",
    "direct_messages_topic",
    "from",
    "sender_chat",
    "chat",
    "date",
    "edit_date",
    "reply_to_message",
    "external_reply",
    "quote",
    "forward_origin",
    "is_automatic_forward",
    "reply_markup",
    "has_protected_content",
    "author_signature",
    "via_bot",
    "media_group_id",
    "effect_id",
}
_MEDIA_KINDS = ("photo", "voice", "document", "sticker")
_INLINE_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}
# Delivered unless allowed_updates lists them explicitly (as documented for getUpdates).
_OPT_IN_UPDATES = {"chat_member", "message_reaction", "message_reaction_count"}
_FILE_ID_PREFIX = {
    "photo": "AgACAgQAAxkBAA",
    "voice": "AwACAgQAAxkBAA",
    "document": "BQACAgQAAxkBAA",
    "sticker": "CAACAgQAAxkBAA",
}
_PHOTO_SIZES = ((90, 68), (320, 240), (800, 600))
_TEXT_LIMIT = 4096
_CAPTION_LIMIT = 1024


GLOBAL_RATE = 30  # messages a second a bot may send in all (rate_limits=True)
CHAT_JITTER = 0.05  # seconds: two messages to one chat arriving this much under a second apart still pass


class TelegramStandIn:
    """In-memory Telegram Bot API with a Starlette app (``.app``) and a test-facing API."""

    # How often a waiting getUpdates looks at its deadline and its client when no update wakes it (seconds).
    POLL_STEP = 0.02

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        strict: bool = True,
        bot_username: str = "TettPaBot",
        bot_id: int | None = None,
        bot_first_name: str = "Tett på",
        webhook_attempts: int = 3,
        spec_path: str | Path = SPEC_PATH,
        clock: Callable[[], float] | None = None,
        rate_limits: bool = False,
    ) -> None:
        self.token = token
        # Seconds since the epoch for the messages' dates; the sandbox passes its movable clock.
        self._time = clock or time.time
        # rate_limits=True refuses messages beyond Telegram's limits for a bot with 429 and retry_after, as
        # Telegram does: 30 a second in all (a bucket of 30 refilled at 30/s) and one a second per chat.
        self.rate_limits = rate_limits
        self.refused_for_rate = 0
        self.refused_for_chat = 0  # of refused_for_rate, those refused for the chat's 1/s (not the 30/s)
        self.rate_clock = time.monotonic  # what the limits count seconds by (a test moves its own)
        self._bucket = (float(GLOBAL_RATE), 0.0)  # (tokens, at)
        self._chat_last: dict[str, float] = {}
        # strict=False behaves like the real API for unknown parameters and unknown fields in
        # JSON objects: they are ignored instead of refused (and not recorded as violations).
        self.strict = strict
        prefix = token.split(":", 1)[0]
        self.bot_id = bot_id if bot_id is not None else (int(prefix) if prefix.isdigit() else 123456)
        self.bot_user: JSONDict = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.webhook_attempts = webhook_attempts
        self.violations: list[str] = []
        self._spec = _load_spec(str(spec_path))

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        # Long polls waiting (their loop and wake-up): an update queued from any thread wakes them at once,
        # as Telegram answers a waiting getUpdates as soon as there is something.
        self._polls: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._users: dict[int, JSONDict] = {}
        self._chats: dict[int, JSONDict] = {}  # chat id -> {"chat", "messages", "by_id", "next_id"}
        self._blocked: set[int] = set()
        self._reply_keyboards: dict[int, JSONDict] = {}
        self._pending: list[JSONDict] = []
        self._next_update_id = 1
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        self._calls: list[tuple[str, JSONDict]] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._garble: dict[str, int] = {}  # method -> calls still to answer with an unreadable body
        self._files: dict[str, JSONDict] = {}  # file_id -> record
        self._files_by_path: dict[str, JSONDict] = {}
        self._file_numbers = itertools.count(1)
        self._callback_queries: dict[str, JSONDict] = {}
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._webhook: JSONDict | None = None
        self._webhook_error: tuple[int, str] | None = None
        self._delivery_thread: threading.Thread | None = None
        self._closed = False
        self._descriptions: dict[tuple[str, str], str] = {}

        self._handlers: dict[str, Callable[[JSONDict, dict[str, Upload]], Any]] = {
            "getMe": self._get_me,
            "sendMessage": self._send_message,
            "sendPhoto": lambda p, a: self._send_media("photo", p, a),
            "sendVoice": lambda p, a: self._send_media("voice", p, a),
            "sendDocument": lambda p, a: self._send_media("document", p, a),
            "sendSticker": lambda p, a: self._send_media("sticker", p, a),
            "copyMessage": self._copy_message,
            "forwardMessage": self._forward_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setMyDescription": lambda p, a: self._set_description("description", 512, p),
            "getMyDescription": lambda p, a: self._get_description("description", p),
            "setMyShortDescription": lambda p, a: self._set_description("short_description", 120, p),
            "getMyShortDescription": lambda p, a: self._get_description("short_description", p),
            "getFile": self._get_file,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
        }
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._api_endpoint, methods=["GET", "POST"]),
                Route("/file/bot{token}/{file_path:path}", self._file_endpoint, methods=["GET"]),
            ]
        )

    # ------------------------------------------------------------------------------------
    # Test-facing API: the user's side
    # ------------------------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> JSONDict:
        """Create a user and the private chat with the bot (chat id == user id).

        For an existing user this updates the profile (as when they rename themselves) and keeps
        the chat and its history, so callers may re-register everyone at each start.
        """
        user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        chat: JSONDict = {"id": user_id, "type": "private", "first_name": first_name}
        for key, value in (("last_name", last_name), ("username", username)):
            if value is not None:
                user[key] = chat[key] = value
        if language_code is not None:
            user["language_code"] = language_code
        with self._lock:
            self._users[user_id] = user
            if user_id in self._chats:
                self._chats[user_id]["chat"] = chat
            else:
                self._chats[user_id] = {"chat": chat, "messages": [], "by_id": {}, "next_id": 1}
            return copy.deepcopy(user)

    def user_sends(
        self,
        user_id: int,
        text: str | None = None,
        *,
        reply_to_message_id: int | None = None,
        photo: bool | bytes = False,
        voice: bool | bytes = False,
        document: bool | bytes = False,
        sticker: bool | bytes = False,
        caption: str | None = None,
    ) -> JSONDict:
        """The user writes to the bot. Media flags may be bytes to set the file content.

        Returns the queued Update. A user who blocked the bot unblocks it first (as the
        "Restart" button does), which also queues the my_chat_member update for that.
        """
        media = [
            (kind, value)
            for kind, value in zip(_MEDIA_KINDS, (photo, voice, document, sticker), strict=True)
            if value is not False and value is not None
        ]
        if len(media) > 1:
            raise ValueError("a message carries at most one kind of media")
        if media and text is not None:
            raise ValueError("media messages carry a caption=, not text")
        if not media and (text is None or not text.strip()):
            raise ValueError("a text message needs non-empty text")
        if caption is not None and (not media or media[0][0] == "sticker"):
            raise ValueError("caption= is only for photo, voice and document messages")
        with self._lock:
            user = self._user(user_id)
            if user_id in self._blocked:
                self._set_blocked(user_id, False)
            content: JSONDict = {}
            if media:
                kind, value = media[0]
                content.update(self._new_media(kind, value if isinstance(value, bytes) else None))
                if caption is not None:
                    content.update(self._caption_content(caption, None, None, user_side=True))
            else:
                assert text is not None
                plain, entities = _format_text(text, None, None)
                if _utf16_len(plain) > _TEXT_LIMIT:
                    raise ValueError(f"Telegram clients split texts longer than {_TEXT_LIMIT} characters")
                content["text"] = plain
                if entities:
                    content["entities"] = entities
            extra: JSONDict = {}
            if reply_to_message_id is not None:
                original = self._chats[user_id]["by_id"].get(reply_to_message_id)
                if original is None:
                    raise ValueError(f"no message {reply_to_message_id} in chat {user_id} to reply to")
                extra["reply_to_message"] = _without_reply(original)
            message = self._store_message(user_id, user, content, extra)
            keyboard = self._reply_keyboards.get(user_id)
            if keyboard and keyboard.get("one_time_keyboard"):
                del self._reply_keyboards[user_id]
            return self._queue_update("message", message)

    def user_presses(self, user_id: int, message_id: int, data: str) -> JSONDict:
        """The user presses the inline button with callback_data ``data`` under a bot message."""
        with self._lock:
            user = self._user(user_id)
            message = self._chats[user_id]["by_id"].get(message_id)
            if message is None or message["from"]["id"] != self.bot_id:
                raise ValueError(f"no bot message {message_id} in chat {user_id}")
            buttons = [
                button for row in message.get("reply_markup", {}).get("inline_keyboard", []) for button in row
            ]
            if not any(button.get("callback_data") == data for button in buttons):
                available = [button.get("callback_data") for button in buttons]
                raise ValueError(
                    f"message {message_id} has no button with callback_data {data!r}: {available}"
                )
            query_id = str(secrets.randbits(62))
            self._callback_queries[query_id] = {"user_id": user_id, "answered": None}
            query = {
                "id": query_id,
                "from": copy.deepcopy(user),
                "message": copy.deepcopy(message),
                "chat_instance": str(abs(hash((self.bot_id, user_id))) % 10**18),
                "data": data,
            }
            return self._queue_update("callback_query", query)

    def raw_update(self, update: JSONDict) -> JSONDict:
        """Queue any update as given (for kinds the helpers do not build); assigns update_id."""
        with self._lock:
            update = copy.deepcopy(update)
            if "update_id" not in update:
                update["update_id"] = self._next_update_id
            self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
            self._pending.append(update)
            self._changed.notify_all()
            self._wake_polls()
            return copy.deepcopy(update)

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sends to the chat answer 403; queues my_chat_member."""
        with self._lock:
            self._user(user_id)
            if user_id not in self._blocked:
                self._set_blocked(user_id, True)

    def unblock(self, user_id: int) -> None:
        with self._lock:
            self._user(user_id)
            if user_id in self._blocked:
                self._set_blocked(user_id, False)

    # ------------------------------------------------------------------------------------
    # Test-facing API: inspection and faults
    # ------------------------------------------------------------------------------------

    def history(self, chat_id: int) -> list[JSONDict]:
        """Every message in the private chat, the user's and the bot's, in order."""
        with self._lock:
            return copy.deepcopy(self._chat_record(chat_id)["messages"])

    def sent_to(self, chat_id: int) -> list[JSONDict]:
        """The bot's messages in that chat, in their current (edited) state."""
        with self._lock:
            return copy.deepcopy(self._sent_locked(chat_id))

    def wait_sent(self, chat_id: int, count: int = 1, timeout: float = 5.0) -> list[JSONDict]:
        """Block until the bot has at least ``count`` messages in the chat; return them all.

        Blocks the calling thread: from a coroutine running in the bot's event loop use
        :meth:`wait_sent_async` instead.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                sent = self._sent_locked(chat_id)
                if len(sent) >= count:
                    return copy.deepcopy(sent)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(self._wait_failure(chat_id, count, timeout, sent))
                self._changed.wait(remaining)

    async def wait_sent_async(self, chat_id: int, count: int = 1, timeout: float = 5.0) -> list[JSONDict]:
        """Like :meth:`wait_sent`, without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                sent = self._sent_locked(chat_id)
                if len(sent) >= count:
                    return copy.deepcopy(sent)
                if time.monotonic() >= deadline:
                    raise AssertionError(self._wait_failure(chat_id, count, timeout, sent))
            await asyncio.sleep(0.01)

    def calls(self, method: str | None = None) -> list[tuple[str, JSONDict]]:
        """Recorded requests as (method, decoded params), including refused ones."""
        with self._lock:
            return [copy.deepcopy(call) for call in self._calls if method is None or call[0] == method]

    def reply_keyboard(self, chat_id: int) -> JSONDict | None:
        """The custom reply keyboard the user currently sees in the chat, if any."""
        with self._lock:
            self._chat_record(chat_id)
            return copy.deepcopy(self._reply_keyboards.get(chat_id))

    def my_commands(self, scope: JSONDict | None = None, language_code: str = "") -> list[JSONDict]:
        with self._lock:
            return copy.deepcopy(self._commands.get(_commands_key(scope, language_code), []))

    def spec_problems(self, value: Any, type_name: str) -> list[str]:
        """Check a JSON value against a type of the API definition (e.g. a payload a test built)."""
        return self._spec.check_value(value, [type_name], type_name, strict=True)

    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed (getUpdates) or delivered (webhook)."""
        with self._lock:
            return copy.deepcopy(self._pending)

    def fail_next(
        self,
        method: str,
        *,
        status: int = 500,
        retry_after: int | None = None,
        times: int = 1,
        description: str | None = None,
        drop_connection: bool = False,
        delay: float = 0.0,
    ) -> None:
        """Make the next ``times`` (valid) calls of ``method`` fail.

        ``retry_after`` alone gives a 429 with parameters.retry_after; ``drop_connection``
        closes the connection mid-response; ``delay`` sleeps first. ``status=200`` with a delay
        answers normally, only late.
        """
        name = self._spec.method_name(method)
        if name is None:
            raise ValueError(f"{method!r} is not a Bot API method")
        if retry_after is not None and status == 500:
            status = 429
        if status == 429 and retry_after is None:
            retry_after = 1  # Telegram always says how long to wait
        if drop_connection:
            logging.getLogger("uvicorn.error").addFilter(_hide_dropped)
        with self._lock:
            self._faults.setdefault(name, []).append(
                _Fault(status, retry_after, times, description, drop_connection, delay)
            )

    def garble_next(self, method: str, *, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` are carried out, but answered with a body that is not
        JSON (as third-party emulators and proxies were seen to do): the message exists all the same."""
        name = self._spec.method_name(method)
        if name is None:
            raise ValueError(f"{method!r} is not a Bot API method")
        with self._lock:
            self._garble[name] = self._garble.get(name, 0) + times

    def close(self) -> None:
        """Stop the webhook delivery thread, if one was started."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        thread = self._delivery_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0)

    # ------------------------------------------------------------------------------------
    # HTTP
    # ------------------------------------------------------------------------------------

    async def _api_endpoint(self, request: Request) -> Response:
        method = request.path_params["method"]
        if request.path_params["token"] != self.token:
            self._record_violation(f"{method}: Unauthorized (wrong bot token)")
            return _error_response(401, "Unauthorized")
        name = self._spec.method_name(method)
        if name is None:
            self._record_violation(f"{method}: Not Found (no such method in {self._spec.version})")
            return _error_response(404, "Not Found")

        try:
            raw, attachments = await self._read_params(request, name)
        except _ApiError as exc:
            with self._lock:
                self._calls.append((name, {}))
            return self._refuse(name, exc)
        params, problems = self._spec.check_params(name, raw, strict=self.strict)
        with self._lock:
            self._calls.append((name, {**raw, **params}))
        if problems:
            return self._refuse(name, _invalid("; ".join(problems)))

        if self.rate_limits and (name.startswith("send") or name in ("copyMessage", "forwardMessage")):
            wait = self._rate_wait(str(params.get("chat_id")))
            if wait:
                return _error_response(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
        fault = self._take_fault(name)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.drop_connection:
                return _DropConnection()
            if fault.status >= 300:
                return self._fault_response(fault)

        try:
            if name == "getUpdates":
                result = await self._get_updates(params, request)
            else:
                handler = self._handlers.get(name, self._generic)
                with self._lock:
                    result = handler(params, attachments)
        except _ApiError as exc:
            return self._refuse(name, exc)
        with self._lock:
            garbled = self._garble.get(name, 0) > 0
            if garbled:
                self._garble[name] -= 1
        if garbled:
            # Done, but answered like a proxy in between would: 200 with a body that is not the API's JSON.
            return Response("<html>upstream answered</html>", media_type="text/html")
        return JSONResponse({"ok": True, "result": result})

    async def _file_endpoint(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            self._record_violation("file download: Unauthorized (wrong bot token)")
            return _error_response(401, "Unauthorized")
        with self._lock:
            record = self._files_by_path.get(request.path_params["file_path"])
        if record is None:
            return _error_response(404, "Not Found")
        return Response(record["content"], media_type=record["mime_type"])

    async def _read_params(self, request: Request, method: str) -> tuple[JSONDict, dict[str, Upload]]:
        """Decode parameters like the Bot API: query string, then the body.

        PTB posts application/x-www-form-urlencoded where strings are sent as they are and every
        other value is JSON-encoded (ints, booleans as true/false, objects and arrays), or
        multipart/form-data with the same fields plus file parts when it uploads. JSON bodies
        are accepted too, as the real API does.
        """
        raw: JSONDict = dict(request.query_params)
        attachments: dict[str, Upload] = {}
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if request.method != "POST":
            return raw, attachments
        if content_type == "application/json":
            body = await request.body()
            if body.strip():
                try:
                    data = json.loads(body)
                except ValueError:
                    raise _invalid("can't parse JSON object") from None
                if not isinstance(data, dict):
                    raise _invalid("the JSON body must be an object")
                raw.update(data)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            fields = self._spec.fields(method)
            async with request.form(max_files=100, max_fields=1000) as form:
                for key, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        upload = Upload(value.filename, value.content_type, await value.read())
                        # Parts named after a parameter are that parameter; others are
                        # referenced from JSON as attach://<part name>.
                        if key in fields:
                            raw[key] = upload
                        else:
                            attachments[key] = upload
                    else:
                        raw[key] = value
        elif await request.body():
            raise _invalid(f"unsupported Content-Type {content_type!r}")
        return raw, attachments

    def _refuse(self, method: str, exc: _ApiError) -> Response:
        if exc.violation:
            self._record_violation(f"{method}: {exc.description}")
        return _error_response(exc.status, exc.description, exc.parameters)

    def _record_violation(self, text: str) -> None:
        with self._changed:
            self.violations.append(text)
            self._changed.notify_all()

    def _rate_wait(self, chat: str) -> int:
        """0 if a message to this chat may go now (and count it), else the seconds to wait (Telegram's
        retry_after is whole seconds, at least 1)."""
        with self._lock:
            now = self.rate_clock()
            tokens, at = self._bucket
            tokens = min(float(GLOBAL_RATE), tokens + (now - at) * GLOBAL_RATE)
            last = self._chat_last.get(chat)
            too_soon = last is not None and now - last < 1.0 - CHAT_JITTER
            if tokens < 1 or too_soon:
                self._bucket = (tokens, now)
                self.refused_for_rate += 1
                self.refused_for_chat += too_soon and tokens >= 1
                return 1
            self._bucket = (tokens - 1, now)
            self._chat_last[chat] = now
            return 0

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(method)
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault

    @staticmethod
    def _fault_response(fault: _Fault) -> Response:
        if fault.status == 429:
            description = fault.description or f"Too Many Requests: retry after {fault.retry_after}"
            return _error_response(429, description, {"retry_after": fault.retry_after})
        if fault.description:
            description = fault.description
        else:
            try:
                description = HTTPStatus(fault.status).phrase
            except ValueError:
                description = "Error"
        return _error_response(fault.status, description)

    # ------------------------------------------------------------------------------------
    # Internals (call with the lock held)
    # ------------------------------------------------------------------------------------

    def _user(self, user_id: int) -> JSONDict:
        user = self._users.get(user_id)
        if user is None:
            raise KeyError(f"unknown user {user_id}; call add_user() first")
        return user

    def _chat_record(self, chat_id: int) -> JSONDict:
        record = self._chats.get(chat_id)
        if record is None:
            raise KeyError(f"unknown chat {chat_id}; call add_user() first")
        return record

    def _sent_locked(self, chat_id: int) -> list[JSONDict]:
        return [m for m in self._chat_record(chat_id)["messages"] if m["from"]["id"] == self.bot_id]

    def _wait_failure(self, chat_id: int, count: int, timeout: float, sent: list[JSONDict]) -> str:
        shown = [m.get("text", m.get("caption", "<media>")) for m in sent]
        return (
            f"expected at least {count} bot message(s) in chat {chat_id} within {timeout}s, "
            f"got {len(sent)}: {shown}; violations: {self.violations}"
        )

    def _resolve_chat(self, chat_id: int | str) -> int:
        # Private chats cannot be addressed by @username; unknown ids do not exist.
        if not isinstance(chat_id, int) or chat_id not in self._chats:
            raise _bad("chat not found")
        return chat_id

    def _target_chat(self, chat_id: int | str) -> int:
        resolved = self._resolve_chat(chat_id)
        if resolved in self._blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        return resolved

    def _set_blocked(self, user_id: int, blocked: bool) -> None:
        member = {"status": "member", "user": dict(self.bot_user)}
        kicked = {"status": "kicked", "user": dict(self.bot_user), "until_date": 0}
        if blocked:
            self._blocked.add(user_id)
        else:
            self._blocked.discard(user_id)
        self._queue_update(
            "my_chat_member",
            {
                "chat": copy.deepcopy(self._chats[user_id]["chat"]),
                "from": copy.deepcopy(self._users[user_id]),
                "date": int(self._time()),
                "old_chat_member": member if blocked else kicked,
                "new_chat_member": kicked if blocked else member,
            },
        )

    def _queue_update(self, kind: str, payload: JSONDict) -> JSONDict:
        update = {"update_id": self._next_update_id, kind: copy.deepcopy(payload)}
        self._next_update_id += 1
        self._pending.append(update)
        self._changed.notify_all()
        self._wake_polls()
        return copy.deepcopy(update)

    def _wake_polls(self) -> None:
        """With the lock held: wake every waiting getUpdates (from whichever thread queued the update)."""
        for loop, event in list(self._polls):
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that poll's loop is closed
                self._polls.discard((loop, event))

    def _store_message(self, chat_id: int, sender: JSONDict, content: JSONDict, extra: JSONDict) -> JSONDict:
        record = self._chats[chat_id]
        # In a private chat both sides share one message id sequence.
        message: JSONDict = {
            "message_id": record["next_id"],
            "from": copy.deepcopy(sender),
            "chat": copy.deepcopy(record["chat"]),
            "date": int(self._time()),
        }
        record["next_id"] += 1
        message.update(extra)
        message.update(copy.deepcopy(content))
        record["messages"].append(message)
        record["by_id"][message["message_id"]] = message
        self._changed.notify_all()
        return message

    def _allowed(self, update: JSONDict) -> bool:
        kind = next((key for key in update if key != "update_id"), None)
        if self._allowed_updates:
            return kind in self._allowed_updates
        return kind not in _OPT_IN_UPDATES

    def _deliverable(self, limit: int) -> list[JSONDict]:
        # Updates of kinds the bot did not ask for would never have been created.
        self._pending = [u for u in self._pending if self._allowed(u)]
        return copy.deepcopy(self._pending[:limit])

    # -- files ------------------------------------------------------------------------------

    def _new_file(self, kind: str, data: bytes | None, *, folder: str, ext: str, mime_type: str) -> JSONDict:
        number = next(self._file_numbers)
        content = data if data is not None else f"stand-in {kind} file {number}".encode()
        record = {
            "kind": kind,
            "file_id": f"{_FILE_ID_PREFIX[kind]}{number}{secrets.token_urlsafe(30)}",
            "file_unique_id": f"AQAD{number}{secrets.token_urlsafe(6)}",
            "file_size": len(content),
            "file_path": f"{folder}/file_{number}.{ext}",
            "content": content,
            "mime_type": mime_type,
        }
        self._files[record["file_id"]] = record
        self._files_by_path[record["file_path"]] = record
        return record

    def _new_media(
        self,
        kind: str,
        data: bytes | None,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        duration: int | None = None,
        emoji: str | None = None,
    ) -> JSONDict:
        """Create the file(s) for a new media message; returns the message content."""
        if kind == "photo":
            sizes = []
            records = []
            for width, height in _PHOTO_SIZES:
                rec = self._new_file("photo", data, folder="photos", ext="jpg", mime_type="image/jpeg")
                records.append(rec)
                sizes.append(
                    {
                        "file_id": rec["file_id"],
                        "file_unique_id": rec["file_unique_id"],
                        "file_size": rec["file_size"],
                        "width": width,
                        "height": height,
                    }
                )
            for rec in records:
                rec["content_value"] = sizes  # resending any size sends the whole photo
            return {"photo": sizes}
        if kind == "voice":
            rec = self._new_file("voice", data, folder="voice", ext="oga", mime_type="audio/ogg")
            value: JSONDict = {"duration": duration or 3, "mime_type": "audio/ogg"}
        elif kind == "document":
            mime = mime_type or "application/pdf"
            name = file_name or ("document.pdf" if mime == "application/pdf" else "document")
            ext = name.rsplit(".", 1)[-1] if "." in name else "bin"
            rec = self._new_file("document", data, folder="documents", ext=ext, mime_type=mime)
            value = {"file_name": name, "mime_type": mime}
        else:
            rec = self._new_file("sticker", data, folder="stickers", ext="webp", mime_type="image/webp")
            value = {
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": emoji or "👍",
            }
        value = {
            "file_id": rec["file_id"],
            "file_unique_id": rec["file_unique_id"],
            **value,
            "file_size": rec["file_size"],
        }
        rec["content_value"] = value
        return {kind: value}

    def _media_for(self, kind: str, params: JSONDict, attachments: dict[str, Upload]) -> JSONDict:
        value = params[kind]
        if isinstance(value, str) and value.startswith("attach://"):
            value = attachments.get(value.removeprefix("attach://"))
            if value is None:
                raise _invalid(f"{kind}: the attach:// part is missing from the multipart body")
        if isinstance(value, Upload):
            return self._new_media(
                kind,
                value.data,
                file_name=value.filename,
                mime_type=value.content_type,
                duration=params.get("duration"),
                emoji=params.get("emoji"),
            )
        if value.startswith(("http://", "https://")):
            # Telegram would download it; the stand-in makes up the content.
            return self._new_media(kind, None, duration=params.get("duration"), emoji=params.get("emoji"))
        record = self._files.get(value)
        if record is None:
            raise _bad("wrong file identifier/HTTP URL specified")
        if record["kind"] != kind:
            raise _bad(f"can't use file of type {record['kind'].capitalize()} as {kind.capitalize()}")
        return {kind: copy.deepcopy(record["content_value"])}

    # -- building messages ------------------------------------------------------------------

    def _text_content(self, params: JSONDict) -> JSONDict:
        text = params.get("text")
        if text is None:
            raise _invalid("message text is empty")
        plain, entities = _format_text(text, params.get("parse_mode"), params.get("entities"))
        if not plain:
            raise _invalid("message text is empty")
        if _utf16_len(plain) > _TEXT_LIMIT:
            raise _invalid("message is too long")
        content: JSONDict = {"text": plain}
        if entities:
            content["entities"] = entities
        if params.get("link_preview_options"):
            content["link_preview_options"] = params["link_preview_options"]
        return content

    def _caption_content(
        self,
        caption: str,
        parse_mode: str | None,
        entities: list[JSONDict] | None,
        *,
        user_side: bool = False,
    ) -> JSONDict:
        plain, found = _format_text(caption, parse_mode, entities)
        if _utf16_len(plain) > _CAPTION_LIMIT:
            if user_side:
                raise ValueError(f"captions are limited to {_CAPTION_LIMIT} characters")
            raise _invalid("message caption is too long")
        content: JSONDict = {}
        if plain:
            content["caption"] = plain
            if found:
                content["caption_entities"] = found
        return content

    def _check_reply_markup(self, markup: JSONDict | None) -> None:
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                actions = [key for key in _INLINE_BUTTON_ACTIONS if key in button]
                if not actions:
                    raise _invalid(
                        "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                    )
                if len(actions) > 1:
                    raise _invalid(f"can't parse inline keyboard button: more than one action {actions}")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise _invalid("BUTTON_DATA_INVALID")
                url = button.get("url")
                if url is not None and urlsplit(url).scheme not in ("http", "https", "tg"):
                    raise _invalid(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")

    def _reply_extra(self, chat_id: int, reply_parameters: JSONDict | None) -> JSONDict:
        if not reply_parameters:
            return {}
        source_chat = reply_parameters.get("chat_id", chat_id)
        if isinstance(source_chat, str) and _INTEGER.fullmatch(source_chat):
            source_chat = int(source_chat)  # "Integer or String" inside a JSON object
        source_id = self._resolve_chat(source_chat)
        original = self._chats[source_id]["by_id"].get(reply_parameters["message_id"])
        if original is None:
            if reply_parameters.get("allow_sending_without_reply"):
                return {}
            raise _bad("message to be replied not found")
        extra: JSONDict = {}
        if source_id == chat_id:
            extra["reply_to_message"] = _without_reply(original)
        else:
            external: JSONDict = {"origin": _origin_of(original)}
            for kind in _MEDIA_KINDS:
                if kind in original:
                    external[kind] = copy.deepcopy(original[kind])
            extra["external_reply"] = external
        quote = reply_parameters.get("quote")
        if quote:
            haystack = original.get("text", original.get("caption", ""))
            position = haystack.find(quote)
            if position < 0:
                raise _bad("QUOTE_TEXT_INVALID")
            extra["quote"] = {"text": quote, "position": _utf16_len(haystack[:position]), "is_manual": True}
        return extra

    def _send(self, chat_id: int, content: JSONDict, params: JSONDict) -> JSONDict:
        """Store a bot message built from ``content`` plus the common send options."""
        markup = params.get("reply_markup")
        extra = self._reply_extra(chat_id, params.get("reply_parameters"))
        content = dict(content)
        if markup and "inline_keyboard" in markup:
            # Only inline keyboards belong to a message; reply keyboards change the chat input.
            content["reply_markup"] = markup
        elif markup and "keyboard" in markup:
            self._reply_keyboards[chat_id] = markup
        elif markup and markup.get("remove_keyboard"):
            self._reply_keyboards.pop(chat_id, None)
        if params.get("protect_content"):
            content["has_protected_content"] = True
        return self._store_message(chat_id, self.bot_user, content, extra)

    def _source_message(self, params: JSONDict, what: str) -> JSONDict:
        source_id = self._resolve_chat(params["from_chat_id"])
        original = self._chats[source_id]["by_id"].get(params["message_id"])
        if original is None:
            raise _bad(f"message to {what} not found")
        if original.get("has_protected_content"):
            raise _bad(f"message can't be {'forwarded' if what == 'forward' else 'copied'}")
        return original

    def _editable(self, params: JSONDict) -> JSONDict:
        if "inline_message_id" in params:
            raise _bad("MESSAGE_ID_INVALID")  # there are no inline messages here
        if "chat_id" not in params or "message_id" not in params:
            raise _invalid("message identifier is not specified")
        chat_id = self._target_chat(params["chat_id"])
        message = self._chats[chat_id]["by_id"].get(params["message_id"])
        if message is None:
            raise _bad("message to edit not found")
        if message["from"]["id"] != self.bot_id:
            raise _bad("message can't be edited")
        return message

    def _apply_edit(self, message: JSONDict, changes: JSONDict, *, content_edit: bool) -> JSONDict:
        """``changes`` maps keys to new values, None meaning "remove"."""
        if all(message.get(key) == value for key, value in changes.items()):
            raise _bad(
                "message is not modified: specified new message content and reply markup are exactly "
                "the same as a current content and reply markup of the message"
            )
        for key, value in changes.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = copy.deepcopy(value)
        if content_edit:
            message["edit_date"] = int(self._time())
        self._changed.notify_all()
        return copy.deepcopy(message)

    # ------------------------------------------------------------------------------------
    # Methods (called with the lock held; getUpdates is the async exception)
    # ------------------------------------------------------------------------------------

    def _generic(self, params: JSONDict, attachments: dict[str, Upload]) -> Any:
        return True

    def _get_me(self, params: JSONDict, attachments: dict[str, Upload]) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JSONDict, request: Request) -> list[JSONDict]:
        limit = min(max(params.get("limit", 100), 1), 100)
        timeout = max(params.get("timeout", 0), 0)
        with self._lock:
            self._ensure_no_webhook()
            if "allowed_updates" in params:
                # Remembered for later calls, like the real API; an empty list means "default".
                self._allowed_updates = list(params["allowed_updates"]) or None
            offset = params.get("offset")
            if offset is not None and offset > 0:
                self._pending = [u for u in self._pending if u["update_id"] >= offset]
            elif offset is not None and offset < 0:
                self._pending = self._pending[offset:]
            # A newer getUpdates ends an older one that is still waiting (two bot instances).
            self._poll_generation += 1
            generation = self._poll_generation
        deadline = time.monotonic() + timeout
        woken = asyncio.Event()
        poll = (asyncio.get_running_loop(), woken)
        with self._lock:
            self._polls.add(poll)
        try:
            while True:
                with self._lock:
                    self._ensure_no_webhook()
                    if generation != self._poll_generation:
                        raise _ApiError(
                            409,
                            "Conflict: terminated by other getUpdates request; "
                            "make sure that only one bot instance is running",
                        )
                    batch = self._deliverable(limit)
                    woken.clear()
                if batch or time.monotonic() >= deadline:
                    return batch
                if await request.is_disconnected():
                    return []
                # Woken at once by an update queued from any thread; every 20 ms otherwise, to notice the
                # deadline, a newer poll or a client gone.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.POLL_STEP):
                        await woken.wait()
        finally:
            with self._lock:
                self._polls.discard(poll)

    def _ensure_no_webhook(self) -> None:
        if self._webhook is not None:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )

    # Handlers check the request's own content before the chat, so a malformed request is
    # recorded as a violation even when the chat state would refuse it anyway.

    def _send_message(self, params: JSONDict, attachments: dict[str, Upload]) -> JSONDict:
        content = self._text_content(params)
        self._check_reply_markup(params.get("reply_markup"))
        chat_id = self._target_chat(params["chat_id"])
        return copy.deepcopy(self._send(chat_id, content, params))

    def _send_media(self, kind: str, params: JSONDict, attachments: dict[str, Upload]) -> JSONDict:
        caption: JSONDict = {}
        if "caption" in params:
            caption = self._caption_content(
                params["caption"], params.get("parse_mode"), params.get("caption_entities")
            )
        self._check_reply_markup(params.get("reply_markup"))
        chat_id = self._target_chat(params["chat_id"])
        content = self._media_for(kind, params, attachments)
        content.update(caption)
        return copy.deepcopy(self._send(chat_id, content, params))

    def _copy_message(self, params: JSONDict, attachments: dict[str, Upload]) -> JSONDict:
        self._check_reply_markup(params.get("reply_markup"))
        chat_id = self._target_chat(params["chat_id"])
        original = self._source_message(params, "copy")
        content = {key: value for key, value in original.items() if key not in _META_KEYS}
        if not content:
            raise _bad("message can't be copied")
        if "caption" in params and "text" not in content:
            content.pop("caption", None)
            content.pop("caption_entities", None)
            content.update(
                self._caption_content(
                    params["caption"], params.get("parse_mode"), params.get("caption_entities")
                )
            )
        message = self._send(chat_id, content, params)
        return {"message_id": message["message_id"]}

    def _forward_message(self, params: JSONDict, attachments: dict[str, Upload]) -> JSONDict:
        chat_id = self._target_chat(params["chat_id"])
        original = self._source_message(params, "forward")
        content = {key: value for key, value in original.items() if key not in _META_KEYS}
        if not content:
            raise _bad("message can't be forwarded")
        content["forward_origin"] = _origin_of(original)
        return copy.deepcopy(self._send(chat_id, content, params))

    def _edit_message_text(self, params: JSONDict, attachments: dict[str, Upload]) -> JSONDict:
        content = self._text_content(params)
        markup = params.get("reply_markup")
        self._check_reply_markup(markup)
        message = self._editable(params)
        if "text" not in message:
            raise _bad("there is no text in the message to edit")
        # Leaving out reply_markup removes the inline keyboard, as in Telegram.
        changes = {"text": content["text"], "entities": content.get("entities"), "reply_markup": markup}
        return self._apply_edit(message, changes, content_edit=True)

    def _edit_message_caption(self, params: JSONDict, attachments: dict[str, Upload]) -> JSONDict:
        content = self._caption_content(
            params.get("caption", ""), params.get("parse_mode"), params.get("caption_entities")
        )
        markup = params.get("reply_markup")
        self._check_reply_markup(markup)
        message = self._editable(params)
        if "text" in message:
            raise _bad("there is no caption in the message to edit")
        changes = {
            "caption": content.get("caption"),
            "caption_entities": content.get("caption_entities"),
            "reply_markup": markup,
        }
        return self._apply_edit(message, changes, content_edit=True)

    def _edit_message_reply_markup(self, params: JSONDict, attachments: dict[str, Upload]) -> JSONDict:
        markup = params.get("reply_markup")
        self._check_reply_markup(markup)
        message = self._editable(params)
        return self._apply_edit(message, {"reply_markup": markup or None}, content_edit=False)

    def _delete_message(self, params: JSONDict, attachments: dict[str, Upload]) -> bool:
        chat_id = self._resolve_chat(params["chat_id"])
        record = self._chats[chat_id]
        message = record["by_id"].pop(params["message_id"], None)
        if message is None:
            raise _bad("message to delete not found")
        record["messages"].remove(message)
        self._changed.notify_all()
        return True

    def _answer_callback_query(self, params: JSONDict, attachments: dict[str, Upload]) -> bool:
        query = self._callback_queries.get(params["callback_query_id"])
        if query is None or query["answered"] is not None:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        if len(params.get("text", "")) > 200:
            raise _invalid("MESSAGE_TOO_LONG")
        query["answered"] = dict(params)
        return True

    def _send_chat_action(self, params: JSONDict, attachments: dict[str, Upload]) -> bool:
        if params["action"] not in _CHAT_ACTIONS:
            raise _invalid("wrong parameter action in request")
        self._target_chat(params["chat_id"])
        return True

    def _set_my_commands(self, params: JSONDict, attachments: dict[str, Upload]) -> bool:
        commands = params["commands"]
        if len(commands) > 100:
            raise _invalid("too many commands (at most 100)")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]):
                raise _invalid("BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"]) <= 256:
                raise _invalid("command description must be 1-256 characters")
        key = _commands_key(params.get("scope"), params.get("language_code", ""))
        self._commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
        return True

    def _get_my_commands(self, params: JSONDict, attachments: dict[str, Upload]) -> list[JSONDict]:
        key = _commands_key(params.get("scope"), params.get("language_code", ""))
        return copy.deepcopy(self._commands.get(key, []))

    def _delete_my_commands(self, params: JSONDict, attachments: dict[str, Upload]) -> bool:
        self._commands.pop(_commands_key(params.get("scope"), params.get("language_code", "")), None)
        return True

    def _set_description(self, field: str, limit: int, params: JSONDict) -> bool:
        text = params.get(field, "")
        if len(text) > limit:
            raise _bad(f"{field.upper()}_INVALID: at most {limit} characters")
        language = params.get("language_code", "")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise _bad("LANGUAGE_CODE_INVALID")
        if text:
            self._descriptions[(field, language)] = text
        else:
            self._descriptions.pop((field, language), None)
        return True

    def _get_description(self, field: str, params: JSONDict) -> JSONDict:
        return {field: self._descriptions.get((field, params.get("language_code", "")), "")}

    def description(self, language_code: str = "", *, short: bool = False) -> str:
        """The bot's (short) description for a language as Telegram would show it; '' when none."""
        with self._lock:
            return self._descriptions.get(("short_description" if short else "description", language_code), "")

    def _get_file(self, params: JSONDict, attachments: dict[str, Upload]) -> JSONDict:
        record = self._files.get(params["file_id"])
        if record is None:
            raise _bad("invalid file_id")
        return {key: record[key] for key in ("file_id", "file_unique_id", "file_size", "file_path")}

    # -- webhook ----------------------------------------------------------------------------

    def _set_webhook(self, params: JSONDict, attachments: dict[str, Upload]) -> bool:
        url = params["url"]
        if url == "":
            return self._delete_webhook(params, attachments)  # documented: empty url removes it
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _invalid("bad webhook: invalid URL")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise _invalid("bad webhook: secret token contains unallowed characters")
        max_connections = params.get("max_connections", 40)
        if not 1 <= max_connections <= 100:
            raise _invalid("bad webhook: max_connections must be 1-100")
        if params.get("drop_pending_updates"):
            self._pending.clear()
        if "allowed_updates" in params:
            self._allowed_updates = list(params["allowed_updates"]) or None
        self._webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": max_connections,
            "ip_address": params.get("ip_address", "127.0.0.1"),
            "has_custom_certificate": "certificate" in params,
        }
        self._webhook_error = None
        if self._delivery_thread is None:
            self._delivery_thread = threading.Thread(
                target=self._webhook_loop, name="TelegramStandIn-webhook", daemon=True
            )
            self._delivery_thread.start()
        self._changed.notify_all()
        return True

    def _delete_webhook(self, params: JSONDict, attachments: dict[str, Upload]) -> bool:
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self._webhook = None
        self._changed.notify_all()
        return True

    def _get_webhook_info(self, params: JSONDict, attachments: dict[str, Upload]) -> JSONDict:
        hook = self._webhook
        info: JSONDict = {
            "url": hook["url"] if hook else "",
            "has_custom_certificate": bool(hook and hook["has_custom_certificate"]),
            "pending_update_count": len(self._pending),
        }
        if hook:
            info["ip_address"] = hook["ip_address"]
            info["max_connections"] = hook["max_connections"]
            if self._allowed_updates:
                info["allowed_updates"] = list(self._allowed_updates)
            if self._webhook_error:
                info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    def _webhook_loop(self) -> None:
        """Deliver pending updates one at a time, in order, while a webhook is set."""
        with httpx.Client(timeout=10.0) as client:
            while True:
                with self._changed:
                    while True:
                        if self._closed:
                            return
                        hook = self._webhook
                        batch = self._deliverable(1) if hook is not None else []
                        if batch:
                            break
                        self._changed.wait(0.25)
                update = batch[0]
                delivered, error = self._post_update(client, hook, update)
                with self._changed:
                    # Given up after the retries: drop it (Telegram would keep trying much longer).
                    # Webhook changed meanwhile: keep it for whoever receives updates next.
                    if delivered or (error is not None and self._webhook is hook):
                        self._pending = [u for u in self._pending if u["update_id"] != update["update_id"]]
                    if error is not None:
                        self._webhook_error = (int(self._time()), error)
                    self._changed.notify_all()

    def _post_update(self, client: httpx.Client, hook: JSONDict, update: JSONDict) -> tuple[bool, str | None]:
        headers = {"Content-Type": "application/json"}
        if hook["secret_token"]:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
        error = None
        for attempt in range(self.webhook_attempts):
            if attempt:
                time.sleep(0.1 * 2 ** (attempt - 1))
            with self._lock:
                if self._webhook is not hook or self._closed:
                    return False, None
            try:
                response = client.post(hook["url"], content=json.dumps(update), headers=headers)
            except httpx.HTTPError as exc:
                error = f"Connection failed: {exc.__class__.__name__}: {exc}"
                continue
            if 200 <= response.status_code < 300:
                return True, None
            error = f"Wrong response from the webhook: {response.status_code} {response.reason_phrase}"
        return False, error


def _without_reply(message: JSONDict) -> JSONDict:
    # A message inside reply_to_message never carries its own reply_to_message.
    return {key: copy.deepcopy(value) for key, value in message.items() if key != "reply_to_message"}


def _origin_of(message: JSONDict) -> JSONDict:
    if "forward_origin" in message:
        return copy.deepcopy(message["forward_origin"])
    return {"type": "user", "date": message["date"], "sender_user": copy.deepcopy(message["from"])}


def _commands_key(scope: JSONDict | None, language_code: str | None) -> tuple[str, str]:
    return json.dumps(scope or {"type": "default"}, sort_keys=True), language_code or ""
