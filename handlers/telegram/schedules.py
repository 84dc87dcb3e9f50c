"""Workers' Telegram commands for wake-ups and meetings: /vekking (/wakeup) and /mote (/meeting).

    /vekking                         the wake-ups of my youths
    /vekking Ola 06:45 man-fre sms   a new wake-up (days and channel may be left out: mon-fri, Telegram)
    /vekking stopp 3                 stop wake-up 3
    /vekking pause Ola i morgen      no wake-up for Ola that day (i dag, i morgen, 24.11, 2026-11-24)
    /mote                            my coming meetings
    /mote Ola 25.11 14:00 Kafé Sentrum +forelder    a meeting, reminded 24 h and 2 h before
    /mote avlys 7                    cancel meeting 7
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlmodel import Session, select
from telegram import Update
from telegram.ext import ContextTypes

from bot import relay, texts, units
from bot.errors import InputError
from bot.i18n import Lang
from bot.service import Service
from bot.timespec import SpecError, parse_date_words, parse_time
from handlers.telegram.update import staff_command
from models.people import Person, Role, get_person, youths_of
from models.schedules import SCHEDULED, Meeting, WakeupPlan, plans_of
from scheduling import meetings, wakeups

CHANNEL_WORDS = {"telegram": "telegram", "tg": "telegram", "sms": "sms", "ring": "call", "call": "call",
                 "telefon": "call", "oppringing": "call"}
STOP_WORDS = {"stopp", "stop", "slett"}
PAUSE_WORDS = {"pause"}
CANCEL_WORDS = {"avlys", "cancel"}
PARENT_FLAGS = {"+forelder", "+foreldre", "+foresatt", "+parent"}


async def wakeup_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _command(update, context, handle_wakeup)


async def meeting_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _command(update, context, handle_meeting)


def handle_wakeup(service: Service, session: Session, worker: Person, args: list[str]) -> str:
    """/vekking with its words: the answer for the worker."""
    return _answer(_wakeup, service, session, worker, args)


def handle_meeting(service: Service, session: Session, worker: Person, args: list[str]) -> str:
    """/mote with its words: the answer for the worker."""
    return _answer(_meeting, service, session, worker, args)


def _answer(body, service: Service, session: Session, worker: Person, args: list[str]) -> str:
    W = relay.lang(service, worker)
    try:
        with session.begin_nested():  # a refused command leaves nothing half done
            return body(service, session, worker, W, args)
    except InputError as exc:
        return _problem(W, exc)


async def _command(update: Update, context: ContextTypes.DEFAULT_TYPE, body) -> None:
    """A worker's command; from anyone else it is an ordinary message."""
    await staff_command(update, context, lambda svc, session, worker, inc, args: relay.reply(
        svc, session, inc, body(svc, session, worker, args.split())))


def _problem(W: Lang, exc: InputError) -> str:
    known = {
        "time": W._("Sjekk klokkeslettet, for eksempel 06:45."),
        "days": W._("Sjekk dagene, for eksempel man-fre, lør,søn eller daglig."),
        "channel": W._("Velg telegram, sms eller ring. SMS og oppringing trenger et telefonnummer, og SMS at "
                       "ungdommen ikke har sendt STOPP."),
        "date": W._("Sjekk datoen, for eksempel i morgen, 24.11 eller 2026-11-24."),
        "at": W._("Sjekk tidspunktet: det må være fram i tid, for eksempel 25.11 14:00."),
        "place": W._("Skriv hvor dere skal møtes etter klokkeslettet."),
    }
    if exc.field in ("youth", "id"):
        return exc.message  # said in the worker's language where it was found out
    return known.get(exc.field) or W._("Det gikk ikke: {problem}", problem=exc.message)


def _my_youths(session: Session, worker: Person) -> list[Person]:
    if worker.role in units.SEES_UNIT:
        youths = session.exec(select(Person).where(Person.role == Role.youth).order_by(Person.id))
        return [y for y in youths if units.may_see(session, worker, y)]
    return youths_of(session, worker_id=worker.id)


def _find_youth(session: Session, worker: Person, W: Lang, word: str) -> Person:
    youths = _my_youths(session, worker)
    if word.isdigit():
        found = [y for y in youths if y.id == int(word)]
    else:
        wanted = word.strip().lower()
        found = [y for y in youths if texts.first_name(y.name).lower() == wanted or y.name.lower() == wanted]
    if len(found) == 1:
        return found[0]
    if not found:
        raise InputError("youth", W._("Fant ingen av dine ungdommer som heter {name}.", name=word))
    choices = ", ".join(f"{y.name} ({y.id})" for y in found)
    raise InputError("youth", W._("Flere heter {name}: {choices}. Bruk nummeret.", name=word, choices=choices))


def _day_words(words: list[str], today: date) -> tuple[date, int] | None:
    """A day at the start of words, and how many words it took: i dag, i morgen, 24.11, 2026-11-24."""
    return parse_date_words(words, today)


# -- /vekking -------------------------------------------------------------------------------------


def _wakeup(service: Service, session: Session, worker: Person, W: Lang, args: list[str]) -> str:
    if not args:
        return _list_wakeups(session, worker, W)
    head = args[0].lower()
    if head in STOP_WORDS:
        return _stop_wakeup(service, session, worker, W, args[1:])
    if head in PAUSE_WORDS:
        return _pause_wakeup(service, session, worker, W, args[1:])
    if len(args) < 2:
        return _wakeup_usage(W)
    youth = _find_youth(session, worker, W, args[0])
    days, channel = "mon-fri", "telegram"
    for word in args[2:]:
        if word.lower() in CHANNEL_WORDS:
            channel = CHANNEL_WORDS[word.lower()]
        else:
            days = word
    plan = wakeups.add_plan(session, service, youth_id=youth.id, at=args[1], days=days, channel=channel,
                            created_by=worker.id)
    return W._("Vekking {id} lagt inn: {name} kl. {time} {days} på {channel}.", id=plan.id, name=youth.name,
               time=plan.time_of_day[:5] if plan.time_of_day.endswith(":00") else plan.time_of_day,
               days=plan.days, channel=wakeups.channel_name(W, plan.channel))


def _wakeup_usage(W: Lang) -> str:
    return W._("Slik legger du inn vekking: /vekking Ola 06:45 man-fre (kanal til slutt: telegram, sms eller "
               "ring).\nStopp: /vekking stopp NR\nPause en dag: /vekking pause Ola i morgen")


def _list_wakeups(session: Session, worker: Person, W: Lang) -> str:
    youths = {y.id: y for y in _my_youths(session, worker)}
    plans = plans_of(session, youth_ids=list(youths))
    if not plans:
        return W._("Ingen vekkinger ennå.") + "\n\n" + _wakeup_usage(W)
    lines = [f"#{p.id} {youths[p.youth_id].name} {p.time_of_day[:5]} {p.days} "
             f"({wakeups.channel_name(W, p.channel)})" for p in plans]
    return W._("Vekkinger:") + "\n" + "\n".join(lines)


def _own_plan(session: Session, worker: Person, W: Lang, words: list[str]) -> WakeupPlan:
    number = words[0].lstrip("#") if words else ""
    plan = session.get(WakeupPlan, int(number)) if number.isdigit() else None
    if plan is None or plan.youth_id not in {y.id for y in _my_youths(session, worker)}:
        raise InputError("id", W._("Fant ingen vekking med det nummeret. /vekking viser dine."))
    return plan


def _stop_wakeup(service: Service, session: Session, worker: Person, W: Lang, words: list[str]) -> str:
    plan = _own_plan(session, worker, W, words)
    wakeups.stop_plan(session, service, plan_id=plan.id)
    return W._("Vekking {id} er stoppet.", id=plan.id)


def _pause_wakeup(service: Service, session: Session, worker: Person, W: Lang, words: list[str]) -> str:
    if not words:
        return _wakeup_usage(W)
    youth = _find_youth(session, worker, W, words[0])
    today = service.now().astimezone(service.settings.tz).date()
    found = _day_words(words[1:], today) if len(words) > 1 else (today + timedelta(days=1), 0)
    if found is None:
        raise InputError("date", "not a day")
    day = found[0]
    wakeups.pause_day(session, service, youth_id=youth.id, day=day, created_by=worker.id)
    return W._("Ingen vekking for {name} {day}.", name=youth.name, day=W.date(_noon(day, W)))


def _noon(day: date, W: Lang) -> datetime:
    return datetime.combine(day, datetime.min.time().replace(hour=12), tzinfo=W.tz)


# -- /mote ----------------------------------------------------------------------------------------


def _meeting(service: Service, session: Session, worker: Person, W: Lang, args: list[str]) -> str:
    if not args:
        return _list_meetings(service, session, worker, W)
    if args[0].lower() in CANCEL_WORDS:
        return _cancel_meeting(service, session, worker, W, args[1:])
    if len(args) < 4:
        return _meeting_usage(W)
    youth = _find_youth(session, worker, W, args[0])
    tz = service.settings.tz
    today = service.now().astimezone(tz).date()
    found = _day_words(args[1:], today)
    if found is None:
        raise InputError("at", "no day")
    day, used = found
    rest = args[1 + used:]
    try:
        at_time = parse_time(rest[0]) if rest else None
    except SpecError:
        at_time = None
    if at_time is None:
        raise InputError("at", "no time")
    words = rest[1:]
    include_parent = any(w.lower() in PARENT_FLAGS for w in words)
    place = " ".join(w for w in words if w.lower() not in PARENT_FLAGS)
    meeting = meetings.add_meeting(session, service, youth_id=youth.id, worker_id=worker.id,
                                   at=datetime.combine(day, at_time, tzinfo=tz), place=place,
                                   include_parent=include_parent, created_by=worker.id)
    offsets = ", ".join(W.duration(timedelta(seconds=int(s))) for s in meeting.remind.split(","))
    text = W._("Møte {id} lagt inn: {name} {when}, {place}. Påminnelse {offsets} før.", id=meeting.id,
               name=youth.name, when=W.when(meeting.at, service.now()), place=meeting.place, offsets=offsets)
    if include_parent:
        text += " " + W._("Foreldrene får påminnelsen også.")
    return text


def _meeting_usage(W: Lang) -> str:
    return W._("Slik legger du inn et møte: /mote Ola 25.11 14:00 Kafé Sentrum (skriv +forelder til slutt for å "
               "minne foreldrene også).\nAvlys: /mote avlys NR")


def _list_meetings(service: Service, session: Session, worker: Person, W: Lang) -> str:
    youths = {y.id: y for y in _my_youths(session, worker)}
    now = service.now()
    rows = session.exec(select(Meeting).where(
        Meeting.youth_id.in_(list(youths)), Meeting.status == SCHEDULED, Meeting.at > now,
    ).order_by(Meeting.at)).all()
    if not rows:
        return W._("Ingen møter framover.") + "\n\n" + _meeting_usage(W)
    lines = [f"#{m.id} {youths[m.youth_id].name} {W.when(m.at, now)}, {m.place}" for m in rows]
    return W._("Møter:") + "\n" + "\n".join(lines)


def _cancel_meeting(service: Service, session: Session, worker: Person, W: Lang, words: list[str]) -> str:
    number = words[0].lstrip("#") if words else ""
    meeting = session.get(Meeting, int(number)) if number.isdigit() else None
    if meeting is None or meeting.youth_id not in {y.id for y in _my_youths(session, worker)}:
        raise InputError("id", W._("Fant ikke møtet. /mote viser dine møter."))
    if meeting.status != SCHEDULED:
        raise InputError("id", W._("Møtet er allerede avsluttet eller avlyst."))
    meetings.cancel_meeting(session, service, meeting_id=meeting.id, by=worker)
    youth = get_person(session, person_id=meeting.youth_id)
    return W._("Møte {id} er avlyst, og {name} har fått beskjed.", id=meeting.id, name=texts.first_name(youth.name))
