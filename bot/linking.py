"""/start CODE: linking a Telegram account to the person an invite belongs to."""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import timedelta

from sqlmodel import Session

from bot import consent, invites, language, texts
from bot.events import Incoming
from bot.i18n import Lang
from bot.relay import lang, reply
from bot.service import Service
from models import auth as attempt_store
from models.people import Person, Role, by_invite, by_telegram_user

log = logging.getLogger(__name__)

# A code is 8 of 31 symbols: guessable, given time. This many wrong codes from one Telegram account within
# START_WINDOW and it may try no more (not even the right code) until fewer than that many fall within the
# last START_WINDOW. Refused tries are not counted, so it may try again an hour after its last wrong code
# at the latest; a right code does not reset the count (else one's own code could be sent between guesses).
START_MAX_FAILURES = 5
START_WINDOW = timedelta(hours=1)


def _attempt_key(service: Service, user_id: int) -> str:
    """Where a Telegram account's /start attempts are counted: the dashboard's login_attempt table, under
    a key no login can produce (logins are counted under lower-cased addresses; this has capitals). The
    account id is kept only as a keyed hash."""
    digest = hmac.new(service.settings.secret_key.encode(), f"start:{user_id}".encode(), hashlib.sha256)
    return f"Telegram /start {digest.hexdigest()[:32]}"


def _locked(service: Service, session: Session, key: str) -> bool:
    since = service.now() - START_WINDOW
    return len(attempt_store.recent_failures(session, email=key, since=since)) >= START_MAX_FAILURES


def _failed(service: Service, session: Session, key: str) -> None:
    attempt_store.add_attempt(session, email=key, at=service.now(), ok=False)
    session.flush()
    if _locked(service, session, key):
        log.warning("/start: %d wrong invite codes from one Telegram account within %s; it is refused for now",
                    START_MAX_FAILURES, START_WINDOW)


def _expired(service: Service, person: Person) -> bool:
    """The invite was made more than TETTPA_INVITE_VALID ago (or at an unknown time: fail closed)."""
    issued = person.invite_issued_at
    return issued is None or issued + service.settings.invite_valid <= service.now()


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
    L = lang(service, current, inc.language_code)
    key = _attempt_key(service, inc.user_id)
    if _locked(service, session, key):
        # Refused before the code is looked at: a right code links nothing now either.
        reply(service, session, inc, L._(
            "For mange forsøk med feil kode. Prøv igjen om en time."
        ))
        return
    target = by_invite(session, invite_hash=invites.code_hash(code, service.settings.secret_key))
    if target is None:
        _failed(service, session, key)
        reply(service, session, inc, L._(
            "Den koden kjenner jeg ikke igjen. Sjekk at du har skrevet den riktig, eller be kontaktpersonen "
            "din om en ny kode."
        ))
        return
    if target.invite_used_at is None and _expired(service, target):
        # A real code, only old: not a guess, so not counted towards the lock-out.
        reply(service, session, inc, L._(
            "Den koden er utløpt. Be kontaktpersonen din om en ny kode."
        ))
        return
    if target.invite_used_at is not None and target.telegram_user_id != inc.user_id:
        _failed(service, session, key)
        reply(service, session, inc, L._(
            "Den koden er allerede brukt. Be kontaktpersonen din om en ny kode."
        ))
        return
    if current is not None and current.id != target.id:
        reply(service, session, inc, L._(
            "Denne Telegram-kontoen er allerede koblet til Tett på. Koden ble ikke brukt."
        ))
        return
    first_time = target.invite_used_at is None
    target.telegram_user_id = inc.user_id
    target.telegram_chat_id = int(inc.address)
    target.invite_used_at = target.invite_used_at or service.now()
    target.last_channel = target.last_channel or "telegram"
    hello = greeting(lang(service, target), target)
    if first_time and not target.is_staff:  # the written information the law asks for, with the welcome
        hello = f"{hello}\n\n{consent.rights_information(lang(service, target), target)}"
    reply(service, session, inc, hello)
    if not target.is_staff:
        language.suggest(service, session, target, inc)
    service.kick_outbox()
