"""The /sandbox page and its JSON API (CONTRACT.md, "Sandbox"): play youths, parent and workers against the
built-in Telegram and Twilio stand-ins, move the service's clock, and watch the contact log."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.acute import is_acute
from bot.contactlog import export
from bot.i18n import LANGUAGES, Lang
from bot.timespec import SpecError, parse_duration, parse_time
from handlers.limits import parse_json, read_capped
from handlers.twilio.webhooks import RECEIVED_AT
from handlers.web.dashboard import channel_labels, direction_labels, kind_labels, party_labels
from handlers.web.dashboard_base import set_session_cookie

SANDBOX_BODY_BYTES = 64_000  # one typed message (at most 4096 characters) and a few ids

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)


def _sandbox(request: Request):
    return request.app.state.runtime.sandbox


async def _people(sandbox) -> list[dict]:
    """The demo people, read in a worker thread (the event loop never waits on the database)."""
    return await sandbox.service.read(sandbox.people_in)


def _local(service, moment: datetime | None) -> str | None:
    return moment.astimezone(service.settings.tz).isoformat(timespec="seconds") if moment else None


async def page(request: Request) -> Response:
    """The page itself; it reads and writes through the JSON routes below."""
    sandbox = _sandbox(request)
    language = request.query_params.get("lang")
    language = language if language in LANGUAGES else "nb"  # ?lang=en shows the page in another language
    L = Lang(language)
    html = TEMPLATES.get_template("sandbox.html").render(
        labels={"kind": kind_labels(L), "channel": channel_labels(L), "party": party_labels(L),
                "direction": direction_labels(L)},
        lang=language, rtl=language == "ar", _=L._, people=await _people(sandbox), login_shown=sandbox.login_shown, tz=str(sandbox.service.settings.tz),
        email=sandbox.coordinator_email, password=sandbox.coordinator_password)
    return HTMLResponse(html)


async def people(request: Request) -> Response:
    sandbox = _sandbox(request)
    return JSONResponse({"people": [{k: p[k] for k in ("id", "name", "role", "channel")}
                                    for p in await _people(sandbox)]})


def _telegram_chat(sandbox, person: dict) -> list[dict]:
    svc = sandbox.service
    out = []
    for m in sandbox.telegram.history(person["user_id"]):
        text = m.get("text") or m.get("caption") or ("[" + _kind(m) + "]")
        buttons = [{"label": b.get("text"), "data": b.get("callback_data"),
                    "used": (person["id"], m["message_id"], b.get("callback_data")) in sandbox.pressed}
                   for row in (m.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]
        out.append({"id": m["message_id"], "from_service": m.get("from", {}).get("is_bot", False), "text": text,
                    "buttons": buttons, "reply_to": (m.get("reply_to_message") or {}).get("message_id"),
                    "at": _local(svc, datetime.fromtimestamp(m["date"], tz=svc.settings.tz)),
                    "acute": is_acute(text, svc.settings.crisis_words)})
    return out


def _sms_chat(sandbox, person: dict) -> list[dict]:
    svc = sandbox.service
    out = []
    for m in sandbox.sms_chat(person["phone"]):
        m["at"] = _local(svc, m["at"])
        m["acute"] = is_acute(m["text"], svc.settings.crisis_words)
        out.append(m)
    return out


async def chats(request: Request) -> Response:
    """Every demo person's chat with the service, as the stand-ins hold it."""
    sandbox = _sandbox(request)
    result = {}
    for person in await _people(sandbox):
        chat = _telegram_chat if person["channel"] == "telegram" else _sms_chat
        result[str(person["id"])] = chat(sandbox, person)
    return JSONResponse({"chats": result, "now": _local(sandbox.service, sandbox.service.now())})


def _kind(message: dict) -> str:
    for kind in ("photo", "voice", "document", "sticker"):
        if kind in message:
            return kind
    return "?"


async def send(request: Request) -> Response:
    """Play a person: their message (or button press) goes to the service on their channel."""
    sandbox = _sandbox(request)
    runtime = request.app.state.runtime
    svc = sandbox.service
    try:
        form = parse_json(await read_capped(request, SANDBOX_BODY_BYTES))
        person = next((p for p in await _people(sandbox) if str(p["id"]) == str(form["person"])), None)
        if person is None:
            raise ValueError("unknown person")
        reply_to = form.get("reply_to")
        if form.get("button"):
            if person["channel"] != "telegram":
                raise ValueError("SMS has no buttons")
            data = str(form["button"])
            message_id = int(reply_to) if reply_to else next(
                (m["id"] for m in reversed(_telegram_chat(sandbox, person))
                 if any(b["data"] == data for b in m["buttons"])), None)
            if message_id is None:
                raise ValueError("no message has that button")
            sandbox.telegram.user_presses(person["user_id"], message_id, data)
            sandbox.pressed.add((person["id"], message_id, data))
        else:
            text = str(form.get("text") or "").strip()[:4096]
            if not text:
                raise ValueError("a message needs text")
            if person["channel"] == "telegram":
                sandbox.telegram.user_sends(person["user_id"], text,
                                            reply_to_message_id=int(reply_to) if reply_to else None)
            else:
                now = svc.now()
                sid = sandbox.sms_typed(person["phone"], text, now)
                payload = json.dumps({"MessageSid": sid, "SmsSid": sid, "From": person["phone"],
                                      "To": sandbox.service_number, "Body": text, RECEIVED_AT: now.isoformat()})
                runtime.intake.hand(await svc.write(lambda session: runtime.intake.store(
                    session, source="sms", key=f"sms:{sid}", payload=payload)))
    except (ValueError, KeyError, TypeError) as exc:
        # The stand-ins refuse what a phone would never send (empty text, a missing message).
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse({"ok": True})


def _until(svc, value: str) -> timedelta:
    """How far to the next local HH:MM ("06:45": tomorrow's, if today's has passed)."""
    at = parse_time(value)
    now = svc.now().astimezone(svc.settings.tz)
    target = now.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    if target <= now:
        target = (now + timedelta(days=1)).replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    return target - now


async def clock(request: Request) -> Response:
    """GET: the service's time. POST {"advance": DURATION} (or {"until": "HH:MM"}): move it forward; what
    falls due on the way runs, minute by minute."""
    sandbox = _sandbox(request)
    svc = sandbox.service
    if request.method == "POST":
        try:
            form = parse_json(await read_capped(request, SANDBOX_BODY_BYTES))
            if form.get("until"):
                delta = _until(svc, str(form["until"]))
            else:
                delta = parse_duration(form["advance"])
            await svc.run(sandbox.advance, delta)
        except (ValueError, KeyError, TypeError, SpecError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        finally:
            svc.kick_outbox()
        if sandbox.scheduler is not None:  # and the standing jobs look at once, at the new time
            for job in sandbox.scheduler.get_jobs():
                if job.id != "retention":
                    job.modify(next_run_time=datetime.now(svc.settings.tz))
    return JSONResponse({"now": _local(svc, svc.now())})


async def log(request: Request) -> Response:
    """The contact log, as `tettpa log export --format json` gives it (the demo roster's only)."""
    sandbox = _sandbox(request)
    svc = sandbox.service
    ids = {p["id"] for p in await _people(sandbox)}
    text = await svc.read(lambda session: export(session, svc.settings, fmt="json"))
    entries = [e for e in json.loads(text)["entries"]
               if e.get("youth_id") in ids or (e.get("youth_id") is None and e.get("worker_id") in ids)]
    return JSONResponse({"entries": entries})


async def dashboard(request: Request) -> Response:
    """The dashboard, logged in as the demo coordinator."""
    sandbox = _sandbox(request)
    cookie = await sandbox.service.run(sandbox.coordinator_session)
    if cookie is None:
        return RedirectResponse("/login", status_code=303)
    response = RedirectResponse("/dashboard", status_code=303)
    set_session_cookie(response, sandbox.service, cookie)
    return response


routes = [
    Route("/sandbox", page),
    Route("/sandbox/api/people", people),
    Route("/sandbox/api/chats", chats),
    Route("/sandbox/api/send", send, methods=["POST"]),
    Route("/sandbox/api/clock", clock, methods=["GET", "POST"]),
    Route("/sandbox/api/log", log),
    Route("/sandbox/dashboard", dashboard),
]
