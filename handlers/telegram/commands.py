"""Telegram's edge: PTB handlers that turn an Update into core calls. One short function per step."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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
from bot.i18n import Lang, normalize_language
from bot.service import Service
from handlers.telegram import activities as activities_telegram
from handlers.telegram import consent as consent_telegram
from handlers.telegram import notes as notes_telegram
from handlers.telegram import schedules as schedules_telegram
from handlers.telegram.update import incoming, staff_command
from models.inbound import current_handling
from models.people import by_telegram_user

log = logging.getLogger(__name__)

PRIVATE = filters.ChatType.PRIVATE


def _service(context: ContextTypes.DEFAULT_TYPE) -> Service:
    return context.bot_data["service"]


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start CODE links this Telegram account to the invite's owner."""
    svc = _service(context)
    inc, code = incoming(update), " ".join(context.args or [])
    await svc.write(lambda session: linking.start(svc, session, inc, code))


async def availability(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/off /av and /on /pa: a worker sets their own availability; from anyone else it is a message."""
    svc = _service(context)
    inc = incoming(update)
    command = (update.effective_message.text or "").split()[0].lstrip("/").split("@")[0].lower()

    def work(session) -> None:
        person = by_telegram_user(session, user_id=inc.user_id)
        if person is not None and person.is_staff:
            staff.set_off(svc, session, person, inc, off=command in ("off", "av"))
        else:
            relay.receive(svc, session, inc)

    await svc.write(work)


async def worker_setting(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/timer and /borte: a worker's own weekly hours and absences; from anyone else it is a message."""
    command = (update.effective_message.text or "").split()[0].lstrip("/").split("@")[0].lower()
    setting = worker_settings.hours_command if command == "timer" else worker_settings.absence_command
    await staff_command(update, context, setting)


async def choose_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/sprak: choose one's language; a worker replying to a relay chooses for that person."""
    svc = _service(context)
    inc = incoming(update)
    args = " ".join(context.args or [])

    def work(session) -> None:
        person = by_telegram_user(session, user_id=inc.user_id)
        if person is None:
            relay.receive(svc, session, inc)
        else:
            language.command(svc, session, person, inc, args)

    await svc.write(work)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: what a worker can do here; anyone else is told what this bot is."""
    svc = _service(context)
    inc = incoming(update)

    def work(session) -> None:
        person = by_telegram_user(session, user_id=inc.user_id)
        if person is not None and person.is_staff:
            relay.reply(svc, session, inc, worker_help(relay.lang(svc, person)))
        elif person is not None:
            relay.reply(svc, session, inc, relay.lang(svc, person)._(
                "Skriv hit når du vil, så når meldingen kontaktpersonen din. Haster det, ring 113. "
                "/sprak bytter språk."
            ))
        else:
            relay.receive(svc, session, inc)

    await svc.write(work)


async def message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any other message: relayed, answered or explained by the core."""
    svc = _service(context)
    inc = incoming(update)
    # A worker making an activity step by step answers the step; everything else goes to the core.
    await svc.write(lambda session: activities_telegram.step_or_receive(svc, session, inc))


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A press on an inline button: its data names a registered action ("take:12", "wake:3")."""
    svc = _service(context)
    query = update.callback_query
    user_id, data, language_code = query.from_user.id, query.data or "", query.from_user.language_code

    def work(session) -> str | None:
        person = by_telegram_user(session, user_id=user_id)
        if person is None:  # someone not (or no longer) linked: still an answer, never a spinning button
            return actions.no_action(svc, normalize_language(language_code))
        return actions.perform(svc, session, person, data)

    answer = await svc.write(work)
    # The answer is a toast on the person's screen: not worth an outbox row if it is lost. Nor worth handling
    # the press again when Telegram refuses it (too old after a restart): the press itself is done.
    try:
        await query.answer(answer)
    except TelegramError as exc:
        log.info("answering a button press failed: %s", type(exc).__name__)


async def error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """One error handler: log without content, and leave the stored update to be tried again (the item
    being handled is told; whatever its handler wrote was rolled back)."""
    update_id = getattr(update, "update_id", None)
    log.error("handling update %s failed: %s", update_id, type(context.error).__name__, exc_info=context.error)
    handling = current_handling()
    if handling is not None:
        handling.failed(context.error)


@dataclass(frozen=True)
class Command:
    """A worker's command, in one place: its name, its aliases, the handler, and its line in /help (a msgid of
    its own, so each line is translated on its own). A command without a help line is not shown in /help."""

    name: str
    aliases: tuple[str, ...]
    handler: Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]
    help: Callable[[Lang], str] | None = None

    @property
    def names(self) -> list[str]:
        return [self.name, *self.aliases]


# The order here is the order of /help. Adding a command is adding an entry (and its help line's
# translations at the end of each catalog).
COMMANDS = (
    Command("start", (), start),
    Command("off", ("av",), availability,
            lambda W: W._("• /off (/av): du er ikke tilgjengelig, meldinger går til den andre kontaktpersonen.")),
    Command("on", ("pa",), availability,
            lambda W: W._("• /on (/pa): du er tilgjengelig igjen og får det som kom mens du var borte.")),
    Command("timer", (), worker_setting,
            lambda W: W._("• /timer: vis eller endre timene dine, for eksempel /timer man-fre 15:00-23:00.")),
    Command("borte", (), worker_setting,
            lambda W: W._("• /borte: registrer fravær, for eksempel /borte 01.12 05.12 eller /borte i dag.")),
    Command("sprak", ("language",), choose_language,
            lambda W: W._("• /sprak som svar på en videresendt melding: velg språket den personen får "
                          "meldinger på.")),
    Command("vekking", ("wakeup",), schedules_telegram.wakeup_command,
            lambda W: W._("• /vekking: vekking for en ungdom (legg til, vis, pause, stopp).")),
    Command("mote", ("meeting",), schedules_telegram.meeting_command,
            lambda W: W._("• /mote: møter med påminnelser (legg til, vis, avlys).")),
    Command("aktivitet", ("activity",), activities_telegram.activity_command,
            lambda W: W._("• /aktivitet: inviter ungdommer til en aktivitet, steg for steg; svarene kommer samlet.")),
    Command("notat", (), notes_telegram.note,
            lambda W: W._("• /notat: skriv et notat i kontaktloggen (som svar på en videresendt melding, eller "
                          "med navnet på ungdommen).")),
    Command("samtykke", ("consent",), consent_telegram.consent_command,
            lambda W: W._("• /samtykke som svar på en videresendt melding, eller med navnet: registrer samtykke "
                          "(kontakt, vekking, foresatte, SMS); «/samtykke trekk» trekker det tilbake.")),
    Command("help", (), help_command, lambda W: W._("• /help: denne hjelpen.")),
)


def worker_help(W: Lang) -> str:
    """/help for a worker: what a reply and "Jeg tar den" do, then one line per command."""
    lines = [
        W._("Slik bruker du Tett på:"),
        W._("• Svar på en videresendt melding med «Svar», så går svaret til ungdommen eller forelderen."),
        W._("• «Jeg tar den» sier fra at du tar en melding uten å svare ennå."),
    ]
    return "\n".join(lines + [command.help(W) for command in COMMANDS if command.help is not None])


def register(application: Application, service: Service) -> None:
    """The one place that wires handlers."""
    application.bot_data["service"] = service
    for command in COMMANDS:
        application.add_handler(CommandHandler(command.names, command.handler, filters=PRIVATE))
    application.add_handler(MessageHandler(PRIVATE & ~filters.UpdateType.EDITED & ~filters.StatusUpdate.ALL, message))
    application.add_handler(CallbackQueryHandler(button))
    application.add_error_handler(error)
