"""Manual contact notes: a call from the worker's own phone, a meeting in the car, a talk with the school.

Each note is a contact-log entry of kind `note` on channel `manual` or `meeting`, added from the
dashboard or from Telegram (`/notat`, in reply to a relayed message or naming the youth).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy.orm import object_session
from sqlmodel import Session, select

from bot import units
from bot.contactlog import record
from bot.errors import InputError
from bot.events import Incoming
from bot.i18n import Lang
from bot.relay import lang, reply
from bot.service import Service
from models.contact_log import ContactLog
from models.conversations import Conversation, link_for
from models.outbox import Outbox
from models.people import Person, Role, get_person
from models.people import youths_of as _youths_of

CHANNELS = ("manual", "meeting")
MAX_LENGTH = 4000
# A note is written after the contact; one dated a little ahead is a clock out of step, not a plan.
FUTURE_SLACK = timedelta(minutes=5)


def may_see(worker: Person, youth: Person | None) -> bool:
    """An admin sees every youth, a coordinator their unit's; a worker those they are primary or secondary for."""
    if youth is None or youth.role != Role.youth or not worker.is_staff:
        return False
    session = object_session(youth)
    if session is not None:
        return units.may_see(session, worker, youth)
    return worker.role in units.SEES_UNIT or worker.id in (youth.primary_id, youth.secondary_id)


def add_note(
    service: Service, session: Session, worker: Person, youth: Person, text: str, *, channel: str = "manual",
    at: datetime | None = None,
) -> ContactLog:
    if not may_see(worker, youth):
        raise InputError("youth", "you are not a worker for this youth")
    text = (text or "").strip()
    if not text:
        raise InputError("text", "the note is empty")
    if len(text) > MAX_LENGTH:
        raise InputError("text", f"the note is longer than {MAX_LENGTH} characters")
    if channel not in CHANNELS:
        raise InputError("channel", f"{channel!r} is not manual or meeting")
    now = service.now()
    at = at or now
    if at.tzinfo is None:
        at = at.replace(tzinfo=service.settings.tz)
    if at > now + FUTURE_SLACK:
        raise InputError("at", "a note cannot be dated in the future")
    entry = record(
        session, service.settings, at=at, youth_id=youth.id, party="worker", worker_id=worker.id,
        channel=channel, direction="none", kind="note", text=text,
    )
    session.flush()
    return entry


def _visible_youths(session: Session, worker: Person) -> list[Person]:
    if worker.role in units.SEES_UNIT:
        youths = session.exec(select(Person).where(Person.role == Role.youth).order_by(Person.id))
        return [y for y in youths if units.may_see(session, worker, y)]
    return _youths_of(session, worker_id=worker.id)


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def find_youth(session: Session, worker: Person, words: str) -> tuple[Person | None, str, str | None]:
    """The youth a `/notat` names at its start (id, full name or first name), the rest of the text, and
    what went wrong ("none" or "ambiguous") when no single youth fits."""
    words = words.strip()
    by_id = re.match(r"#?(\d+)\b\s*(.*)", words, re.S)
    youths = _visible_youths(session, worker)
    if by_id:
        match = next((y for y in youths if y.id == int(by_id.group(1))), None)
        return (match, by_id.group(2).strip(), None) if match else (None, words, "none")
    folded = _fold(words)
    best: list[tuple[int, Person]] = []
    for youth in youths:
        for candidate in (youth.name, youth.name.split()[0]):
            name = _fold(candidate)
            if folded == name or folded.startswith(name + " ") or folded.startswith(name + ":"):
                best.append((len(name.split()), youth))
                break
    if not best:
        return None, words, "none"
    longest = max(n for n, _ in best)
    chosen = [y for n, y in best if n == longest]
    if len({y.id for y in chosen}) > 1:
        return None, words, "ambiguous"
    parts = words.split(None, longest)
    rest = parts[longest] if len(parts) > longest else ""
    return chosen[0], rest.lstrip(":").strip(), None


def from_telegram(service: Service, session: Session, worker: Person, inc: Incoming, args: str) -> None:
    """`/notat [møte] TEXT` in reply to a relayed message, or `/notat [møte] NAME TEXT`."""
    L = lang(service, worker)
    if session.exec(select(Outbox.id).where(Outbox.key == f"reply:{inc.source_key}")).first() is not None:
        return  # this update was handled before (a redelivery after a crash): no second note
    words = args.strip()
    lead, _, tail = words.partition(" ")
    meeting = lead.rstrip(":").casefold() in ("møte", "mote")
    youth = _youth_of_reply(session, worker, inc)
    text = words
    if youth is None:
        youth, rest, problem = find_youth(session, worker, tail if meeting else words)
        if problem == "ambiguous":
            reply(service, session, inc, L._(
                "Flere av ungdommene dine passer til det navnet. Skriv hele navnet, eller nummeret, "
                "for eksempel «/notat 12 Ringte fra egen telefon»."
            ))
            return
        text = f"{lead} {rest}" if meeting else rest
    # The word "møte" stays in the text, so the note reads as written; alone it says nothing.
    if youth is None or len(text.split()) < (2 if meeting else 1):
        reply(service, session, inc, usage(L))
        return
    try:
        add_note(service, session, worker, youth, text, channel="meeting" if meeting else "manual")
    except InputError:
        reply(service, session, inc, usage(L))
        return
    reply(service, session, inc, L._("Notatet er lagret i kontaktloggen til {name}.", name=youth.name))
    service.kick_outbox()


def _youth_of_reply(session: Session, worker: Person, inc: Incoming) -> Person | None:
    """The youth of the relayed message the worker replied to, if it was relayed to this worker."""
    if inc.reply_to is None:
        return None
    link = link_for(session, channel=inc.channel, address=inc.address, external_id=inc.reply_to)
    if link is None or link.worker_id != worker.id:
        return None
    youth = get_person(session, person_id=session.get(Conversation, link.conversation_id).youth_id)
    return youth if may_see(worker, youth) else None


def usage(L: Lang) -> str:
    return L._(
        "Slik lagrer du et notat om en kontakt du har hatt:\n"
        "• Svar på en videresendt melding med «/notat Ringte fra egen telefon».\n"
        "• Eller skriv navnet: «/notat Ola Berg Snakket med skolen».\n"
        "• Begynner notatet med «møte», lagres det som et møte."
    )
