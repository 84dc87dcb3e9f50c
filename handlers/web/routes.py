"""HTTP routes of the one web server: health and the Telegram webhook."""

from __future__ import annotations

import asyncio
import hmac
import inspect

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from handlers.intake import store_telegram
from handlers.limits import TELEGRAM_UPDATE_BYTES, db_int, parse_json, read_capped
from models.db import ping


async def healthz(request: Request) -> Response:
    """200 while the database answers, 503 otherwise, with what else is known."""
    runtime = request.app.state.runtime
    # In worker threads: a read never takes SQLite's write lock, so /healthz answers while another process
    # holds it; the event loop never waits for the database.
    ok = await asyncio.to_thread(ping, runtime.service.engine)
    status = runtime.status(database=ok)
    if inspect.isawaitable(status):
        status = await status
    body = {"status": "ok" if ok else "unavailable", "database": "ok" if ok else "down", **status}
    return JSONResponse(body, status_code=200 if ok else 503)


async def metrics(request: Request) -> Response:
    """Prometheus counters and gauges (text exposition format); no personal data in any label."""
    runtime = request.app.state.runtime
    values = runtime.metrics()
    if inspect.isawaitable(values):
        values = await values
    lines = []
    for name, (kind, help_text, value) in values.items():
        lines += [f"# HELP tettpa_{name} {help_text}", f"# TYPE tettpa_{name} {kind}", f"tettpa_{name} {value}"]
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")


async def telegram_webhook(request: Request) -> Response:
    """Telegram's webhook: refused without the secret token; stored before it is acknowledged."""
    runtime = request.app.state.runtime
    expected = runtime.webhook_secret
    given = request.headers.get("x-telegram-bot-api-secret-token", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return PlainTextResponse("forbidden", status_code=403)
    body = await read_capped(request, TELEGRAM_UPDATE_BYTES)  # 413 past the cap or for multipart
    try:
        update = parse_json(body)
    except ValueError:
        return PlainTextResponse("not json", status_code=400)
    update_id = update.get("update_id") if isinstance(update, dict) else None
    if not isinstance(update_id, int) or db_int(update_id) is None:
        return PlainTextResponse("not an update", status_code=400)
    # Anything else with an update_id is stored and acknowledged: one PTB cannot read (no `date`, a kind it
    # does not know) is parked by the intake with its reason, never retried for ever nor answered 500.
    runtime.intake.hand(await runtime.service.run(store_telegram, runtime.service, [update], runtime.intake))
    return PlainTextResponse("ok")


HSTS = "max-age=31536000; includeSubDomains"


class StrictTransport:
    """Adds Strict-Transport-Security to every answer (used when TETTPA_PUBLIC_URL is https): a browser that
    once reached the service over HTTPS never again sends a session cookie over plain HTTP."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_header(message):
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_header)


routes = [
    Route("/healthz", healthz),
    Route("/metrics", metrics),
    Route("/telegram/webhook", telegram_webhook, methods=["POST"]),
]
