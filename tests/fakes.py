"""An in-process transport for core tests (the end-to-end tests use the HTTP stand-ins instead)."""

from __future__ import annotations

import asyncio
import itertools
import random

from bot.out.outbox import Sender
from bot.out.transports.base import Outgoing, Receipt, TransportError
from bot.service import Service


class RecordingTransport:
    def __init__(self):
        self.sent: list[Outgoing] = []
        self.ids = itertools.count(100)
        self.failures: list[TransportError] = []

    async def send(self, out: Outgoing) -> Receipt:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(out)
        return Receipt(str(next(self.ids)))

    def to(self, address) -> list[Outgoing]:
        return [o for o in self.sent if o.address == str(address)]


async def deliver(service: Service, transport: RecordingTransport | None = None) -> RecordingTransport:
    """Send everything that is due through a recording transport, as the outbox loop would."""
    transport = transport or RecordingTransport()
    sender = Sender(service, {"telegram": transport, "sms": transport, "call": transport})
    while await sender.run_once():
        pass
    return transport


class UnevenTelegram(RecordingTransport):
    """Sends that take a random while; records how many were under way at once, in all and per chat."""

    def __init__(self, seed: int):
        super().__init__()
        self.random = random.Random(seed)
        self.under_way: dict[str, int] = {}
        self.most = self.most_per_chat = 0

    async def send(self, out: Outgoing) -> Receipt:
        self.under_way[out.address] = self.under_way.get(out.address, 0) + 1
        self.most = max(self.most, sum(self.under_way.values()))
        self.most_per_chat = max(self.most_per_chat, self.under_way[out.address])
        try:
            await asyncio.sleep(self.random.uniform(0.001, 0.02))
            return await super().send(out)
        finally:
            self.under_way[out.address] -= 1
