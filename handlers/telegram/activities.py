"""`/aktivitet` on Telegram: a worker makes an activity step by step (what, when, where, who, answer by).

The draft is an `activity` row with status `draft` (so its title and place are encrypted like any other),
and the step it waits for is a small kv value; the worker's next plain message answers that step.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session
from telegram import Update
from telegram.ext import ContextTypes

from bot import activities, relay
from bot.errors import InputError
from bot.events import Incoming
from bot.i18n import Lang
from bot.service import Service
from bot.timespec import SpecError, parse_date_words, parse_time
from handlers.telegram.update import staff_command
from models import kv
from models.activities import Activity
from models.people import Person

DRAFT = "draft"
STEPS = ("title", "at", "place", "who", "by")
# A draft nobody finished within this long is forgotten: the worker's messages are ordinary again.
DRAFT_FOR = timedelta(hours=1)
STOP_WORDS = {"avbryt", "stopp", "cancel"}
NO_WORDS = {"nei", "no", "-", "ingen"}


async def activity_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """From a worker: start (or stop) a draft; from anyone else, an ordinary message."""
    await staff_command(update, context, lambda svc, session, worker, inc, args: relay.reply(
        svc, session, inc, command(svc, session, worker, args.split())))


def _key(worker: Person) -> str:
    return f"aktivitet:{worker.id}"


def _draft(service: Service, session: Session, worker: Person) -> tuple[Activity, str] | None:
    value = kv.get(session, _key(worker)) or ""
    draft_id, _, step = value.partition(":")
    step = step.split(":")[0]
    draft = session.get(Activity, int(draft_id)) if draft_id.isdigit() else None
    if draft is None or draft.status != DRAFT or step not in STEPS:
        return None
    if service.now() - draft.created_at > DRAFT_FOR:
        _forget(session, worker, draft)
        return None
    return draft, step


def _forget(session: Session, worker: Person, draft: Activity | None) -> None:
    kv.put(session, _key(worker), "")
    if draft is not None:
        session.delete(draft)


def prompt(W: Lang, step: str) -> str:
    return {
        "title": W._("Ny aktivitet. Hva skal dere gjøre? For eksempel Bowling. (/aktivitet avbryt stopper)"),
        "at": W._("Når? For eksempel 27.11 17:00."),
        "place": W._("Hvor?"),
        "who": W._("Hvem inviteres? Skriv alle for alle dine ungdommer, eller navnene skilt med komma."),
        "by": W._("Svarfrist? For eksempel 26.11 12:00, eller nei."),
    }[step]


def command(service: Service, session: Session, worker: Person, args: list[str]) -> str:
    """/aktivitet: begin a draft; /aktivitet avbryt: drop it."""
    W = relay.lang(service, worker)
    found = _draft(service, session, worker)
    if args and args[0].lower() in STOP_WORDS:
        _forget(session, worker, found[0] if found else None)
        return W._("Greit, aktiviteten er ikke lagret.")
    if found is not None:
        _forget(session, worker, found[0])
    now = service.now()
    draft = Activity(title="-", at=now, place="-", status=DRAFT, created_by=worker.id, created_at=now, updated_at=now)
    session.add(draft)
    session.flush()
    kv.put(session, _key(worker), f"{draft.id}:title")
    return prompt(W, "title")


def _when(service: Service, text: str, field: str) -> datetime:
    tz = service.settings.tz
    words = text.split()
    found = parse_date_words(words, service.now().astimezone(tz).date())
    try:
        at_time = parse_time(words[found[1]]) if found and len(words) > found[1] else None
    except SpecError:
        at_time = None
    if at_time is None:
        raise InputError(field, "no day and time")
    return datetime.combine(found[0], at_time, tzinfo=tz)


def _who(session: Session, service: Service, worker: Person, W: Lang, text: str) -> str:
    """`alle` -> the worker's youths; names (first or full) -> their ids, "3,4"."""
    mine = activities.chosen_youths(session, service, worker_id=worker.id)
    if text.strip().lower() in {"alle", "all"}:
        if not mine:
            raise InputError("who", W._("Du har ingen ungdommer å invitere."))
        return ",".join(str(y.id) for y in mine)
    ids = []
    for name in (n.strip().lower() for n in text.split(",") if n.strip()):
        match = [y for y in mine if y.name.lower() == name or y.name.split()[0].lower() == name]
        if len(match) != 1:
            raise InputError("who", W._("Fant ingen av dine ungdommer som heter {name}.", name=name))
        ids.append(str(match[0].id))
    if not ids:
        raise InputError("who", W._("Du har ingen ungdommer å invitere."))
    return ",".join(ids)


def step_or_receive(service: Service, session: Session, inc: Incoming) -> None:
    """Any message: a worker's answer to their draft's step, else what the core makes of it."""
    person = relay.identify(session, inc)
    if person is None or not person.is_staff or not step(service, session, person, inc):
        relay.receive(service, session, inc, person)


def step(service: Service, session: Session, worker: Person, inc: Incoming) -> bool:
    """The worker's plain message answers the step the draft waits for; False when there is no draft."""
    if inc.channel != "telegram" or inc.reply_to or inc.media or not (inc.text or "").strip():
        return False
    found = _draft(service, session, worker)
    if found is None:
        return False
    draft, at_step = found
    if (kv.get(session, _key(worker)) or "").endswith(f":{inc.source_key}"):
        return True  # the same message delivered again: its step is done
    W = relay.lang(service, worker)
    text = inc.text.strip()
    try:
        with session.begin_nested():
            answer = _advance(service, session, worker, W, draft, at_step, text, inc.source_key)
    except InputError as exc:
        answer = exc.message if exc.field == "who" else {
            "at": W._("Sjekk tidspunktet: det må være fram i tid, for eksempel 25.11 14:00."),
        }.get(exc.field, W._("Det gikk ikke: {problem}", problem=exc.message)) + "\n" + prompt(W, at_step)
    relay.reply(service, session, inc, answer)
    return True


def _advance(service: Service, session: Session, worker: Person, W: Lang, draft: Activity, at_step: str,
             text: str, source: str) -> str:
    now = service.now()
    if at_step == "title":
        draft.title = activities.clean(text, "title")
    elif at_step == "at":
        draft.at = _when(service, text, "at")
        if draft.at <= now:
            raise InputError("at", "has passed")
    elif at_step == "place":
        draft.place = activities.clean(text, "place")
    elif at_step == "who":
        draft.unit_id = None
        kv.put(session, f"aktivitet-who:{worker.id}", _who(session, service, worker, W, text))
    else:
        by = None if text.lower() in NO_WORDS else _when(service, text, "respond-by")
        youths = kv.get(session, f"aktivitet-who:{worker.id}") or ""
        title, at, place = draft.title, draft.at, draft.place
        activity, invited = activities.add_activity(session, service, title=title, at=at, place=place,
                                                    youths=youths, respond_by=by, created_by=worker.id)
        _forget(session, worker, draft)
        kv.put(session, f"aktivitet-who:{worker.id}", "")
        return W._("Invitasjonen til {title} er sendt. Inviterte: {n}. Du får svarene samlet.",
                   title=activity.title, n=invited)
    following = STEPS[STEPS.index(at_step) + 1]
    kv.put(session, _key(worker), f"{draft.id}:{following}:{source}")
    return prompt(W, following)
