"""The core: a message from a youth or parent reaches the responsible worker; the worker's answer
reaches the sender. Nothing here knows Telegram or Twilio types; it sees `Incoming` and queues sends."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timedelta

from sqlmodel import Session, func, select

from bot import actions, texts
from bot.acute import is_acute
from bot.contactlog import record
from bot.events import Incoming
from bot.i18n import Lang, normalize_language
from bot.outbox import address_of, queue, queue_text, send_text
from bot.routing import next_back, route
from bot.service import Service
from bot.transports.base import Button
from models.conversations import (
    Conversation,
    Message,
    RelayLink,
    conversation_for,
    link_for,
    message_by_source,
    unanswered,
)
from models.people import Person, Role, by_phone, by_telegram_user, get_person

# One automatic "nobody is here" answer per conversation in this time, not one per message.
AUTO_REPLY_QUIET = timedelta(minutes=10)
# A sender writing faster than this is kept in the log but not relayed message by message, so one
# flooding sender cannot bury a worker's chat (acute messages are always relayed).
FLOOD_LIMIT = 10
FLOOD_WINDOW = timedelta(minutes=1)
# Telegram keeps an update for a day: a time of writing older than that (or in the future) is not believed.
WRITTEN_MAX_AGE = timedelta(days=1)
# Telegram dates a message to the whole second: a message handled within this long is dated by the handling,
# so the log keeps the order of things that happened in the same second.
PROMPT = timedelta(seconds=5)


def lang(service: Service, person: Person | None, code: str | None = None) -> Lang:
    return Lang(person.language if person else normalize_language(code), service.settings.tz)


def identify(session: Session, inc: Incoming) -> Person | None:
    if inc.channel == "telegram" and inc.user_id is not None:
        return by_telegram_user(session, user_id=inc.user_id)
    people = by_phone(session, phone=inc.address)
    staff = [p for p in people if p.is_staff]
    return (staff or people or [None])[0]


def describe(L: Lang, text: str | None, media: dict | None) -> str:
    parts = [texts.media_word(L, media.get("kind"))] if media else []
    if text:
        parts.append(text)
    return " ".join(parts)


def receive(service: Service, session: Session, inc: Incoming) -> None:
    """Handle one message from anyone: relay it, answer it, or explain what this is."""
    if message_by_source(session, source_key=inc.source_key):
        return
    person = identify(session, inc)
    if person is None:
        reply(service, session, inc, texts.intro(lang(service, None, inc.language_code)))
    elif person.is_staff:
        from_worker(service, session, person, inc)
    else:
        from_person(service, session, person, inc)


def reply(service: Service, session: Session, inc: Incoming, text: str, suffix: str = "reply") -> None:
    """Answer the sender of `inc` directly, on the channel it came by (in parts, if it is long)."""
    queue_text(
        session, key=f"{suffix}:{inc.source_key}", channel=inc.channel, address=inc.address, text=text,
        now=service.now(),
    )


def youth_of(session: Session, person: Person) -> Person:
    return person if person.role == Role.youth else get_person(session, person_id=person.youth_id)


def who(L: Lang, session: Session, person: Person) -> str:
    if person.role == Role.parent:
        youth = get_person(session, person_id=person.youth_id)
        return L._("{name}, forelder til {youth}", name=person.name, youth=youth.name)
    return person.name


def written_at(inc: Incoming, now: datetime) -> datetime:
    """When the person wrote it. After a restart the backlog is handled within seconds: counted by the time
    of handling, a youth's messages from the last minutes would look like a flood and not be relayed, and
    the log would say the wrong time (and maybe not "after hours")."""
    if inc.sent_at is None or not now - WRITTEN_MAX_AGE <= inc.sent_at <= now - PROMPT:
        return now  # handled promptly (the handling clock is the finer one), or a time not to believe
    return inc.sent_at


def from_person(service: Service, session: Session, person: Person, inc: Incoming) -> None:
    """A youth or parent wrote: log it, then relay it to whoever is responsible now."""
    now = service.now()
    written = written_at(inc, now)
    youth = youth_of(session, person)
    conv = conversation_for(session, person_id=person.id, youth_id=youth.id)
    person.last_channel = inc.channel
    if actions.consumed(service, session, person, inc):
        service.kick_outbox()
        return
    acute = is_acute(inc.text, service.settings.crisis_words)
    msg = Message(
        conversation_id=conv.id, direction="in", channel=inc.channel, source_key=inc.source_key,
        text=inc.text, media=json.dumps(inc.media) if inc.media else None, acute=acute, created_at=written,
    )
    session.add(msg)
    session.flush()
    record(
        session, service.settings, at=written, youth_id=youth.id, party=person.role, channel=inc.channel,
        direction="in", kind="message", text=describe(Lang("nb"), inc.text, inc.media), message_id=msg.id,
    )
    r = route(session, youth, now, service.settings.tz)
    if not acute and flooding(session, conv, written):
        flood_notice(service, session, person, r.responsible or r.primary, conv, inc, now)
        return
    if acute:
        for worker in r.workers:
            relay(service, session, worker, msg, conv, person, mark="urgent")
        N = Lang("nb", service.settings.tz)
        record(
            session, service.settings, at=now, youth_id=youth.id, party="system", channel=inc.channel,
            direction="out", kind="escalation", message_id=msg.id,
            text=N._("Akutt melding: varslet {names} straks", names=", ".join(w.name for w in r.workers)),
        )
        auto_answer(service, session, person, youth, conv, texts.emergency(lang(service, person)), force=True)
    elif r.responsible is not None:
        relay(service, session, r.responsible, msg, conv, person)
        if r.backup is not None:
            msg.escalate_at = now + service.settings.escalation_after
    else:
        waiting = r.primary or r.secondary
        msg.waiting_for = waiting.id if waiting else None
        auto_answer(service, session, person, youth, conv, away_text(service, session, person, youth, now))
    service.kick_outbox()


def flooding(session: Session, conv: Conversation, now: datetime) -> bool:
    """More than FLOOD_LIMIT messages from one sender in FLOOD_WINDOW: the rest are kept, not relayed."""
    # A message handled late is dated by Telegram's `date`, in whole seconds; those before it that were
    # handled promptly are dated by the handling clock, up to PROMPT after they were written: they count.
    upto = now + PROMPT + timedelta(seconds=1) if now.microsecond == 0 else now
    count = session.exec(
        select(func.count()).select_from(Message).where(
            Message.conversation_id == conv.id, Message.direction == "in", Message.created_at > now - FLOOD_WINDOW,
            Message.created_at < upto if upto > now else Message.created_at <= now,
            # a message handled late is not counted against those written after it
        )
    ).one()
    return count > FLOOD_LIMIT


def flood_notice(service: Service, session: Session, person: Person, worker: Person | None, conv: Conversation,
                 inc: Incoming, now: datetime) -> None:
    """Once per window: the sender is asked to slow down and the worker told where the rest are."""
    bucket = int(now.timestamp() // FLOOD_WINDOW.total_seconds())
    L = lang(service, person)
    send_text(session, key=f"flood:{conv.id}:{bucket}", person=person, now=now, channel=inc.channel,
              text=L._("Du har sendt mange meldinger på kort tid. De er lagret, men vent litt før du sender flere. "
                       "Haster det, ring 113."))
    if worker is not None:
        W = lang(service, worker)
        send_text(session, key=f"flood:{conv.id}:{bucket}:{worker.id}", person=worker, now=now,
                  channel="telegram", text=W._("{who} sender mange meldinger på kort tid. De som ikke er "
                                               "videresendt, står i kontaktloggen.", who=who(W, session, person)))
    service.kick_outbox()


def away_text(service: Service, session: Session, person: Person, youth: Person, now: datetime) -> str:
    L = lang(service, person)
    back = next_back(session, youth, now, service.settings.tz)
    if back is None:
        first = L._("Takk for meldingen! Ingen kan svare akkurat nå, men meldingen venter på kontaktpersonen din.")
    else:
        worker, when = back
        first = L._(
            "Takk for meldingen! {name} svarer fra {when}. Meldingen venter til da.",
            name=texts.first_name(worker.name), when=L.when(when, now),
        )
    return f"{first}\n\n{texts.emergency(L)}"


def auto_answer(
    service: Service, session: Session, person: Person, youth: Person, conv: Conversation, text: str,
    force: bool = False,
) -> None:
    """An automatic answer to a youth or parent, at most once in a quiet period unless forced (acute)."""
    now = service.now()
    if not force:
        recent = session.exec(
            select(Message.id).where(
                Message.conversation_id == conv.id, Message.direction == "out", Message.worker_id.is_(None),
                Message.created_at > now - AUTO_REPLY_QUIET,
            )
        ).first()
        if recent is not None:
            return
    target = address_of(person)
    if target is None:
        return
    msg = Message(conversation_id=conv.id, direction="out", channel=target[0], text=text, created_at=now)
    session.add(msg)
    session.flush()
    record(
        session, service.settings, at=now, youth_id=youth.id, party="system", channel=target[0],
        direction="out", kind="auto_reply", text=text, message_id=msg.id,
    )
    send_text(session, key=f"auto:{msg.id}", person=person, text=text, now=now, channel=target[0])


def relay(
    service: Service, session: Session, worker: Person, msg: Message, conv: Conversation, sender: Person,
    mark: str | None = None,
) -> None:
    """Show a youth's or parent's message to a worker, with a button to take it."""
    L = lang(service, worker)
    name = who(L, session, sender)
    header = {
        None: L._("Fra {who}:", who=name),
        "urgent": L._("AKUTT – fra {who}. Nødnumrene er sendt til avsenderen.", who=name),
        "escalated": L._("Ubesvart i {duration} – fra {who}:", who=name,
                         duration=L.duration(service.settings.escalation_after)),
        "waiting": L._("Kom mens du var borte – fra {who}:", who=name),
    }[mark]
    target = address_of(worker, "telegram")
    if target is None:
        return
    media = json.loads(msg.media) if msg.media else None
    body = msg.text or ("" if media else texts.media_word(L, None))  # never a bare header: say "[vedlegg]"
    if target[0] == "sms":
        # An SMS worker answers by tag: "#7 text" goes to conversation 7.
        header = f"#{conv.id} {header}"
        body = describe(L, msg.text, media)
        media = None
    buttons = ((Button(L._("Jeg tar den"), f"take:{msg.id}"),),)
    now = service.now()
    send_text(
        session, key=f"relay:{msg.id}:{worker.id}:{mark or ''}", person=worker, channel=target[0],
        text=f"{header}\n{body}".strip(), buttons=buttons if not media else (), now=now,
        conversation_id=conv.id, message_id=msg.id,
    )
    if media:
        send_text(
            session, key=f"relay:{msg.id}:{worker.id}:{mark or ''}:media", person=worker, channel="telegram",
            text=None, copy={"chat_id": media["chat_id"], "message_id": media["message_id"]}, buttons=buttons,
            now=now, conversation_id=conv.id, message_id=msg.id,
        )


def from_worker(service: Service, session: Session, worker: Person, inc: Incoming) -> None:
    """A worker wrote: an answer to a relayed message (or, by SMS, to a #tag) goes to that conversation."""
    L = lang(service, worker)
    if inc.channel == "sms":
        conv, inc, problem = sms_conversation(service, session, worker, inc)
    else:
        conv, problem = conversation_of_answer(session, worker, inc), None
    if conv is None:
        reply(service, session, inc, problem or L._(
            "Svar på en videresendt melding (sveip eller trykk «Svar») så kommer svaret fram til riktig person. "
            "/help viser kommandoene."
        ))
        return
    youth = get_person(session, person_id=conv.youth_id)
    if worker.role != Role.coordinator and worker.id not in (youth.primary_id, youth.secondary_id):
        reply(service, session, inc, L._("Du er ikke kontaktperson for denne ungdommen, så svaret ble ikke sendt."))
        return
    answer(service, session, worker, conv, inc)


def conversation_of_answer(session: Session, worker: Person, inc: Incoming) -> Conversation | None:
    if inc.reply_to is None:
        return None
    link = link_for(session, channel=inc.channel, address=inc.address, external_id=inc.reply_to)
    if link is None and (inc.reply_to_button or "").startswith("take:"):
        # A relay whose first send reached Telegram but whose receipt was lost (a timeout, or a crash before
        # it was recorded) was sent again; an answer to that first copy still names its message by its button.
        number = inc.reply_to_button.removeprefix("take:")
        msg = session.get(Message, int(number)) if number.isdigit() and len(number) <= 9 else None
        return session.get(Conversation, msg.conversation_id) if msg is not None else None
    if link is None or link.worker_id != worker.id:
        return None
    return session.get(Conversation, link.conversation_id)


# ASCII digits only, and all of them: "#7Hei" (no space) is #7, never "no tag" and so the last conversation.
TAG = re.compile(r"^\s*#([0-9]+)[\s:,.\-]*")
# An untagged SMS answer goes to the conversation last sent to the worker, unless relays from more than
# one conversation reached them this recently: then it could be either, and guessing wrong would send a
# youth's worker's words to another family.
AMBIGUOUS_WITHIN = timedelta(minutes=30)


def sms_conversation(
    service: Service, session: Session, worker: Person, inc: Incoming
) -> tuple[Conversation | None, Incoming, str | None]:
    """The conversation of a worker's SMS: "#7 text" names it; untagged, the one they were last sent."""
    L = lang(service, worker)
    match = TAG.match(inc.text or "")
    if match:
        conv = session.get(Conversation, int(match.group(1))) if len(match.group(1)) <= 9 else None
        rest = replace(inc, text=(inc.text or "")[match.end():].strip())
        if conv is None:
            return None, inc, L._("Fant ingen samtale #{tag}. Svar med nummeret fra meldingen, for eksempel «#7 Hei!».",
                                  tag=match.group(1))
        if not rest.text:
            return None, inc, L._("Skriv svaret etter nummeret, for eksempel «#7 Hei!».")
        return conv, rest, None
    links = session.exec(
        select(RelayLink).where(RelayLink.worker_id == worker.id, RelayLink.channel == "sms")
        .order_by(RelayLink.id.desc()).limit(20)
    ).all()
    if not links:
        return None, inc, L._("Start svaret med nummeret på samtalen, for eksempel «#7 Hei!», så kommer det fram "
                              "til riktig person.")
    recent = {link.conversation_id for link in links if link.created_at >= service.now() - AMBIGUOUS_WITHIN}
    if len(recent) > 1:
        tags = ", ".join(f"#{c}" for c in sorted(recent))
        return None, inc, L._("Flere samtaler venter på svar ({tags}). Start svaret med riktig nummer, for "
                              "eksempel «#7 Hei!». Svaret ble ikke sendt.", tags=tags)
    return session.get(Conversation, links[0].conversation_id), inc, None


def answer(service: Service, session: Session, worker: Person, conv: Conversation, inc: Incoming) -> None:
    """Send a worker's answer to the youth or parent, log it, and mark the conversation taken."""
    now = service.now()
    person = get_person(session, person_id=conv.person_id)
    target = address_of(person)
    L = lang(service, worker)
    if target is None:
        reply(service, session, inc, L._("{name} kan ikke nås på Telegram eller SMS.", name=person.name))
        return
    media = inc.media if target[0] == "telegram" else None
    text = inc.text or ""
    if inc.media and not media:
        text = describe(lang(service, person), inc.text, inc.media)
    msg = Message(
        conversation_id=conv.id, direction="out", worker_id=worker.id, channel=target[0],
        source_key=inc.source_key, text=inc.text, media=json.dumps(inc.media) if inc.media else None,
        created_at=now,
    )
    session.add(msg)
    session.flush()
    record(
        session, service.settings, at=now, youth_id=conv.youth_id, party="worker", worker_id=worker.id,
        channel=target[0], direction="out", kind="message", text=describe(Lang("nb"), inc.text, inc.media),
        message_id=msg.id,
    )
    signed = f"{texts.first_name(worker.name)}: {text}".strip()
    if media:
        send_text(session, key=f"answer:{msg.id}:name", person=person, text=signed, now=now)
        send_text(session, key=f"answer:{msg.id}", person=person, text=None, now=now,
                  copy={"chat_id": media["chat_id"], "message_id": media["message_id"]})
    else:
        send_text(session, key=f"answer:{msg.id}", person=person, text=signed, now=now)
    take(service, session, worker, conv)
    service.kick_outbox()


def take(service: Service, session: Session, worker: Person, conv: Conversation) -> int:
    """The worker takes what is waiting in the conversation; other workers' copies say who took it."""
    now = service.now()
    pending = unanswered(session, conversation_id=conv.id)
    for msg in pending:
        msg.answered_at, msg.answered_by, msg.waiting_for = now, worker.id, None
        links = session.exec(
            select(RelayLink).where(RelayLink.message_id == msg.id, RelayLink.worker_id != worker.id)
        ).all()
        told = set()
        for link in links:
            if link.worker_id in told:
                continue  # a media relay has two copies; one note is enough
            told.add(link.worker_id)
            other = get_person(session, person_id=link.worker_id)
            L = lang(service, other)
            note = L._("{worker} har tatt denne.", worker=texts.first_name(worker.name))
            if link.channel == "telegram":
                queue(session, key=f"taken:{msg.id}:{other.id}", channel="telegram", address=link.address, text=note,
                      now=now, person_id=other.id, reply_to=link.external_id)
    service.kick_outbox()
    return len(pending)
