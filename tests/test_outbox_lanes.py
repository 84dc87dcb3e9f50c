"""Telegram sends go side by side in at most TELEGRAM_WINDOW lanes (what a kill can repeat), yet each chat
gets its messages in the order they were queued, and never two sends to one chat at once."""

from __future__ import annotations

import asyncio
import random

from bot.outbox import TELEGRAM_WINDOW, Sender, queue
from bot.transports.base import Outgoing, Receipt
from tests.fakes import RecordingTransport


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


async def test_it_keeps_each_chats_order_with_telegram_sends_side_by_side(service):
    chats = [str(800 + n) for n in range(7)]
    with service.tx() as session:
        for index in range(60):  # interleaved: chat 0 gets 0, 7, 14 ...; the busiest get 9 in a row of claims
            chat = chats[index % len(chats)] if index % 3 else chats[0]
            queue(session, key=f"m{index}", channel="telegram", address=chat, text=f"{index}", now=service.now())
    telegram = UnevenTelegram(seed=15)
    sender = Sender(service, {"telegram": telegram})
    while await sender.run_once():
        pass

    assert len(telegram.sent) == 60
    for chat in chats:
        numbers = [int(out.text) for out in telegram.to(chat)]
        assert numbers == sorted(numbers), f"chat {chat} got {numbers}"
    assert 1 < telegram.most <= TELEGRAM_WINDOW
    assert telegram.most_per_chat == 1
