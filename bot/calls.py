"""Calls to the service number: whom to ring, in which order, and what is logged and told afterwards.
The edge (handlers/twilio/webhooks.py) turns these decisions into TwiML."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from bot import texts
from bot.contactlog import record
from bot.events import Incoming
from bot.i18n import Lang, has_voice
from bot.out.outbox import queue, send_text
from bot.relay import identify, lang, who, youth_of
from bot.routing import worker_is_available
from bot.service import Service
from bot.shared_phone import recent, sharers
from models.calls import Call, by_sid
from models.people import Person, by_phone, get_person


@dataclass
class Ring:
    """Ring this worker's phone, showing the service number (the worker first hears who is calling)."""

    call_id: int
    step: int
    phone: str


@dataclass
class Say:
    """Say this (in that Twilio language) and hang up."""

    text: str
    language: str | None


def incoming_call(service: Service, session: Session, *, sid: str, caller: str) -> Ring | Say:
    """A youth or parent calls: ring the responsible worker, then the other; anyone else is told what this is."""
    person = identify(session, Incoming(source_key=f"call:{sid}", channel="sms", address=caller))
    if person is None or person.is_staff:
        L = lang(service, person)
        return Say(texts.intro_call(L), L.code)
    call = by_sid(session, sid=sid)
    if call is None:
        now = service.now()
        tz = service.settings.tz
        callers = _callers(session, person, now)
        person, youth = callers[0], youth_of(session, callers[0])
        ids = [w for c in callers for w in (youth_of(session, c).primary_id, youth_of(session, c).secondary_id) if w]
        workers = [get_person(session, person_id=w) for w in dict.fromkeys(ids)]
        with_phone = [w for w in workers if w.phone]
        # Available workers first, keeping primary before secondary within each group.
        order = sorted(with_phone, key=lambda w: not worker_is_available(session, w, now, tz))
        call = Call(sid=sid, person_id=person.id, youth_id=youth.id, plan=",".join(str(w.id) for w in order),
                    started_at=now)
        session.add(call)
        session.flush()
        person.last_channel = person.last_channel or "sms"
    return next_step(service, session, call)


def _callers(session: Session, person: Person, now) -> list[Person]:
    """Who may be calling: the person, or for a shared number the one whose conversation was last active
    within a day, else all who share it (then every youth's workers are rung, never one on a guess)."""
    people = sharers(by_phone(session, phone=person.phone)) if person.phone else []
    if len(people) < 2 or len({youth_of(session, p).id for p in people}) == 1:
        return [person]  # one youth (a youth on a parent's phone): the same workers whoever it is
    last = recent(session, people, now)
    return [last] if last is not None else people


def _caller_for(session: Session, call: Call, worker_id: int) -> Person:
    """The caller as the rung worker knows them: on a shared number, the parent of that worker's youth."""
    caller = get_person(session, person_id=call.person_id)
    for person in sharers(by_phone(session, phone=caller.phone)) if caller.phone else []:
        youth = youth_of(session, person)
        if worker_id in (youth.primary_id, youth.secondary_id):
            return person
    return caller


def next_step(service: Service, session: Session, call: Call) -> Ring | Say:
    if call.step < len(call.workers):
        worker = get_person(session, person_id=call.workers[call.step])
        return Ring(call.id, call.step, worker.phone)
    return missed(service, session, call)


def whisper(service: Service, session: Session, *, call_id: int, step: int) -> Say | None:
    """What the rung worker hears before the call is put through: who is calling, in their language."""
    call = session.get(Call, call_id)
    if call is None or not 0 <= step < len(call.workers):
        return None
    caller = _caller_for(session, call, call.workers[step])
    W = lang(service, get_person(session, person_id=call.workers[step]))
    return Say(W._("{who} ringer via Tett på.", who=who(W, session, caller)), W.code)


def dial_result(service: Service, session: Session, *, call_id: int, step: int, status: str,
                duration: int | None) -> Ring | Say | None:
    """The worker rung at `step` answered (then the call is done) or not (then ring the next)."""
    call = session.get(Call, call_id)
    if call is None or call.outcome is not None or step != call.step:
        return None  # a repeated callback
    if status == "completed":
        call.answered_by, call.outcome, call.duration = call.workers[step], "answered", duration
        caller = _caller_for(session, call, call.answered_by)  # a shared number: now we know which youth
        call.person_id, call.youth_id = caller.id, youth_of(session, caller).id
        call.ended_at = service.now()
        _log(service, session, call)
        return None
    call.step += 1
    return next_step(service, session, call)


def missed(service: Service, session: Session, call: Call) -> Say:
    """Nobody answered: the caller hears a greeting in their language, and the worker is told."""
    caller = get_person(session, person_id=call.person_id)
    L = lang(service, caller)
    if call.outcome is None:
        call.outcome, call.ended_at = "missed", service.now()
        _log(service, session, call)
        # On a shared number nobody said which youth: every rung youth's primary is told, as their parent.
        callers = {p.id: p for p in [caller] + [_caller_for(session, call, w) for w in call.workers]}
        for index, person in enumerate(callers.values()):
            worker = get_person(session, person_id=youth_of(session, person).primary_id)
            W = lang(service, worker)
            send_text(session, key=f"missedcall:{call.sid}" + (f":{person.id}" if index else ""), person=worker,
                      channel="telegram", now=service.now(),
                      text=W._("{who} ringte kl. {time}, men ingen svarte. Ring tilbake når du kan.",
                               who=who(W, session, person), time=W.time(call.started_at)))
        service.kick_outbox()
    greeting = L._("Hei! Ingen kunne ta telefonen akkurat nå. Kontaktpersonen din får beskjed og ringer deg "
                   "tilbake. Haster det, ring 113.")
    if not has_voice(L.code) and caller.phone and not caller.sms_opt_out:
        # Twilio cannot speak this language: the caller hears Norwegian and reads their own by SMS.
        queue(session, key=f"missedcall:{call.sid}:sms", channel="sms", address=caller.phone, text=greeting,
              now=service.now(), person_id=caller.id)
        service.kick_outbox()
    return Say(greeting, L.code)


def call_ended(service: Service, session: Session, *, sid: str, duration: int | None) -> None:
    """Twilio's status callback for the call: the whole call's duration."""
    call = by_sid(session, sid=sid)
    if call is not None and duration is not None:
        call.duration = duration if call.duration is None else call.duration


def _log(service: Service, session: Session, call: Call) -> None:
    caller = get_person(session, person_id=call.person_id)
    N = Lang("nb", service.settings.tz)
    if call.outcome == "answered":
        worker = get_person(session, person_id=call.answered_by)
        text = N._("Samtale med {name}, {duration}", name=worker.name,
                   duration=N.duration_seconds(call.duration or 0))
    else:
        text = N._("Ubesvart anrop")
    record(session, service.settings, at=call.started_at, youth_id=call.youth_id, party=caller.role,
           worker_id=call.answered_by, channel="call", direction="in", kind="call", text=text)
