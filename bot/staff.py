"""What workers do in the chat: /off and /on, taking a message, and the digest when they come back."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime

from sqlmodel import Session, select

from bot import texts, units
from bot.actions import action
from bot.contactlog import record
from bot.events import Incoming
from bot.i18n import Lang
from bot.out.outbox import send_text
from bot.relay import lang, relay, reply, take, who
from bot.routing import worker_is_available
from bot.service import Service
from models.conversations import Conversation, Message, awaiting_answer
from models.outbox import Outbox
from models.people import Person, Role, get_person, staff, youths_of

log = logging.getLogger(__name__)


def set_off(service: Service, session: Session, worker: Person, inc: Incoming, off: bool) -> None:
    """Toggle the worker's own availability and say what it now is."""
    L = lang(service, worker)
    worker.off = off
    if off:
        worker.away_since = worker.away_since or service.now()
        reply(service, session, inc, L._(
            "Du er nå ikke tilgjengelig. Nye meldinger går til den andre kontaktpersonen. Skriv /on når du er tilbake."
        ))
    else:
        reply(service, session, inc, L._("Du er nå tilgjengelig."))
        if worker_is_available(session, worker, service.now(), service.settings.tz):
            come_back(service, session, worker)
    service.kick_outbox()


@action("take")
def take_button(service: Service, session: Session, person: Person, value: str) -> str | None:
    """The "Jeg tar den" button under a relay."""
    if not person.is_staff or not value.isdigit():
        return None
    return take_message(service, session, person, int(value))


def take_message(service: Service, session: Session, worker: Person, message_id: int) -> str:
    """Take a relayed message: the answer shown on the button press."""
    L = lang(service, worker)
    msg = session.get(Message, message_id)
    if msg is None:
        return L._("Fant ikke meldingen.")
    conv = session.get(Conversation, msg.conversation_id)
    youth = get_person(session, person_id=conv.youth_id)
    if worker.id not in (youth.primary_id, youth.secondary_id):
        # Callback data comes from the client and can be forged: only the youth's own workers may take it.
        log.warning("take refused: worker %s is not a contact person of youth %s (message %s)",
                    worker.id, youth.id, msg.id)
        return L._("Du er ikke kontaktperson for denne ungdommen.")
    if msg.answered_by is not None and msg.answered_by != worker.id:
        taker = get_person(session, person_id=msg.answered_by)
        return L._("{worker} har allerede tatt denne.", worker=texts.first_name(taker.name))
    take(service, session, worker, conv)
    return L._("Du har tatt denne.")


def come_back(service: Service, session: Session, worker: Person) -> None:
    """A worker is available again: relay what waited for them and summarize what others handled."""
    since = worker.away_since
    worker.away_since = None
    now = service.now()
    waiting = session.exec(
        select(Message).where(Message.waiting_for == worker.id, awaiting_answer()).order_by(Message.id)
    ).all()
    for msg in waiting:
        conv = session.get(Conversation, msg.conversation_id)
        relay(service, session, worker, msg, conv, get_person(session, person_id=conv.person_id), mark="waiting")
        msg.waiting_for = None
        if since is None or msg.created_at < since:
            since = msg.created_at
    if since is None:
        return
    L = lang(service, worker)
    youth_ids = [y.id for y in youths_of(session, worker_id=worker.id)]
    handled = session.exec(
        select(Message).join(Conversation).where(
            Conversation.youth_id.in_(youth_ids), Message.direction == "in", Message.created_at >= since,
            Message.answered_by.is_not(None), Message.answered_by != worker.id,
        )
    ).all()
    counts: dict[tuple[int, int], int] = defaultdict(int)
    for msg in handled:
        counts[(msg.conversation_id, msg.answered_by)] += 1
    lines = []
    for (conv_id, taker_id), n in counts.items():
        sender = get_person(session, person_id=session.get(Conversation, conv_id).person_id)
        taker = get_person(session, person_id=taker_id)
        lines.append(L.n_(
            "{who}: {n} melding, tatt av {worker}", "{who}: {n} meldinger, tatt av {worker}", n,
            who=who(L, session, sender), worker=texts.first_name(taker.name),
        ))
    if not waiting and not lines:
        return
    summary = [L.n_("Mens du var borte kom {n} melding til deg.", "Mens du var borte kom {n} meldinger til deg.",
                    len(waiting))] if waiting else []
    if lines:
        summary.append(L._("Håndtert av andre:") + "\n" + "\n".join(lines))
    send_text(session, key=f"digest:{worker.id}:{now.isoformat()}", person=worker, channel="telegram",
              text="\n\n".join(summary), now=now)


def sweep_availability(service: Service) -> None:
    """Notice workers whose hours or absence began or ended, so coming back sends the digest."""
    now = service.now()
    with service.tx() as session:
        for worker in staff(session):
            available = worker_is_available(session, worker, now, service.settings.tz)
            if not available and worker.away_since is None:
                worker.away_since = now
            elif available and worker.away_since is not None:
                come_back(service, session, worker)
    service.kick_outbox()


def _escalation_due(now: datetime) -> tuple:
    return Message.escalate_at <= now, Message.escalated_at.is_(None), awaiting_answer()


def escalations_due(now: datetime):
    """What escalate_due would take: the sweep asks whether it finds anything, in a read, before it writes."""
    return select(Message.id).where(*_escalation_due(now))


def escalate_due(service: Service) -> int:
    """Relayed messages nobody answered or took in time go to the other worker too, marked escalated."""
    now = service.now()
    count = 0
    with service.tx() as session:
        due = session.exec(select(Message).where(*_escalation_due(now)).order_by(Message.id)).all()
        for msg in due:
            msg.escalated_at = now
            conv = session.get(Conversation, msg.conversation_id)
            youth = get_person(session, person_id=conv.youth_id)
            sender = get_person(session, person_id=conv.person_id)
            for worker_id in (youth.primary_id, youth.secondary_id):
                worker = get_person(session, person_id=worker_id) if worker_id else None
                if worker is None or _has_copy(session, msg.id, worker.id):
                    continue
                relay(service, session, worker, msg, conv, sender, mark="escalated")
                record(
                    session, service.settings, at=now, youth_id=youth.id, party="system", worker_id=worker.id,
                    channel=msg.channel, direction="out", kind="escalation",
                    text=Lang("nb")._("Ubesvart etter {duration}, sendt til {name}", name=worker.name,
                                      duration=Lang("nb").duration(service.settings.escalation_after)),
                    message_id=msg.id,
                )
                count += 1
    service.kick_outbox()
    return count


def _has_copy(session: Session, message_id: int, worker_id: int) -> bool:
    return session.exec(
        select(Outbox.id).where(Outbox.message_id == message_id, Outbox.person_id == worker_id)
    ).first() is not None



def _acute_repeat_due(now: datetime) -> tuple:
    return Message.acute_repeat_at <= now, Message.answered_at.is_(None), Message.direction == "in"


def acute_repeats_due(now: datetime):
    """What repeat_acute would take (asked in a read first, as escalations_due)."""
    return select(Message.id).where(*_acute_repeat_due(now))


def repeat_acute(service: Service) -> int:
    """An acute message nobody took or answered: ring the workers who have a phone, then tell the coordinators."""
    now = service.now()
    with service.tx() as session:
        due = session.exec(
            select(Message).where(*_acute_repeat_due(now)).order_by(Message.id).with_for_update(skip_locked=True)
        ).all()
        for msg in due:
            conv = session.get(Conversation, msg.conversation_id)
            youth = get_person(session, person_id=conv.youth_id)
            sender = get_person(session, person_id=conv.person_id)
            if msg.acute_step == 0:
                ring_workers(service, session, msg, youth, sender, now)
                msg.acute_step, msg.acute_repeat_at = 1, now + service.settings.acute_repeat_after
            else:
                tell_coordinators(service, session, msg, youth, sender, now)
                msg.acute_step, msg.acute_repeat_at = 2, None
    service.kick_outbox()
    return len(due)


def ring_workers(service: Service, session: Session, msg: Message, youth: Person, sender: Person, now) -> None:
    """Ring each of the youth's workers who has a phone: the call says who wrote and that it is acute."""
    N = Lang("nb", service.settings.tz)
    rung = []
    for worker_id in (youth.primary_id, youth.secondary_id):
        worker = get_person(session, person_id=worker_id) if worker_id else None
        if worker is None or not worker.phone:
            continue
        W = lang(service, worker)
        send_text(session, key=f"acutecall:{msg.id}:{worker.id}", person=worker, channel="call", now=now,
                  text=W._("Akutt melding i Tett på fra {who}. Ingen har tatt den ennå. Se meldingen og ta kontakt "
                           "straks.", who=who(W, session, sender)))
        rung.append(worker.name)
        record(session, service.settings, at=now, youth_id=youth.id, party="system", worker_id=worker.id,
               channel="call", direction="out", kind="escalation", message_id=msg.id,
               text=N._("Akutt melding ikke tatt etter {duration}: ringer {name}", name=worker.name,
                        duration=N.duration(service.settings.acute_repeat_after)))
    if not rung:
        record(session, service.settings, at=now, youth_id=youth.id, party="system", channel="call",
               direction="none", kind="escalation", message_id=msg.id,
               text=N._("Akutt melding ikke tatt etter {duration}: ingen kontaktperson har telefonnummer",
                        duration=N.duration(service.settings.acute_repeat_after)))


def tell_coordinators(service: Service, session: Session, msg: Message, youth: Person, sender: Person,
                      now) -> None:
    """Tell the coordinators of the youth's unit (and the admins) that an acute message is still not taken;
    a youth in no unit (a database from before units): every coordinator."""
    N = Lang("nb", service.settings.tz)
    if units.unit_id_of(session, youth) is not None:
        coordinators = units.coordinators_of(session, youth)
    else:
        coordinators = [p for p in staff(session) if p.role in (Role.coordinator, Role.admin)]
    for coordinator in coordinators:
        C = lang(service, coordinator)
        row = send_text(session, key=f"acutecoord:{msg.id}:{coordinator.id}", person=coordinator, now=now,
                  text=C._("AKUTT: en melding fra {who} er ikke tatt av kontaktpersonene etter {duration}, og de er "
                           "ringt. Ta kontakt med dem eller med {youth} straks.", who=who(C, session, sender),
                           youth=youth.name, duration=C.duration(now - msg.created_at)))
        record(session, service.settings, at=now, youth_id=youth.id, party="system", worker_id=coordinator.id,
               channel=row.channel if row else "telegram", direction="out", kind="escalation",
               message_id=msg.id, text=N._("Akutt melding fortsatt ikke tatt: varslet koordinator {name}",
                                           name=coordinator.name))
    if not coordinators:
        record(session, service.settings, at=now, youth_id=youth.id, party="system", channel="telegram",
               direction="none", kind="escalation", message_id=msg.id,
               text=N._("Akutt melding fortsatt ikke tatt: ingen koordinator å varsle"))
