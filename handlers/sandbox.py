"""The /sandbox page: play youth, parent and workers against the built-in Telegram stand-in."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot.i18n import Lang
from handlers.limits import parse_json, read_capped

SANDBOX_BODY_BYTES = 64_000  # one typed message (at most 4096 characters) and a few ids

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)


def _sandbox(request: Request):
    return request.app.state.runtime.sandbox


async def page(request: Request) -> Response:
    """The page itself; it reads and writes through the JSON routes below."""
    L = Lang("nb")
    html = TEMPLATES.get_template("sandbox.html").render(_=L._, people=_sandbox(request).people())
    return HTMLResponse(html)


async def chats(request: Request) -> Response:
    """Every demo person's chat with the bot, as the stand-in holds it."""
    sandbox = _sandbox(request)
    result = {}
    for person in sandbox.people():
        result[str(person["user_id"])] = [
            {"id": m["message_id"], "from_bot": m.get("from", {}).get("is_bot", False),
             "text": m.get("text") or m.get("caption") or ("[" + _kind(m) + "]"),
             "reply_to": (m.get("reply_to_message") or {}).get("message_id"),
             "buttons": [[b.get("text"), b.get("callback_data")] for row in
                         (m.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]}
            for m in sandbox.telegram.history(person["user_id"])
        ]
    return JSONResponse(result)


def _kind(message: dict) -> str:
    for kind in ("photo", "voice", "document", "sticker"):
        if kind in message:
            return kind
    return "?"


async def send(request: Request) -> Response:
    """Play a person: their message goes to the bot like one typed in Telegram."""
    sandbox = _sandbox(request)
    try:
        form = parse_json(await read_capped(request, SANDBOX_BODY_BYTES))
        user_id = int(form["user_id"])
        if user_id not in {p["user_id"] for p in sandbox.people()}:
            raise ValueError("unknown person")
        if form.get("button"):
            sandbox.telegram.user_presses(user_id, int(form["message_id"]), str(form["button"]))
        else:
            text = str(form.get("text") or "").strip()
            reply_to = form.get("reply_to")
            sandbox.telegram.user_sends(user_id, text[:4096], reply_to_message_id=int(reply_to) if reply_to else None)
    except (ValueError, KeyError, TypeError) as exc:
        # The stand-in refuses what Telegram's apps would never send (empty text, a missing message).
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse({"ok": True})


routes = [
    Route("/sandbox", page),
    Route("/sandbox/chats", chats),
    Route("/sandbox/send", send, methods=["POST"]),
]
