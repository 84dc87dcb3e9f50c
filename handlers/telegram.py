"""Telegram's edge: PTB handlers that turn an Update into core calls. One short function per step."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import actions, language, linking, relay, staff, worker_settings
from bot.events import Incoming
from bot.service import Service
from handlers import consent_telegram, notes_telegram, schedules_telegram
from models.people import by_telegram_user

log = logging.getLogger(__name__)

MEDIA_KINDS = ("photo", "voice", "audio", "video", "video_note", "document", "sticker", "animation",
               "venue", "location", "contact")  # a shared location must reach the worker too
PRIVATE = filters.ChatType.PRIVATE


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


def _first_button(message) -> str | None:
    keyboard = message.reply_markup.inline_keyboard if message and message.reply_markup else ()
    return keyboard[0][0].callback_data if keyboard and keyboard[0] else None


def _service(context: ContextTypes.DEFAULT_TYPE) -> Service:
    return context.bot_data["service"]


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start CODE links this Telegram account to the invite's owner."""
    svc = _service(context)
    with svc.tx() as session:
        linking.start(svc, session, incoming(update), " ".join(context.args or []))


async def availability(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/off /av and /on /pa: a worker sets their own availability; from anyone else it is a message."""
    svc = _service(context)
    inc = incoming(update)
    command = (update.effective_message.text or "").split()[0].lstrip("/").split("@")[0].lower()
    with svc.tx() as session:
        person = by_telegram_user(session, user_id=inc.user_id)
        if person is not None and person.is_staff:
            staff.set_off(svc, session, person, inc, off=command in ("off", "av"))
        else:
            relay.receive(svc, session, inc)


async def worker_setting(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/timer and /borte: a worker's own weekly hours and absences; from anyone else it is a message."""
    svc = _service(context)
    inc = incoming(update)
    command = (update.effective_message.text or "").split()[0].lstrip("/").split("@")[0].lower()
    setting = worker_settings.hours_command if command == "timer" else worker_settings.absence_command
    with svc.tx() as session:
        person = by_telegram_user(session, user_id=inc.user_id)
        if person is not None and person.is_staff:
            setting(svc, session, person, inc, " ".join(context.args or []))
        else:
            relay.receive(svc, session, inc)
    svc.kick_outbox()


async def choose_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/sprak: choose one's language; a worker replying to a relay chooses for that person."""
    svc = _service(context)
    inc = incoming(update)
    with svc.tx() as session:
        person = by_telegram_user(session, user_id=inc.user_id)
        if person is None:
            relay.receive(svc, session, inc)
        else:
            language.command(svc, session, person, inc, " ".join(context.args or []))
    svc.kick_outbox()


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: what a worker can do here; anyone else is told what this bot is."""
    svc = _service(context)
    inc = incoming(update)
    with svc.tx() as session:
        person = by_telegram_user(session, user_id=inc.user_id)
        if person is not None and person.is_staff:
            relay.reply(svc, session, inc, staff.help_text(svc, person))
        elif person is not None:
            relay.reply(svc, session, inc, relay.lang(svc, person)._(
                "Skriv hit når du vil, så når meldingen kontaktpersonen din. Haster det, ring 113. "
                "/sprak bytter språk."
            ))
        else:
            relay.receive(svc, session, inc)
    svc.kick_outbox()


async def message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any other message: relayed, answered or explained by the core."""
    svc = _service(context)
    with svc.tx() as session:
        relay.receive(svc, session, incoming(update))


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A press on an inline button: its data names a registered action ("take:12", "wake:3")."""
    svc = _service(context)
    query = update.callback_query
    answer = None
    with svc.tx() as session:
        person = by_telegram_user(session, user_id=query.from_user.id)
        if person is not None:
            answer = actions.perform(svc, session, person, query.data or "")
    svc.kick_outbox()
    # The answer is a toast on the person's screen: not worth an outbox row if it is lost. Nor worth handling
    # the press again when Telegram refuses it (too old after a restart): the press itself is done.
    try:
        await query.answer(answer)
    except TelegramError as exc:
        log.info("answering a button press failed: %s", type(exc).__name__)


async def error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """One error handler: log without content, and leave the stored update to be tried again."""
    update_id = getattr(update, "update_id", None)
    log.error("handling update %s failed: %s", update_id, type(context.error).__name__, exc_info=context.error)
    if update_id is not None:
        context.bot_data.setdefault("failed_updates", set()).add(update_id)


def register(application: Application, service: Service) -> None:
    """The one place that wires handlers."""
    application.bot_data["service"] = service
    application.add_handler(CommandHandler("start", start, filters=PRIVATE))
    application.add_handler(CommandHandler(["off", "av", "on", "pa"], availability, filters=PRIVATE))
    application.add_handler(CommandHandler(["timer", "borte"], worker_setting, filters=PRIVATE))
    application.add_handler(CommandHandler(["sprak", "language"], choose_language, filters=PRIVATE))
    application.add_handler(CommandHandler("help", help_command, filters=PRIVATE))
    application.add_handler(CommandHandler(["vekking", "wakeup"], schedules_telegram.wakeup_command, filters=PRIVATE))
    application.add_handler(CommandHandler(["mote", "meeting"], schedules_telegram.meeting_command, filters=PRIVATE))
    application.add_handler(CommandHandler("notat", notes_telegram.note, filters=PRIVATE))
    application.add_handler(CommandHandler(["samtykke", "consent"], consent_telegram.consent_command, filters=PRIVATE))
    application.add_handler(MessageHandler(PRIVATE & ~filters.UpdateType.EDITED & ~filters.StatusUpdate.ALL, message))
    application.add_handler(CallbackQueryHandler(button))
    application.add_error_handler(error)
