"""What workers do in the chat: /off and /on, taking a message, and the digest when they come back."""

from __future__ import annotations

from collections import defaultdict

from sqlmodel import Session, select

from bot import texts
from bot.actions import action
from bot.contactlog import record
from bot.events import Incoming
from bot.i18n import Lang
from bot.outbox import send_text
from bot.relay import lang, relay, reply, take, who
from bot.routing import is_available
from bot.service import Service
from models.conversations import Conversation, Message
from models.outbox import Outbox
from models.people import Person, get_person, staff, youths_of


def help_text(service: Service, worker: Person) -> str:
    L = lang(service, worker)
    return L._(
        "Slik bruker du Tett på:\n"
        "• Svar på en videresendt melding med «Svar», så går svaret til ungdommen eller forelderen.\n"
        "• «Jeg tar den» sier fra at du tar en melding uten å svare ennå.\n"
        "• /off (/av): du er ikke tilgjengelig, meldinger går til den andre kontaktpersonen.\n"
        "• /on (/pa): du er tilgjengelig igjen og får det som kom mens du var borte.\n"
        "• /timer: vis eller endre timene dine, for eksempel /timer man-fre 15:00-23:00.\n"
        "• /borte: registrer fravær, for eksempel /borte 01.12 05.12 eller /borte i dag.\n"
        "• /sprak som svar på en videresendt melding: velg språket den personen får meldinger på.\n"
        "• /vekking: vekking for en ungdom (legg til, vis, pause, stopp).\n"
        "• /mote: møter med påminnelser (legg til, vis, avlys).\n"
        "• /notat: skriv et notat i kontaktloggen (som svar på en videresendt melding, eller med navnet på "
        "ungdommen).\n"
        "• /help: denne hjelpen."
    ) + "\n" + L._("• /samtykke som svar på en videresendt melding, eller med navnet: registrer samtykke (kontakt, "
                   "vekking, foresatte, SMS); «/samtykke trekk» trekker det tilbake.")


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
        if is_available(session, worker, service.now(), service.settings.tz):
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
    if msg.answered_by is not None and msg.answered_by != worker.id:
        taker = get_person(session, person_id=msg.answered_by)
        return L._("{worker} har allerede tatt denne.", worker=texts.first_name(taker.name))
    take(service, session, worker, session.get(Conversation, msg.conversation_id))
    return L._("Du har tatt denne.")


def come_back(service: Service, session: Session, worker: Person) -> None:
    """A worker is available again: relay what waited for them and summarize what others handled."""
    since = worker.away_since
    worker.away_since = None
    now = service.now()
    waiting = session.exec(
        select(Message).where(Message.waiting_for == worker.id, Message.answered_at.is_(None)).order_by(Message.id)
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
            available = is_available(session, worker, now, service.settings.tz)
            if not available and worker.away_since is None:
                worker.away_since = now
            elif available and worker.away_since is not None:
                come_back(service, session, worker)
    service.kick_outbox()


def escalate_due(service: Service) -> int:
    """Relayed messages nobody answered or took in time go to the other worker too, marked escalated."""
    now = service.now()
    count = 0
    with service.tx() as session:
        due = session.exec(
            select(Message).where(
                Message.escalate_at <= now, Message.escalated_at.is_(None), Message.answered_at.is_(None),
                Message.direction == "in",
            ).order_by(Message.id)
        ).all()
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

