"""Meetings: reminders before (confirm, cancel or ask to move), and after it the worker says how it went.

Each reminder is a row with its due time and state, so a restart sends a reminder late while that is
still useful (before the meeting) and otherwise logs it as missed; none is sent twice.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlmodel import Session, select

from bot import consent, period, texts, units
from bot.actions import action, reply_hook
from bot.contactlog import record
from bot.errors import InputError
from bot.events import Incoming
from bot.i18n import Lang
from bot.out.outbox import address_of, queue, send_text
from bot.out.transports.base import Button
from bot.relay import lang, who, youth_of
from bot.routing import route, worker_is_available
from bot.service import Service
from bot.timespec import SpecError, format_duration, parse_duration
from models.conversations import conversation_for
from models.outbox import SENT as OUTBOX_SENT
from models.outbox import Outbox
from models.people import Person, Role, get_person, parents_of
from models.schedules import (
    CANCELLED,
    DONE,
    MISSED,
    NO_SHOW,
    PENDING,
    REMINDED,
    SCHEDULED,
    SKIPPED,
    Meeting,
    MeetingReminder,
)

DEFAULT_REMIND = "24h,2h"
MAX_OFFSET = timedelta(days=30)
# The worker is asked how it went this long after the meeting began.
OUTCOME_AFTER = timedelta(hours=1)
OUTCOMES = (DONE, NO_SHOW, CANCELLED)
ANSWERS = ("yes", "no", "move")


def parse_offsets(text: str) -> list[int]:
    """"24h,2h" -> [86400, 7200]: each before the meeting, largest first."""
    offsets = set()
    for part in (text or "").split(","):
        if not part.strip():
            continue
        try:
            offset = parse_duration(part)
        except SpecError as exc:
            raise InputError("remind", str(exc)) from None
        if offset <= timedelta(0) or offset > MAX_OFFSET:
            raise InputError("remind", f"{part.strip()} is not between 1 second and 30 days before the meeting")
        offsets.add(int(offset.total_seconds()))
    if not offsets:
        raise InputError("remind", "give at least one time before the meeting, e.g. 24h,2h")
    return sorted(offsets, reverse=True)


def add_meeting(
    session: Session, service: Service, *, youth_id: int, worker_id: int, at: datetime, place: str,
    remind: str = DEFAULT_REMIND, include_parent: bool = False, created_by: int | None = None,
) -> Meeting:
    """A meeting with its reminders; a reminder whose time has already passed is left out, except that
    a meeting made at short notice still gets one reminder at once."""
    now = service.now()
    youth = get_person(session, person_id=youth_id)
    if youth is None or youth.role != Role.youth:
        raise InputError("youth", f"there is no youth with id {youth_id}")
    worker = get_person(session, person_id=worker_id)
    if worker is None or not worker.is_staff:
        raise InputError("worker", f"there is no worker with id {worker_id}")
    if at.tzinfo is None:
        raise InputError("at", "give the time with a date, e.g. 2026-11-25T14:00")
    if at <= now:
        raise InputError("at", f"{at.astimezone(service.settings.tz).isoformat(timespec='minutes')} has passed")
    place = " ".join((place or "").split())
    if not place or len(place) > 200:
        raise InputError("place", "give a place of 1 to 200 characters")
    offsets = parse_offsets(remind)
    meeting = Meeting(
        youth_id=youth.id, worker_id=worker.id, at=at, place=place, remind=",".join(map(str, offsets)),
        include_parent=include_parent, ask_at=at + OUTCOME_AFTER, created_by=created_by, created_at=now,
        updated_at=now,
    )
    session.add(meeting)
    session.flush()
    future = [o for o in offsets if at - timedelta(seconds=o) > now]
    for offset in future or offsets[-1:]:
        due = max(at - timedelta(seconds=offset), now)
        session.add(MeetingReminder(meeting_id=meeting.id, offset_seconds=offset, due_at=due))
    session.flush()
    return meeting


def _skip_pending(session: Session, meeting: Meeting) -> None:
    for reminder in session.exec(select(MeetingReminder).where(
        MeetingReminder.meeting_id == meeting.id, MeetingReminder.status == PENDING,
    )):
        reminder.status = SKIPPED


def _log_when(N: Lang, meeting: Meeting) -> str:
    return N._("{day} kl. {time}", day=N.date(meeting.at), time=N.time(meeting.at))


def _recipients(session: Session, meeting: Meeting, youth: Person) -> list[Person]:
    told = meeting.include_parent and consent.parents_told(session, youth.id)  # the `parents` consent
    return [youth] + (parents_of(session, youth_id=youth.id) if told else [])


def cancel_meeting(session: Session, service: Service, *, meeting_id: int, by: Person | None = None) -> Meeting:
    """The worker (or a coordinator, or the CLI) cancels: no more reminders, the youth is told, it is logged."""
    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        raise InputError("id", f"there is no meeting with id {meeting_id}")
    if meeting.status != SCHEDULED:
        raise InputError("id", f"meeting {meeting_id} is already {meeting.status}")
    now = service.now()
    meeting.status, meeting.outcome_at, meeting.updated_at = CANCELLED, now, now
    meeting.outcome_by = by.id if by else None
    _skip_pending(session, meeting)
    youth = get_person(session, person_id=meeting.youth_id)
    worker = get_person(session, person_id=meeting.worker_id)
    N = Lang("nb", service.settings.tz)
    record(session, service.settings, at=now, youth_id=youth.id, party="worker" if by else "system",
           worker_id=(by or worker).id, channel="meeting", direction="none", kind="note",
           text=N._("Møte {when}, {place}: avlyst av {name}", when=_log_when(N, meeting), place=meeting.place,
                    name=(by or worker).name))
    for person in _recipients(session, meeting, youth):
        L = lang(service, person)
        send_text(session, key=f"meetcancel:{meeting.id}:{person.id}", person=person, now=now,
                  text=L._("Møtet med {worker} {when}, {place}, er avlyst.", worker=texts.first_name(worker.name),
                           when=L.when(meeting.at, now), place=meeting.place))
    service.kick_outbox()
    return meeting


# -- reminders ------------------------------------------------------------------------------------


def reminder_text(service: Service, meeting: Meeting, person: Person, youth: Person, worker: Person,
                  channel: str, now: datetime) -> str:
    L = lang(service, person)
    values = {"name": texts.first_name(person.name), "worker": texts.first_name(worker.name),
              "when": L.when(meeting.at, now), "place": meeting.place}
    if person.id == youth.id:
        text = L._("Hei {name}! Husk møtet med {worker} {when}, {place}.", **values)
    else:
        text = L._("Hei {name}! Husk møtet mellom {youth} og {worker} {when}, {place}.",
                   youth=texts.first_name(youth.name), **values)
    if channel == "sms":
        text += "\n" + L._("Svar JA hvis du kommer, NEI hvis du må avlyse, eller FLYTT hvis du vil finne en annen tid.")
    return text


def reminder_buttons(L: Lang, meeting: Meeting) -> tuple[tuple[Button, ...], ...]:
    return (
        (Button(L._("Jeg kommer"), f"meet:{meeting.id}:yes"), Button(L._("Må avlyse"), f"meet:{meeting.id}:no")),
        (Button(L._("Kan vi flytte?"), f"meet:{meeting.id}:move"),),
    )


def _send_reminder(service: Service, session: Session, meeting: Meeting, reminder: MeetingReminder,
                   now: datetime) -> None:
    youth = get_person(session, person_id=meeting.youth_id)
    worker = get_person(session, person_id=meeting.worker_id)
    N = Lang("nb", service.settings.tz)
    for person in _recipients(session, meeting, youth):
        target = address_of(person, "telegram")
        if target is None:
            record(session, service.settings, at=now, youth_id=youth.id, party="system", worker_id=worker.id,
                   channel="meeting", direction="none", kind="reminder",
                   text=N._("Påminnelse om møte {when} kunne ikke sendes til {name}: ingen Telegram eller "
                            "telefonnummer", when=_log_when(N, meeting), name=person.name))
            continue
        channel = target[0]
        send_text(session, key=f"remind:{reminder.id}:{person.id}", person=person, channel=channel, now=now,
                  text=reminder_text(service, meeting, person, youth, worker, channel, now),
                  buttons=reminder_buttons(lang(service, person), meeting))
        record(session, service.settings, at=now, youth_id=youth.id, party="system", worker_id=worker.id,
               channel=channel, direction="out", kind="reminder",
               text=N._("Påminnelse om møte {when}, {place}, sendt til {name}", when=_log_when(N, meeting),
                        place=meeting.place, name=person.name))
    reminder.status, reminder.sent_at = REMINDED, now


def _reminder_due(now: datetime) -> tuple:
    return MeetingReminder.status == PENDING, MeetingReminder.due_at <= now


def reminders_due(now: datetime):
    """The reminders run_due_reminders would send (asked in a read first)."""
    return select(MeetingReminder.id).where(*_reminder_due(now))


def run_due_reminders(service: Service, limit: int = 100) -> int:
    """Send the reminders that are due; one the meeting has passed, or a later one covers, is logged missed."""
    now = service.now()
    N = Lang("nb", service.settings.tz)
    with service.tx() as session:
        rows = list(session.exec(
            select(MeetingReminder).where(*_reminder_due(now))
            .order_by(MeetingReminder.due_at, MeetingReminder.id).limit(limit).with_for_update(skip_locked=True)
        ))
        for reminder in rows:
            meeting = session.get(Meeting, reminder.meeting_id)
            if meeting.status != SCHEDULED or period.is_over(session, service, meeting.youth_id, now):
                reminder.status = SKIPPED
                continue
            later = session.exec(select(MeetingReminder.id).where(
                MeetingReminder.meeting_id == meeting.id, MeetingReminder.status == PENDING,
                MeetingReminder.due_at <= now, MeetingReminder.due_at > reminder.due_at,
            )).first()
            if now >= meeting.at or later is not None:
                reminder.status = MISSED
                why = N._("møtet hadde begynt") if now >= meeting.at else N._("en senere påminnelse sendes i stedet")
                record(session, service.settings, at=now, youth_id=meeting.youth_id, party="system",
                       worker_id=meeting.worker_id, channel="meeting", direction="none", kind="reminder",
                       text=N._("Påminnelse {offset} før møtet {when} ble ikke sendt i tide: tjenesten var nede, "
                                "og {why}", offset=format_duration(timedelta(seconds=reminder.offset_seconds)),
                                when=_log_when(N, meeting), why=why))
                continue
            _send_reminder(service, session, meeting, reminder, now)
    service.kick_outbox()
    return len(rows)


# -- answers from the youth or parent -------------------------------------------------------------


def answer_meeting(service: Service, session: Session, meeting: Meeting, person: Person, answer: str,
                   channel: str, source: str | None = None) -> str:
    """A youth or parent answered a reminder: record it, tell the worker, and say what happens now."""
    now = service.now()
    L = lang(service, person)
    worker = get_person(session, person_id=meeting.worker_id)
    youth = get_person(session, person_id=meeting.youth_id)
    values = {"worker": texts.first_name(worker.name), "when": L.when(meeting.at, now)}
    reply = {
        "yes": L._("Så bra! Vi sees {when}.", **values),
        "no": L._("Greit, møtet er avlyst. {worker} får beskjed.", **values),
        "move": L._("{worker} får beskjed og tar kontakt for å finne en ny tid.", **values),
    }[answer]
    others = [w for w in _told(service, session, meeting, youth, worker, now) if w.id != worker.id]
    if answer == "move" and others:
        reply = L._("{worker} er ikke på jobb nå, så {other} får beskjed med en gang og tar kontakt for å finne en "
                    "ny tid.", worker=values["worker"], other=texts.first_name(others[0].name))
    if meeting.answer == answer and meeting.answered_by == person.id:
        return reply  # the same answer again (a second press): nothing new to tell
    if meeting.status != SCHEDULED or now > meeting.at + OUTCOME_AFTER:
        return L._("Dette møtet er ikke aktuelt lenger.")
    meeting.answer, meeting.answered_by, meeting.answered_at, meeting.answer_source = answer, person.id, now, source
    meeting.updated_at = now
    N = Lang("nb", service.settings.tz)
    said = {"yes": N._("kommer"), "no": N._("må avlyse"), "move": N._("vil flytte møtet")}[answer]
    record(session, service.settings, at=now, youth_id=youth.id, party=person.role, worker_id=worker.id,
           channel=channel, direction="in", kind="reminder",
           text=N._("Svar på påminnelse om møte {when}: {answer}", when=_log_when(N, meeting), answer=said))
    if answer == "no":
        meeting.status, meeting.outcome_at, meeting.outcome_by = CANCELLED, now, person.id
        _skip_pending(session, meeting)
        record(session, service.settings, at=now, youth_id=youth.id, party=person.role, worker_id=worker.id,
               channel="meeting", direction="none", kind="note",
               text=N._("Møte {when}, {place}: avlyst av {name}", when=_log_when(N, meeting), place=meeting.place,
                        name=person.name))
    _tell_worker(service, session, meeting, person, youth, worker, answer, now)
    service.kick_outbox()
    return reply


def _told(service: Service, session: Session, meeting: Meeting, youth: Person, worker: Person,
          now: datetime) -> list[Person]:
    """Who hears an answer now: the meeting's worker when available, else also whoever a message would reach."""
    tz = service.settings.tz
    if worker_is_available(session, worker, now, tz):
        return [worker]
    responsible = route(session, youth, now, tz).responsible
    return [worker] if responsible is None or responsible.id == worker.id else [worker, responsible]


def _tell_worker(service: Service, session: Session, meeting: Meeting, person: Person, youth: Person,
                 worker: Person, answer: str, now: datetime) -> None:
    """Tell the meeting's worker, and whoever stands in for them now, what the youth or parent answered."""
    for told in _told(service, session, meeting, youth, worker, now):
        _tell_one(service, session, meeting, person, youth, worker, told, answer, now)


def _tell_one(service: Service, session: Session, meeting: Meeting, person: Person, youth: Person,
              worker: Person, told: Person, answer: str, now: datetime) -> None:
    W = lang(service, told)
    values = {"who": who(W, session, person), "when": W.when(meeting.at, now), "place": meeting.place}
    line = {
        "yes": W._("{who} kommer på møtet {when}, {place}.", **values),
        "no": W._("{who} må avlyse møtet {when}, {place}. Møtet er avlyst.", **values),
        "move": W._("{who} vil flytte møtet {when}, {place}.", **values),
    }[answer]
    conv = conversation_for(session, person_id=person.id, youth_id=youth.id)
    by_sms = told.telegram_chat_id is None
    first = texts.first_name(person.name)
    hint = W._("Svar med #{tag} foran teksten for å skrive til {name}.", tag=conv.id, name=first) if by_sms else \
        W._("Svar på denne meldingen for å skrive til {name}.", name=first)
    text = f"{line}\n{hint}"
    key = f"meetanswer:{meeting.id}:{person.id}:{answer}:{now.isoformat()}"
    if told.id != worker.id:
        # Standing in: say whose meeting it is, so the request is not taken for one of theirs.
        text = W._("Møtet er med {worker}, som ikke er på jobb nå.", worker=texts.first_name(worker.name)) + \
            f"\n{text}"
        key += f":{told.id}"
    send_text(session, key=key, person=told, channel="telegram", text=f"#{conv.id} {text}" if by_sms else text,
              now=now, conversation_id=conv.id)


def _may_answer(meeting: Meeting, person: Person) -> bool:
    return person.id == meeting.youth_id or (
        person.role == Role.parent and meeting.include_parent and person.youth_id == meeting.youth_id
    )


@action("meet")
def meet_action(service: Service, session: Session, person: Person, value: str) -> str | None:
    """The youth's or parent's buttons under a reminder: "meet:7:yes", "meet:7:no", "meet:7:move"."""
    meeting_id, _, answer = value.partition(":")
    meeting = session.get(Meeting, int(meeting_id)) if meeting_id.isdigit() else None
    if meeting is None or answer not in ANSWERS or not _may_answer(meeting, person):
        return None
    reply = answer_meeting(service, session, meeting, person, answer, "telegram")
    # The press's own answer is a toast that vanishes: what happens now also stays in the chat, once.
    send_text(session, key=f"meetok:{meeting.id}:{person.id}:{answer}", person=person, text=reply,
              now=service.now(), channel="telegram")
    return reply


YES_WORDS = {"ja", "jo", "yes", "y", "ok", "okei", "okay", "kommer", "jeg kommer", "eg kjem", "kjem", "так", "tak",
             "haa", "نعم", "👍"}
NO_WORDS = {"nei", "no", "n", "avlys", "avlyse", "må avlyse", "kan ikke", "kan ikkje", "ні", "nie", "maya", "لا"}
MOVE_WORDS = {"flytt", "flytte", "kan vi flytte", "move", "reschedule", "перенести", "przesuń", "przenieś",
              "dib u dhig"}
_PUNCT = re.compile(r"^[\s.!?,;:]+|[\s.!?,;:]+$")


def answer_in(service: Service, person: Person, text: str | None) -> str | None:
    """"JA", "nei", "flytt" (and the words of the person's language) -> yes, no, move."""
    said = _PUNCT.sub("", text or "").lower()
    if not said:
        return None
    L = lang(service, person)
    # The words the SMS reminder asks for, as translated for this person.
    for answer, words, keyword in (("yes", YES_WORDS, L._("JA")), ("no", NO_WORDS, L._("NEI")),
                                   ("move", MOVE_WORDS, L._("FLYTT"))):
        if said in words or said == keyword.lower():
            return answer
    return None


@reply_hook
def meeting_reply(service: Service, session: Session, person: Person, inc: Incoming) -> bool:
    """JA / NEI / FLYTT after a reminder answers the nearest upcoming meeting; anything else is relayed."""
    if person.role not in (Role.youth, Role.parent) or inc.media:
        return False
    answer = answer_in(service, person, inc.text)
    if answer is None:
        return False
    if session.exec(select(Meeting.id).where(Meeting.answer_source == inc.source_key)).first() is not None:
        return True  # seen before
    now = service.now()
    youth = youth_of(session, person)
    reminded = select(MeetingReminder.meeting_id).where(MeetingReminder.status == REMINDED)
    candidates = session.exec(select(Meeting).where(
        Meeting.youth_id == youth.id, Meeting.status == SCHEDULED, Meeting.at > now - OUTCOME_AFTER,
        Meeting.id.in_(reminded),
    ).order_by(Meeting.at)).all()
    meeting = next((m for m in candidates if _may_answer(m, person)), None)
    if meeting is None:
        return False
    reply = answer_meeting(service, session, meeting, person, answer, inc.channel, source=inc.source_key)
    send_text(session, key=f"meetok:{inc.source_key}", person=person, text=reply, now=now, channel=inc.channel)
    return True


# -- after the meeting ----------------------------------------------------------------------------


def outcome_buttons(W: Lang, meeting: Meeting) -> tuple[tuple[Button, ...], ...]:
    return (
        (Button(W._("Ja, gjennomført"), f"mtg:{meeting.id}:{DONE}"),),
        (Button(W._("Kom ikke"), f"mtg:{meeting.id}:{NO_SHOW}"), Button(W._("Avlyst"), f"mtg:{meeting.id}:{CANCELLED}")),
    )


def _outcome_due(now: datetime) -> tuple:
    return Meeting.status == SCHEDULED, Meeting.asked_at.is_(None), Meeting.ask_at <= now


def outcomes_due(now: datetime):
    """The meetings ask_outcomes would ask about (asked in a read first)."""
    return select(Meeting.id).where(*_outcome_due(now))


def ask_outcomes(service: Service, limit: int = 100) -> int:
    """Ask the worker, after the meeting, whether it took place."""
    now = service.now()
    with service.tx() as session:
        rows = list(session.exec(
            select(Meeting).where(*_outcome_due(now))
            .order_by(Meeting.ask_at, Meeting.id).limit(limit).with_for_update(skip_locked=True)
        ))
        for meeting in rows:
            meeting.asked_at = now
            youth = get_person(session, person_id=meeting.youth_id)
            worker = get_person(session, person_id=meeting.worker_id)
            W = lang(service, worker)
            send_text(session, key=f"meetask:{meeting.id}", person=worker, channel="telegram", now=now,
                      text=outcome_question(W, meeting, youth, now), buttons=outcome_buttons(W, meeting))
    service.kick_outbox()
    return len(rows)


def outcome_question(W: Lang, meeting: Meeting, youth: Person, now: datetime) -> str:
    return W._("Ble møtet med {name} {when}, {place}, gjennomført?", name=youth.name,
               when=W.when(meeting.at, now), place=meeting.place)


def outcome_word(L: Lang, outcome: str) -> str:
    return {DONE: L._("gjennomført"), NO_SHOW: L._("ungdommen kom ikke"), CANCELLED: L._("avlyst")}[outcome]


@action("mtg")
def outcome_action(service: Service, session: Session, person: Person, value: str) -> str | None:
    """The worker's answer after the meeting: "mtg:7:done", "mtg:7:no_show", "mtg:7:cancelled"."""
    meeting_id, _, outcome = value.partition(":")
    meeting = session.get(Meeting, int(meeting_id)) if meeting_id.isdigit() else None
    if meeting is None or outcome not in OUTCOMES or not person.is_staff:
        return None
    youth = get_person(session, person_id=meeting.youth_id)
    W = lang(service, person)
    if person.id != meeting.worker_id and not units.may_see(session, person, youth):
        return W._("Du er ikke kontaktperson for denne ungdommen.")
    if meeting.status == outcome:
        return W._("Registrert: {outcome}.", outcome=outcome_word(W, outcome))
    now = service.now()
    meeting.status, meeting.outcome_at, meeting.outcome_by, meeting.updated_at = outcome, now, person.id, now
    _skip_pending(session, meeting)
    N = Lang("nb", service.settings.tz)
    record(session, service.settings, at=now, youth_id=youth.id, party="worker", worker_id=person.id,
           channel="meeting", direction="none", kind="note",
           text=N._("Møte {when}, {place}: {outcome}", when=_log_when(N, meeting), place=meeting.place,
                    outcome=outcome_word(N, outcome)))
    asked = session.exec(select(Outbox).where(
        Outbox.key == f"meetask:{meeting.id}", Outbox.status == OUTBOX_SENT, Outbox.channel == "telegram",
        Outbox.external_id.is_not(None),
    )).first()
    if asked is not None:
        answered = W._("Registrert: {outcome}.", outcome=outcome_word(W, outcome))
        queue(session, key=f"meetasked:{meeting.id}:{outcome}:{now.isoformat()}", channel="telegram",
              address=asked.address, person_id=person.id, now=now, edit=asked.external_id,
              text=f"{outcome_question(W, meeting, youth, meeting.asked_at or now)}\n\n✅ {answered}")
    service.kick_outbox()
    return W._("Registrert: {outcome}.", outcome=outcome_word(W, outcome))
