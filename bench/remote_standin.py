"""The Telegram stand-in in a process of its own, for the relay benchmark: Telegram is not in the bot's
process, and a stand-in in it took a fifth of the GIL the bots under test needed (py-spy: 18 % of the
samples), and more of ours than of the bare relay's.

The child serves the Bot API as `standins.telegram.TelegramStandIn` does, plus a few routes for the
benchmark under `/_bench/`. Times are taken in the child alone (`time.perf_counter`): when a youth's
message is queued as an update, and when a marked text reaches `sendMessage`/`copyMessage`. A latency is
the difference of two of its own clock readings, whatever the driver's requests to it cost.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import socket
import time

import httpx

MARK = re.compile(r"\[([ms])(\d+)\]")


def _serve(conn, token: str, users: list[int], limits: bool) -> None:
    """The child: the stand-in with the benchmark's routes, on a free port sent back through `conn`."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    from standins.telegram import TelegramStandIn

    stand_in = TelegramStandIn(token=token, strict=True, bot_username="TettPaBenchBot", rate_limits=limits)
    for user_id in users:
        stand_in.add_user(user_id, f"U{user_id}", language_code="nb")
    at: dict[str, tuple[float, dict]] = {}
    arrived: dict[str, asyncio.Event] = {}
    sends: list[float] = []

    def event(key: str) -> asyncio.Event:
        return arrived.setdefault(key, asyncio.Event())

    def wrap(original):
        def handler(params, attachments):
            result = original(params, attachments)
            now = time.perf_counter()
            text = str(params.get("text") or params.get("caption") or "")
            for kind, number in MARK.findall(text):
                key = f"{kind}{number}"
                if key not in at:
                    at[key] = (now, result if isinstance(result, dict) else {})
                    event(key).set()  # the handlers run on the server's loop
            sends.append(now)
            return result
        return handler

    for method in ("sendMessage", "copyMessage"):
        stand_in._handlers[method] = wrap(stand_in._handlers[method])

    async def send(request):
        """POST [{"user", "text", "reply_to"?}, ...]: queued as updates; when (the child's clock)."""
        body = await request.json()
        t0 = time.perf_counter()
        for one in body:
            stand_in.user_sends(one["user"], one["text"], reply_to_message_id=one.get("reply_to"))
        return JSONResponse({"t0": t0})

    async def wait(request):
        """GET ?keys=a,b&timeout=s: when each marked text arrived, and the message it became."""
        keys = request.query_params["keys"].split(",")
        timeout = float(request.query_params.get("timeout", "60"))
        async with asyncio.timeout(timeout):
            for key in keys:
                await event(key).wait()
        return JSONResponse({"at": {key: at[key] for key in keys}})

    async def stats(request):
        return JSONResponse({"sends": len(sends), "refused_429": stand_in.refused_for_rate,
                             "refused_429_chat": stand_in.refused_for_chat})

    app = Starlette(routes=[Route("/_bench/send", send, methods=["POST"]), Route("/_bench/wait", wait),
                            Route("/_bench/stats", stats), Mount("", app=stand_in.app)])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY, as in standins
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    conn.send(sock.getsockname()[1])
    conn.close()
    uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1)).run(sockets=[sock])


class RemoteStandIn:
    """The child process and a client of its benchmark routes (async context manager)."""

    def __init__(self, token: str, users: list[int], *, limits: bool):
        self.token, self.users, self.limits = token, users, limits

    async def __aenter__(self) -> RemoteStandIn:
        context = multiprocessing.get_context("spawn")
        mine, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, self.token, self.users, self.limits),
                                       name="telegram stand-in", daemon=True)
        self.process.start()
        port = await asyncio.to_thread(mine.recv)
        self.url = f"http://127.0.0.1:{port}"
        self.client = httpx.AsyncClient(base_url=self.url, timeout=httpx.Timeout(700.0, connect=10.0),
                                        limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))
        for _ in range(200):  # the server listens once uvicorn has started
            try:
                await self.client.get("/_bench/stats")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.client.aclose()
        self.process.terminate()
        await asyncio.to_thread(self.process.join, 10)

    async def user_sends(self, user: int, text: str, reply_to: int | None = None) -> float:
        """Queue one message from a user; when it was queued (the child's clock)."""
        return (await self.send_many([(user, text, reply_to)]))

    async def send_many(self, messages: list[tuple[int, str, int | None]]) -> float:
        body = [{"user": user, "text": text, "reply_to": reply_to} for user, text, reply_to in messages]
        response = await self.client.post("/_bench/send", json=body)
        response.raise_for_status()
        return response.json()["t0"]

    async def wait(self, *keys: str, timeout: float = 60.0) -> dict[str, tuple[float, dict]]:
        response = await self.client.get("/_bench/wait", params={"keys": ",".join(keys), "timeout": timeout})
        response.raise_for_status()
        return {key: (t, message) for key, (t, message) in response.json()["at"].items()}

    async def stats(self) -> dict:
        return (await self.client.get("/_bench/stats")).json()
