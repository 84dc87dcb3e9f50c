"""`/samtykke` on Telegram: a worker records or withdraws a youth's consent (see bot/consent.py)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import consent
from handlers.telegram.update import staff_command


async def consent_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """From a worker: consent for the youth of the replied-to relay or the one named; from anyone else,
    an ordinary message."""
    await staff_command(update, context, consent.from_telegram)
