"""`/notat` on Telegram: a worker notes a contact the service did not see (see bot/notes.py)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import notes
from handlers.telegram.update import staff_command


async def note(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """From a worker: a note for the youth of the replied-to relay or the one named; from anyone else,
    an ordinary message."""
    await staff_command(update, context, notes.from_telegram)
