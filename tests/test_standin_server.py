"""standins.server.BackgroundServer: the stand-ins' HTTP server answers without Nagle's wait, so a benchmark
beside it measures the bot, not a 40 ms delayed ACK on every response written as headers then body."""

from __future__ import annotations

import socket

import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from standins.server import BackgroundServer


async def _ok(request):
    return JSONResponse({"ok": True})


def test_it_sends_each_response_at_once_with_tcp_nodelay_on_the_accepted_connection():
    app = Starlette(routes=[Route("/", _ok)])
    with BackgroundServer(app) as server, httpx.Client() as client:
        assert client.get(server.url + "/").json() == {"ok": True}
        (connection,) = server._server.server_state.connections
        accepted = connection.transport.get_extra_info("socket")
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
