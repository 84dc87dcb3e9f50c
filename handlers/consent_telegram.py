"""`/samtykke` on Telegram: a worker records or withdraws a youth's consent (see bot/consent.py)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import consent, relay
from handlers.telegram_update import incoming
from models.people import by_telegram_user


async def consent_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """From a worker: consent for the youth of the replied-to relay or the one named; from anyone else,
    an ordinary message."""
    svc = context.bot_data["service"]
    inc = incoming(update)
    args = " ".join(context.args or [])

    def work(session) -> None:
        person = by_telegram_user(session, user_id=inc.user_id)
        if person is not None and person.is_staff:
            consent.from_telegram(svc, session, person, inc, args)
        else:
            relay.receive(svc, session, inc)

    await svc.write(work)
