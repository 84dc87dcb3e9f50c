"""Pointing the real accounts at the service: the Telegram bot's menu, texts and webhook, and the Twilio
number's webhooks. Used by `tettpa connect` (which changes them) and `tettpa doctor` (which only reads).

Each step first reads what is there and writes only what differs, so running `connect` twice changes
nothing the second time, and the JSON it prints says what it changed.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from telegram import Bot, BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat
from telegram.error import InvalidToken, TelegramError
from twilio.base.exceptions import TwilioException, TwilioRestException

from bot.i18n import SOURCE, Lang, available_languages
from bot.out.transports.twilio import make_client
from bot.settings import Settings

# The bot's menu. Everyone sees the general part; a linked worker's own chat shows the worker commands.
# Each description goes through gettext, so the menu reads in the person's language (Telegram picks it
# by the phone's language; the language-less default is Bokmål).
GENERAL = ("help", "sprak")
WORKER = ("off", "on", "timer", "borte", "vekking", "mote", "notat", "help", "sprak")


def command_descriptions(L: Lang) -> dict[str, str]:
    """The menu line of each command, in one language."""
    return {
        "help": L._("Hjelp og kommandoer"),
        "sprak": L._("Bytt språk"),
        "off": L._("Ikke tilgjengelig nå: meldinger går til den andre"),
        "on": L._("Tilgjengelig igjen"),
        "timer": L._("Vis eller endre timene dine"),
        "borte": L._("Registrer fravær"),
        "vekking": L._("Vekking for en ungdom"),
        "mote": L._("Møte med påminnelser"),
        "notat": L._("Skriv et notat i kontaktloggen"),
    }


def bot_texts(L: Lang) -> tuple[str, str]:
    """(description, short description): what a person sees before the first message, and in a shared link."""
    return (
        L._("Tett på: skriv hit når du vil, så når meldingen kontaktpersonen din i prosjektet. Du får svar her. "
            "Haster det, ring 113. Har du fått en kode, send /start og koden."),
        L._("Kontakt med kontaktpersonen din i Oppfølgingstjenesten (OT)."),
    )


def webhook_secret(settings: Settings) -> str:
    """The secret Telegram sends with each webhook call; derived from the secret key, as `serve` does."""
    return hmac.new(settings.secret_key.encode(), b"telegram-webhook", hashlib.sha256).hexdigest()


class ConnectError(Exception):
    """A setting that does not work, with the variable it is about and what to do."""

    def __init__(self, setting: str, message: str):
        super().__init__(f"{setting}: {message}")
        self.setting, self.message = setting, message


@dataclass
class Changes:
    """What a connect run changed, in words a log can show (no tokens, no numbers)."""

    done: list[str] = field(default_factory=list)

    def add(self, what: str) -> None:
        self.done.append(what)


def telegram_bot(settings: Settings) -> Bot:
    if not settings.telegram_token:
        raise ConnectError("TETTPA_TELEGRAM_TOKEN", "not set: get a token from @BotFather and set it")
    api = settings.telegram_api_url
    return Bot(settings.telegram_token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot")


async def open_bot(bot: Bot) -> str:
    """Initialise the bot (getMe) and give its @username; a wrong token is a ConnectError naming the setting."""
    try:
        await bot.initialize()
    except InvalidToken:
        raise ConnectError("TETTPA_TELEGRAM_TOKEN", "Telegram refused the token (getMe: Unauthorized); "
                           "copy it again from @BotFather") from None
    except TelegramError as exc:
        raise ConnectError("TETTPA_TELEGRAM_API_URL",
                           f"Telegram did not answer getMe ({type(exc).__name__})") from None
    return f"@{bot.username}"


def _languages() -> list[tuple[str, Lang]]:
    """('', nb) for the default, then every offered language by its code."""
    return [("", Lang(SOURCE))] + [(code, Lang(code)) for code in available_languages()]


async def _commands(bot: Bot, names: tuple[str, ...], L: Lang, changes: Changes, *, scope, language: str,
                    what: str) -> int:
    lines = command_descriptions(L)
    wanted = [BotCommand(name, lines[name]) for name in names]
    have = await bot.get_my_commands(scope=scope, language_code=language or None)
    if [(c.command, c.description) for c in have] != [(c.command, c.description) for c in wanted]:
        await bot.set_my_commands(wanted, scope=scope, language_code=language or None)
        changes.add(what)
    return len(wanted)


async def _texts(bot: Bot, L: Lang, language: str, changes: Changes) -> None:
    description, short = bot_texts(L)
    code = language or None
    if (await bot.get_my_description(language_code=code)).description != description:
        await bot.set_my_description(description, language_code=code)
        changes.add(f"description {language or 'default'}")
    if (await bot.get_my_short_description(language_code=code)).short_description != short:
        await bot.set_my_short_description(short, language_code=code)
        changes.add(f"short description {language or 'default'}")


async def connect_telegram(settings: Settings, worker_chats: list[tuple[int, str]]) -> dict:
    """Check the token, set menus and texts in every language, and the webhook in webhook mode.

    ``worker_chats`` are the linked workers' (chat id, language): their chat gets the worker menu.
    """
    bot = telegram_bot(settings)
    changes = Changes()
    username = await open_bot(bot)
    try:
        count = 0
        for language, L in _languages():
            count += await _commands(bot, GENERAL, L, changes, scope=BotCommandScopeAllPrivateChats(),
                                     language=language, what=f"menu {language or 'default'}")
            await _texts(bot, L, language, changes)
        for chat_id, language in worker_chats:
            await _commands(bot, WORKER, Lang(language), changes, scope=BotCommandScopeChat(chat_id),
                            language="", what="worker menu")
        info = await bot.get_webhook_info()
        webhook = None
        if settings.telegram_updates == "webhook":
            webhook = f"{settings.public_url}/telegram/webhook"
            # The secret cannot be read back, so the webhook is set again whenever it is not ours; setting
            # the same URL and secret again would change nothing either.
            if info.url != webhook:
                await bot.set_webhook(webhook, secret_token=webhook_secret(settings),
                                      allowed_updates=["message", "callback_query"])
                changes.add("webhook")
        elif info.url:
            # Telegram refuses getUpdates while a webhook is set: polling needs it gone.
            await bot.delete_webhook()
            changes.add("webhook removed")
    finally:
        await bot.shutdown()
    return {"bot": username, "commands": count, "webhook": webhook, "changed": changes.done}


def twilio_urls(settings: Settings) -> dict[str, str]:
    base = settings.public_url
    return {"sms_url": f"{base}/twilio/sms", "voice_url": f"{base}/twilio/voice",
            "status_callback": f"{base}/twilio/status"}


def twilio_number(settings: Settings):
    """The service number's IncomingPhoneNumber resource; errors name the setting to fix."""
    if not settings.twilio_enabled:
        raise ConnectError("TETTPA_TWILIO_ACCOUNT_SID", "TETTPA_TWILIO_ACCOUNT_SID and TETTPA_TWILIO_AUTH_TOKEN "
                           "must be set (Twilio console, Account Info)")
    if not settings.twilio_number:
        raise ConnectError("TETTPA_TWILIO_NUMBER", "not set: the service's Twilio number, such as +4790000000")
    client = make_client(settings)
    try:
        found = client.incoming_phone_numbers.list(phone_number=settings.twilio_number, limit=20)
    except TwilioException as exc:
        raise _twilio_error(exc) from None
    except Exception as exc:  # requests' connection errors and the like: Twilio not reachable
        raise ConnectError("TETTPA_TWILIO_API_URL", f"Twilio could not be reached ({type(exc).__name__})") from None
    # Twilio's filter is trusted only as far as it is checked: the record must be the number itself.
    number = next((n for n in found if n.phone_number == settings.twilio_number), None)
    if number is None:
        raise ConnectError("TETTPA_TWILIO_NUMBER", f"{settings.twilio_number} is not a number of this Twilio "
                           "account; buy it or correct the setting")
    return number


def _twilio_error(exc: TwilioException) -> ConnectError:
    # A list page that fails is a plain TwilioException carrying the response, not a TwilioRestException.
    status = exc.status if isinstance(exc, TwilioRestException) else getattr(
        exc.args[1] if len(exc.args) > 1 else None, "status_code", None)
    if status == 401:
        return ConnectError("TETTPA_TWILIO_AUTH_TOKEN", "Twilio refused the account SID and auth token (401); "
                            "copy both again from the Twilio console")
    if status is None:
        return ConnectError("TETTPA_TWILIO_API_URL", f"Twilio could not be reached ({type(exc).__name__})")
    return ConnectError("TETTPA_TWILIO_API_URL", f"Twilio answered {status}")


def capability_problems(number) -> list[str]:
    caps = {key.lower(): value for key, value in (number.capabilities or {}).items()}
    problems = []
    if not caps.get("sms"):
        problems.append("cannot send or receive SMS")
    if not caps.get("voice"):
        problems.append("cannot take calls")
    return problems


def connect_twilio(settings: Settings) -> dict:
    """Point the service number's SMS, voice and status webhooks at TETTPA_PUBLIC_URL."""
    number = twilio_number(settings)
    problems = capability_problems(number)
    if problems:
        raise ConnectError("TETTPA_TWILIO_NUMBER", f"{settings.twilio_number} {' and '.join(problems)}; "
                           "choose a number with SMS and voice")
    urls = twilio_urls(settings)
    current = {"sms_url": number.sms_url, "voice_url": number.voice_url, "status_callback": number.status_callback,
               "methods": (number.sms_method, number.voice_method, number.status_callback_method)}
    wanted = {**urls, "methods": ("POST", "POST", "POST")}
    changed = []
    if current != wanted:
        number.update(sms_url=urls["sms_url"], sms_method="POST", voice_url=urls["voice_url"],
                      voice_method="POST", status_callback=urls["status_callback"],
                      status_callback_method="POST")
        changed.append("webhooks")
    return {"number": settings.twilio_number, **urls, "changed": changed}
