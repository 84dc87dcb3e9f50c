"""Telegram sends go side by side in at most TELEGRAM_WINDOW lanes (what a kill can repeat), yet each chat
gets its messages in the order they were queued, never two sends to one chat at once, and no two sends to
one chat closer than TETTPA_TELEGRAM_CHAT_GAP (Telegram answers more than about one a second with 429)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from itertools import pairwise

from bot.out.outbox import TELEGRAM_CHAT_GAP, TELEGRAM_WINDOW, Sender, queue
from bot.out.transports.base import Outgoing, Receipt
from bot.settings import Settings
from tests.fakes import RecordingTransport, UnevenTelegram


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


class TimedTelegram(RecordingTransport):
    """Records when (loop time) each send began, per chat."""

    def __init__(self):
        super().__init__()
        self.began: list[tuple[str, float]] = []

    async def send(self, out: Outgoing) -> Receipt:
        self.began.append((out.address, asyncio.get_running_loop().time()))
        return await super().send(out)


async def test_it_spaces_the_sends_to_one_chat_by_the_chat_gap_and_lets_other_chats_go_meanwhile(service):
    assert Settings.model_fields["telegram_chat_gap"].default == timedelta(seconds=TELEGRAM_CHAT_GAP) == timedelta(seconds=1)
    gap = 0.3  # the production second, shortened: what is shown is the spacing, not its length
    spaced = dataclasses.replace(service, settings=service.settings.model_copy(
        update={"telegram_chat_gap": timedelta(seconds=gap)}))
    with spaced.tx() as session:
        for index in range(3):  # Ola's three, then Emma's two: queued in that order
            queue(session, key=f"ola{index}", channel="telegram", address="601", text=f"ola {index}", now=spaced.now())
        for index in range(2):
            queue(session, key=f"emma{index}", channel="telegram", address="602", text=f"emma {index}", now=spaced.now())
    telegram = TimedTelegram()
    sender = Sender(spaced, {"telegram": telegram})
    while await sender.run_once():
        pass

    ola = [t for chat, t in telegram.began if chat == "601"]
    emma = [t for chat, t in telegram.began if chat == "602"]
    assert [o.text for o in telegram.to(601)] == ["ola 0", "ola 1", "ola 2"]
    assert all(later - earlier >= gap * 0.99 for earlier, later in pairwise(ola)), ola
    assert all(later - earlier >= gap * 0.99 for earlier, later in pairwise(emma)), emma
    assert emma[0] < ola[1]  # Emma's first did not wait behind Ola's gap
