"""A Telegram Update translated into the core's plain event. Every Telegram handler module imports this,
so none of them imports another (handlers/telegram/commands.py wires them all)."""

from __future__ import annotations

from collections.abc import Callable

from telegram import Update
from telegram.ext import ContextTypes

from bot import relay
from bot.events import Incoming
from models.people import by_telegram_user

MEDIA_KINDS = ("photo", "voice", "audio", "video", "video_note", "document", "sticker", "animation",
               "venue", "location", "contact")  # a shared location must reach the worker too


def incoming(update: Update) -> Incoming:
    """Translate an update into the core's plain event."""
    message = update.effective_message
    chat = update.effective_chat
    user = update.effective_user
    kind = next((k for k in MEDIA_KINDS if getattr(message, k, None)), None)
    media = {"kind": kind, "chat_id": chat.id, "message_id": message.message_id} if kind else None
    return Incoming(
        source_key=f"tg:{update.update_id}", channel="telegram", address=str(chat.id), user_id=user.id,
        text=message.text or message.caption, media=media,
        reply_to=str(message.reply_to_message.message_id) if message.reply_to_message else None,
        reply_to_button=_first_button(message.reply_to_message),
        language_code=user.language_code, sent_at=message.date,
    )


async def staff_command(update: Update, context: ContextTypes.DEFAULT_TYPE, body: Callable) -> None:
    """A worker's command: `body(service, session, worker, incoming, args)`; from anyone else, an ordinary
    message. In a worker thread, one transaction."""
    svc = context.bot_data["service"]
    inc = incoming(update)
    args = " ".join(context.args or [])

    def work(session) -> None:
        person = by_telegram_user(session, user_id=inc.user_id)
        if person is not None and person.is_staff:
            body(svc, session, person, inc, args)
        else:
            relay.receive(svc, session, inc)

    await svc.write(work)


def _first_button(message) -> str | None:
    keyboard = message.reply_markup.inline_keyboard if message and message.reply_markup else ()
    return keyboard[0][0].callback_data if keyboard and keyboard[0] else None
