"""A phone number several people share (a mother of two youths with different workers): which conversation
an SMS from it is about. The one that number last had a message in within a day; otherwise the sender is
asked ("Gjelder det Ola eller Emma? Svar 1 eller 2") and what they wrote is held until they answer. Never
to one youth's worker on a guess."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

from sqlmodel import Session, select

from bot import texts
from bot.acute import is_acute
from bot.events import Incoming
from bot.relay import from_person, lang, reply, youth_of
from bot.service import Service
from models import crypto
from models.conversations import Conversation, Message, message_by_source
from models.kv import KeyValue
from models.people import Person

RECENT = timedelta(days=1)  # a conversation the number had a message in since then is the one meant
ASK_AGAIN_AFTER = timedelta(minutes=10)  # more messages before the answer are held without asking again
# Unanswered this long after the question, what is held goes to every youth's workers, marked as unclear:
# a message may wait for its sender, never stay unread by any worker.
HOLD_AT_MOST = timedelta(minutes=15)
PENDING = "which:"  # kv key prefix, followed by the number's keyed hash: the question asked, what is held


def sharers(people: list[Person]) -> list[Person]:
    """The youths and parents among the people with one number, in a fixed order (the answer's numbers)."""
    return sorted((p for p in people if not p.is_staff), key=lambda p: p.id)


def recent(session: Session, people: list[Person], now: datetime) -> Person | None:
    """Whose conversation had the newest message, either way, within RECENT; None if none did."""
    person_id = session.exec(
        select(Conversation.person_id).join(Message, Message.conversation_id == Conversation.id)
        .where(Conversation.person_id.in_([p.id for p in people]), Message.created_at > now - RECENT)
        .order_by(Message.created_at.desc(), Message.id.desc()).limit(1)
    ).first()
    return next((p for p in people if p.id == person_id), None)


def receive(service: Service, session: Session, people: list[Person], inc: Incoming) -> None:
    """An SMS from a number several youths or parents share: relay it to the right conversation, or ask."""
    if message_by_source(session, source_key=inc.source_key):
        return
    now = service.now()
    if len({youth_of(session, p).id for p in people}) == 1:
        # A youth on a parent's phone: one youth, the same workers; nothing to ask.
        from_person(service, session, recent(session, people, now) or people[0], inc)
        return
    key = PENDING + crypto.blind(inc.address)
    pending = _load(session, key)
    if pending is not None:
        chosen = _choice(session, pending, inc.text)
        if chosen is not None:
            session.delete(session.get(KeyValue, key))
            for held in pending["held"]:
                from_person(service, session, chosen, replace(inc, source_key=held["key"], text=held["text"],
                                                              sent_at=datetime.fromisoformat(held["at"])))
            return
    else:
        person = recent(session, people, now)
        if person is not None:
            from_person(service, session, person, inc)
            return
    if is_acute(inc.text, service.settings.crisis_words):
        # Acute: no waiting for an answer. Every youth's workers get it (each as its own message).
        for person in people:
            from_person(service, session, person, replace(inc, source_key=f"{inc.source_key}:{person.id}"))
        return
    held = (pending or {}).get("held", []) + [{"key": inc.source_key, "text": inc.text, "at": now.isoformat()}]
    asked = datetime.fromisoformat(pending["asked_at"]) if pending else None
    if asked is None or now - asked >= ASK_AGAIN_AFTER:
        asked = now
        reply(service, session, inc, question(service, session, people), suffix="which")
    _store(session, key, {"people": [p.id for p in people], "held": held, "asked_at": asked.isoformat(),
                          "address": inc.address, "channel": inc.channel})


def anything_held(now: datetime):
    """Shared numbers whose messages are held for an answer (release_unanswered decides when they go)."""
    return select(KeyValue.key).where(KeyValue.key.startswith(PENDING))


def release_unanswered(service: Service) -> int:
    """Held messages whose question nobody answered within HOLD_AT_MOST: to every youth's workers (each youth's
    conversation gets its own copy), so nothing stays only in the log. How many numbers were released."""
    now, released = service.now(), 0
    with service.tx() as session:
        for row in session.exec(select(KeyValue).where(KeyValue.key.startswith(PENDING))).all():
            pending = json.loads(crypto.decrypt(row.value))
            if "address" not in pending or now - datetime.fromisoformat(pending["asked_at"]) < HOLD_AT_MOST:
                continue
            people = [p for p in (session.get(Person, i) for i in pending["people"]) if p is not None]
            session.delete(row)
            for held in pending["held"]:
                for person in people:
                    inc = Incoming(source_key=f"{held['key']}:{person.id}", channel=pending["channel"],
                                   address=pending["address"], text=held["text"],
                                   sent_at=datetime.fromisoformat(held["at"]))
                    from_person(service, session, person, inc)
            released += 1
    if released:
        service.kick_outbox()
    return released


def question(service: Service, session: Session, people: list[Person]) -> str:
    """ "Gjelder det Ola eller Emma? Svar 1 eller 2." in the sender's language."""
    L = lang(service, people[0])
    names = [texts.first_name(youth_of(session, p).name) for p in people]
    if len(names) == 2:
        return L._("Gjelder det {first} eller {second}? Svar 1 eller 2.", first=names[0], second=names[1])
    choices = ", ".join(f"{n} {name}" for n, name in enumerate(names, start=1))
    return L._("Hvem gjelder det? Svar med tallet: {choices}", choices=choices)


def _choice(session: Session, pending: dict, text: str | None) -> Person | None:
    """The person an answer ("1", "2.") picks; None if it is not an answer."""
    answer = (text or "").strip().rstrip(".!)")
    if not answer.isdigit() or not 1 <= int(answer) <= len(pending["people"]):
        return None
    return session.get(Person, pending["people"][int(answer) - 1])


def _load(session: Session, key: str) -> dict | None:
    row = session.get(KeyValue, key)
    return json.loads(crypto.decrypt(row.value)) if row else None


def _store(session: Session, key: str, value: dict) -> None:
    # Encrypted: it holds what the person wrote until they say which youth it is about.
    token = crypto.encrypt(json.dumps(value, ensure_ascii=False))
    row = session.get(KeyValue, key)
    if row is None:
        session.add(KeyValue(key=key, value=token))
    else:
        row.value = token
