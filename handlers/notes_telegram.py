"""`/notat` on Telegram: a worker notes a contact the service did not see (see bot/notes.py)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import notes, relay
from handlers.telegram_update import incoming
from models.people import by_telegram_user


async def note(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """From a worker: a note for the youth of the replied-to relay or the one named; from anyone else,
    an ordinary message."""
    svc = context.bot_data["service"]
    inc = incoming(update)
    args = " ".join(context.args or [])

    def work(session) -> None:
        person = by_telegram_user(session, user_id=inc.user_id)
        if person is not None and person.is_staff:
            notes.from_telegram(svc, session, person, inc, args)
        else:
            relay.receive(svc, session, inc)

    await svc.write(work)
