"""A person's language: suggested from Telegram at /start, chosen with /sprak, or set by their worker."""

from __future__ import annotations

from sqlmodel import Session

from bot import units
from bot.actions import action
from bot.events import Incoming
from bot.i18n import available_languages, language_name, normalize_language
from bot.out.outbox import queue
from bot.out.transports.base import Button
from bot.relay import conversation_of_answer, lang, reply
from bot.service import Service
from models.conversations import Conversation
from models.people import Person, get_person


def buttons(prefix: str) -> tuple[tuple[Button, ...], ...]:
    """One button per language, each named in its own language, two to a row."""
    row: list[Button] = []
    rows: list[tuple[Button, ...]] = []
    for code in available_languages():
        row.append(Button(language_name(code), f"{prefix}{code}"))
        if len(row) == 2:
            rows.append(tuple(row))
            row = []
    if row:
        rows.append(tuple(row))
    return tuple(rows)


def suggest(service: Service, session: Session, person: Person, inc: Incoming) -> None:
    """At /start: if Telegram says the phone speaks another of our languages, offer it with one tap."""
    suggested = normalize_language(inc.language_code)
    if suggested is None or suggested == person.language:
        return
    L = lang(service, None, suggested)
    queue_buttons(service, session, inc, L._("Vil du at jeg skal skrive på {language}?",
                                             language=language_name(suggested)),
                  ((Button(language_name(suggested), f"lang:{suggested}"),
                    Button(language_name(person.language), f"lang:{person.language}")),), "suggest")


def queue_buttons(service: Service, session: Session, inc: Incoming, text: str, rows, suffix: str) -> None:
    queue(session, key=f"{suffix}:{inc.source_key}", channel=inc.channel, address=inc.address, text=text,
          now=service.now(), buttons=rows)
    service.kick_outbox()


def command(service: Service, session: Session, person: Person, inc: Incoming, args: str) -> None:
    """/sprak [code]: the person picks their language; a worker replying to a relay sets that person's."""
    target = person
    prefix = "lang:"
    if person.is_staff and inc.reply_to:
        conv: Conversation | None = conversation_of_answer(session, person, inc)
        if conv is not None:
            target = get_person(session, person_id=conv.person_id)
            prefix = f"setlang:{target.id}:"
    code = normalize_language(args.strip()) if args.strip() else None
    if code is not None:
        reply(service, session, inc, apply(service, session, person, target, code))
        return
    L = lang(service, person)
    text = L._("Velg språk:") if target is person else L._("Velg språk for {name}:", name=target.name)
    queue_buttons(service, session, inc, text, buttons(prefix), "sprak")


def apply(service: Service, session: Session, actor: Person, target: Person, code: str) -> str:
    target.language = code
    if actor is target:
        return lang(service, target)._("Nå skriver jeg på {language}.", language=language_name(code))
    return lang(service, actor)._("{name} får nå meldinger på {language}.", name=target.name,
                                  language=language_name(code))


@action("lang")
def choose(service: Service, session: Session, person: Person, value: str) -> str | None:
    """A person's own language button."""
    code = normalize_language(value)
    return apply(service, session, person, person, code) if code else None


@action("setlang")
def choose_for(service: Service, session: Session, worker: Person, value: str) -> str | None:
    """A worker's button setting the language of a youth or parent they work with."""
    person_id, _, code = value.partition(":")
    target = get_person(session, person_id=int(person_id)) if person_id.isdigit() else None
    code = normalize_language(code)
    if target is None or code is None or not worker.is_staff:
        return None
    youth = target if target.youth_id is None else get_person(session, person_id=target.youth_id)
    if not units.may_see(session, worker, youth):
        return None
    return apply(service, session, worker, target, code)
