"""/start CODE: linking a Telegram account to the person an invite belongs to."""

from __future__ import annotations

from sqlmodel import Session

from bot import invites, language, texts
from bot.events import Incoming
from bot.i18n import Lang
from bot.relay import lang, reply
from bot.service import Service
from models.people import Person, Role, by_invite, by_telegram_user


def greeting(L: Lang, person: Person) -> str:
    name = texts.first_name(person.name)
    if person.role == Role.youth:
        return L._(
            "Hei {name}! Nå er du koblet til Tett på. Skriv hit når du vil, så når meldingen kontaktpersonen din. "
            "Haster det, ring 113.", name=name,
        )
    if person.role == Role.parent:
        return L._(
            "Hei {name}! Nå er du koblet til Tett på. Meldinger du skriver hit, går til kontaktpersonen "
            "for ungdommen din.", name=name,
        )
    return L._(
        "Hei {name}! Du er koblet til Tett på. Meldinger fra ungdommene dine kommer hit. Svar med «Svar» på "
        "meldingen. /help viser kommandoene.", name=name,
    )


def start(service: Service, session: Session, inc: Incoming, code: str) -> None:
    """Link the sender to the invite's owner, once; anything wrong links nothing and says why."""
    current = by_telegram_user(session, user_id=inc.user_id)
    code = code.strip()
    if not code:
        if current is not None:
            reply(service, session, inc, greeting(lang(service, current), current))
        else:
            reply(service, session, inc, texts.intro(lang(service, None, inc.language_code)))
        return
    target = by_invite(session, invite_hash=invites.code_hash(code, service.settings.secret_key))
    L = lang(service, current, inc.language_code)
    if target is None:
        reply(service, session, inc, L._(
            "Den koden kjenner jeg ikke igjen. Sjekk at du har skrevet den riktig, eller be kontaktpersonen "
            "din om en ny kode."
        ))
        return
    if target.invite_used_at is not None and target.telegram_user_id != inc.user_id:
        reply(service, session, inc, L._(
            "Den koden er allerede brukt. Be kontaktpersonen din om en ny kode."
        ))
        return
    if current is not None and current.id != target.id:
        reply(service, session, inc, L._(
            "Denne Telegram-kontoen er allerede koblet til Tett på. Koden ble ikke brukt."
        ))
        return
    target.telegram_user_id = inc.user_id
    target.telegram_chat_id = int(inc.address)
    target.invite_used_at = target.invite_used_at or service.now()
    target.last_channel = target.last_channel or "telegram"
    reply(service, session, inc, greeting(lang(service, target), target))
    if not target.is_staff:
        language.suggest(service, session, target, inc)
    service.kick_outbox()
