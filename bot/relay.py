"""The core: a message from a youth or parent reaches the responsible worker; the worker's answer
reaches the sender. Nothing here knows Telegram or Twilio types; it sees `Incoming` and queues sends."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import bindparam
from sqlmodel import Session, func, select

from bot import actions, period, texts, units
from bot.acute import is_acute
from bot.contactlog import record
from bot.events import Incoming
from bot.i18n import Lang, normalize_language
from bot.out.outbox import address_of, queue, queue_text, send_text
from bot.out.transports.base import Button
from bot.routing import next_back, route
from bot.service import Service
from models.conversations import (
    Conversation,
    Message,
    RelayLink,
    conversation_for,
    link_for,
    message_by_source,
    unanswered,
)
from models.db import prepared
from models.people import Person, Role, by_phone, by_telegram_user, get_person

# One automatic "nobody is here" answer per conversation in this time, not one per message.
AUTO_REPLY_QUIET = timedelta(minutes=10)
# Teenagers type in bursts. The first BURST_LIMIT messages in BURST_WINDOW are relayed one by one; what
# follows is combined into one relay at most every COMBINE_EVERY (each text with its time, in order), so the
# worker's chat is not buried and every word still reaches the worker's phone. Acute messages always go alone.
BURST_LIMIT = 5
BURST_WINDOW = timedelta(minutes=1)
COMBINE_EVERY = timedelta(seconds=5)
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


_UNKNOWN = object()


def receive(service: Service, session: Session, inc: Incoming, person: Person | None = _UNKNOWN) -> None:
    """Handle one message from anyone: relay it, answer it, or explain what this is. `person`: the sender,
    if the caller identified them already (one query less on every message)."""
    if message_by_source(session, source_key=inc.source_key):
        return
    if person is _UNKNOWN:
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
    ended = period.phase(session, service, youth, now)
    if not acute and not inc.media and r.responsible is not None and ended != period.OVER:
        group_at = open_group(session, conv)
        if group_at is not None or bursting(session, conv, written):
            # Not relayed alone: the sweep relays it with the others of its group at their due time.
            msg.combine_at = group_at or now + COMBINE_EVERY
            return
    if acute:
        alarmed = r.workers + period.alarm_also(session, youth, ended, r.workers)
        for worker in alarmed:
            relay(service, session, worker, msg, conv, person, mark="urgent")
        N = Lang("nb", service.settings.tz)
        record(
            session, service.settings, at=now, youth_id=youth.id, party="system", channel=inc.channel,
            direction="out", kind="escalation", message_id=msg.id,
            text=N._("Akutt melding: varslet {names} straks", names=", ".join(w.name for w in alarmed)),
        )
        auto_answer(service, session, person, youth, conv, texts.emergency(lang(service, person)), force=True)
        msg.acute_repeat_at = now + service.settings.acute_repeat_after  # nobody takes it: ring, then coordinators
    elif ended == period.OVER:
        auto_answer(service, session, person, youth, conv,
                    period.hand_over_text(session, lang(service, person), youth), force=True)
    elif r.responsible is not None:
        relay(service, session, r.responsible, msg, conv, person, mark="after_period" if ended else None)
        if r.backup is not None:
            msg.escalate_at = now + service.settings.escalation_after
    else:
        waiting = r.primary or r.secondary
        msg.waiting_for = waiting.id if waiting else None
        auto_answer(service, session, person, youth, conv, away_text(service, session, person, youth, now))
    service.kick_outbox()


@prepared
def _count_written():
    """A sender's messages written after `since` and before `upto`."""
    return select(func.count()).select_from(Message).where(
        Message.conversation_id == bindparam("conversation_id"), Message.direction == "in",
        Message.created_at > bindparam("since"), Message.created_at < bindparam("upto"),
    )


@prepared
def _open_group():
    return select(Message.combine_at).where(
        Message.conversation_id == bindparam("conversation_id"), Message.combine_at.is_not(None),
        Message.carried_by.is_(None),
    ).order_by(Message.combine_at)


def bursting(session: Session, conv: Conversation, now: datetime) -> bool:
    """More than BURST_LIMIT messages from one sender in BURST_WINDOW: the rest go combined."""
    # A message handled late is dated by Telegram's `date`, in whole seconds; those before it that were
    # handled promptly are dated by the handling clock, up to PROMPT after they were written: they count.
    # Otherwise those up to and with `now` (a microsecond more): one handled late is not counted against
    # those written after it.
    upto = now + PROMPT + timedelta(seconds=1) if now.microsecond == 0 else now + timedelta(microseconds=1)
    count = session.exec(_count_written(), params={
        "conversation_id": conv.id, "since": now - BURST_WINDOW, "upto": upto}).one()
    return count > BURST_LIMIT


def open_group(session: Session, conv: Conversation) -> datetime | None:
    """When the conversation's waiting combined relay goes out, if one is waiting (a new message joins it)."""
    return session.exec(_open_group(), params={"conversation_id": conv.id}).first()


def _combine_due(now: datetime) -> tuple:
    return Message.combine_at <= now, Message.carried_by.is_(None)


def combined_due(now: datetime):
    """What relay_combined would take: the sweep asks whether it finds anything, in a read, before it writes."""
    return select(Message.id).where(*_combine_due(now))


def relay_combined(service: Service) -> int:
    """The sweep: each conversation's messages whose combine time has come go out as one relay."""
    now = service.now()
    with service.tx() as session:
        due = session.exec(
            select(Message).where(*_combine_due(now)).order_by(Message.id).with_for_update(skip_locked=True)
        ).all()
        groups: dict[int, list[Message]] = {}
        for msg in due:
            groups.setdefault(msg.conversation_id, []).append(msg)
        for group in groups.values():
            send_group(service, session, group, now)
    if groups:
        service.kick_outbox()
    return len(groups)


def send_group(service: Service, session: Session, group: list[Message], now: datetime) -> None:
    """One relay carries the group (its first message stands for it); the log says what it carried."""
    carrier = group[0]
    for msg in group:
        msg.carried_by = carrier.id
    conv = session.get(Conversation, carrier.conversation_id)
    sender = get_person(session, person_id=conv.person_id)
    youth = youth_of(session, sender)
    r = route(session, youth, now, service.settings.tz)
    if r.responsible is None:
        waiting = r.primary or r.secondary
        carrier.waiting_for = waiting.id if waiting else None  # come_back relays the group to them
        return
    relay(service, session, r.responsible, carrier, conv, sender, mark="combined")
    if r.backup is not None and carrier.answered_at is None:
        carrier.escalate_at = now + service.settings.escalation_after
    N = Lang("nb", service.settings.tz)
    times = ", ".join(N.local(m.created_at).strftime("%H:%M:%S") for m in group)
    record(
        session, service.settings, at=now, youth_id=youth.id, party="system", worker_id=r.responsible.id,
        channel=(address_of(r.responsible, "telegram") or ("telegram",))[0], direction="out", kind="message",
        message_id=carrier.id,
        text=N.n_("Videresending {relay} til {name} bar {n} melding, skrevet {times}",
                  "Videresending {relay} til {name} bar {n} meldinger, skrevet {times}", len(group),
                  relay=carrier.id, name=r.responsible.name, times=times),
    )


def carried(session: Session, msg: Message) -> list[Message]:
    """The messages a combined relay carries, in order; just the message itself otherwise."""
    if msg.carried_by != msg.id:
        return [msg]
    return list(session.exec(select(Message).where(Message.carried_by == msg.id).order_by(Message.id)))


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
    group = carried(session, msg)
    header = {
        None: L._("Fra {who}:", who=name),
        "urgent": L._("AKUTT – fra {who}. Nødnumrene er sendt til avsenderen.", who=name),
        "escalated": L._("Ubesvart i {duration} – fra {who}:", who=name,
                         duration=L.duration(service.settings.escalation_after)),
        "waiting": L._("Kom mens du var borte – fra {who}:", who=name),
        "combined": L.n_("{n} melding fra {who}:", "{n} meldinger fra {who}:", len(group), who=name),
        "after_period": L._("Etter oppfølgingsperioden – fra {who}:", who=name),
    }[mark]
    target = address_of(worker, "telegram")
    if target is None:
        return
    media = json.loads(msg.media) if msg.media else None
    body = msg.text or ("" if media else texts.media_word(L, None))  # never a bare header: say "[vedlegg]"
    if len(group) > 1 or mark == "combined":
        # Each text with the time it was written, in order: the worker reads the burst as it was typed.
        media = None
        body = "\n".join(f"[{L.local(m.created_at).strftime('%H:%M:%S')}] {describe(L, m.text, None)}"
                          for m in group)
    if target[0] == "sms":
        # An SMS worker answers by tag: "#7 text" goes to conversation 7.
        header = f"#{conv.id} {header}"
        body = describe(L, msg.text, media) if len(group) == 1 and mark != "combined" else body
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
    if not units.may_see(session, worker, youth):  # their own youths; a coordinator their unit's
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
    """The worker takes what is waiting in the conversation; each other worker is told once, on the last copy."""
    now = service.now()
    pending = unanswered(session, conversation_id=conv.id)
    last_copy: dict[int, RelayLink] = {}  # other worker -> their newest Telegram copy of a message taken now
    for msg in pending:
        msg.answered_at, msg.answered_by, msg.waiting_for = now, worker.id, None
        links = session.exec(
            select(RelayLink).where(RelayLink.message_id == msg.id, RelayLink.worker_id != worker.id)
            .order_by(RelayLink.id)
        ).all()
        for link in links:
            if link.channel == "telegram":
                last_copy[link.worker_id] = link
    if pending:
        sender = get_person(session, person_id=conv.person_id)
        for other_id, link in last_copy.items():
            # One note per take, not one per message: nine "har tatt denne" bury what they are about.
            other = get_person(session, person_id=other_id)
            L = lang(service, other)
            # A message that went in a combined relay reached them by its carrier's copy.
            taken = sum(1 for m in pending if _has_link(session, m.carried_by or m.id, other_id))
            note = L._("{worker} har tatt denne.", worker=texts.first_name(worker.name)) if taken <= 1 else L.n_(
                "{worker} har tatt {n} melding fra {who}.", "{worker} har tatt {n} meldinger fra {who}.", taken,
                worker=texts.first_name(worker.name), who=who(L, session, sender))
            queue(session, key=f"taken:{pending[-1].id}:{other.id}", channel="telegram", address=link.address,
                  text=note, now=now, person_id=other.id, reply_to=link.external_id)
    service.kick_outbox()
    return len(pending)


def _has_link(session: Session, message_id: int, worker_id: int) -> bool:
    """Whether a copy of the message reached the worker."""
    return session.exec(
        select(RelayLink.id).where(RelayLink.message_id == message_id, RelayLink.worker_id == worker_id)
    ).first() is not None
