"""SMS that reach the service: opt-out keywords first, then the same relay as Telegram."""

from __future__ import annotations

from sqlmodel import Session

from bot import relay, shared_phone, texts
from bot.contactlog import record
from bot.events import Incoming
from bot.out.outbox import queue, send_text
from bot.relay import lang, youth_of
from bot.service import Service
from models.people import Person, by_phone, get_person

# Twilio's own opt-out words plus the Norwegian STOPP; a START only means something after a STOP.
STOP_WORDS = {"STOP", "STOPP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "AVSLUTT"}
START_WORDS = {"START", "UNSTOP", "STARTE"}


def receive_sms(service: Service, session: Session, inc: Incoming) -> None:
    """Handle one inbound SMS (stored and deduplicated on its MessageSid before this runs)."""
    word = (inc.text or "").strip().strip(".!").upper()
    people = by_phone(session, phone=inc.address)
    if word in STOP_WORDS and people:
        opt_out(service, session, people, inc, stop=True)
    elif word in START_WORDS and any(p.sms_opt_out for p in people):
        opt_out(service, session, people, inc, stop=False)
    elif not people:
        # An unknown number gets one short SMS; it is not told anything about anyone.
        relay.reply(service, session, inc, texts.intro_sms(lang(service, None)))
    elif len(shared_phone.sharers(people)) > 1 and not any(p.is_staff for p in people):
        shared_phone.receive(service, session, shared_phone.sharers(people), inc)
    else:
        relay.receive(service, session, inc)
    service.kick_outbox()


def opt_out(service: Service, session: Session, people: list[Person], inc: Incoming, *, stop: bool) -> None:
    """STOP: no more SMS to this number until START. Confirmed once, logged, and the workers are told."""
    changed = [p for p in people if p.sms_opt_out != stop]
    if not changed:
        return  # a second STOP is not confirmed again
    now = service.now()
    person = changed[0]
    L = lang(service, person)
    confirmation = L._("Du får ikke flere SMS fra Tett på. Send START for å skru dem på igjen.") if stop else \
        L._("Du får SMS fra Tett på igjen.")
    # The confirmation goes out before the opt-out takes effect, to the number itself.
    queue(session, key=f"optout:{inc.source_key}", channel="sms", address=inc.address, text=confirmation, now=now,
          person_id=person.id)
    for p in changed:
        p.sms_opt_out = stop
        if p.is_staff:
            continue
        youth = youth_of(session, p)
        record(session, service.settings, at=now, youth_id=youth.id, party=p.role, channel="sms", direction="in",
               kind="opt_out", text="STOP" if stop else "START")
        for worker_id in {youth.primary_id, youth.secondary_id} - {None}:
            worker = get_person(session, person_id=worker_id)
            W = lang(service, worker)
            note = W._("{who} har skrudd av SMS (STOP). Vekking og påminnelser går på Telegram der det går; "
                       "ellers må du ta kontakt selv.", who=relay.who(W, session, p)) if stop else \
                W._("{who} har skrudd på SMS igjen (START).", who=relay.who(W, session, p))
            send_text(session, key=f"optout:{inc.source_key}:{p.id}:{worker.id}", person=worker, text=note,
                      now=now, channel="telegram")
